"""A second URLconf for tests: the voting URLs mounted under `other/` as well, to show that what is kept per
URLconf (reversed URL shapes, the served fragment's pieces) follows an overridden ROOT_URLCONF."""

from django.urls import include, path

urlpatterns = [
    path("other/", include("arena.voting.urls")),
    path("", include("arena.urls")),
]
