"""Live battles (/arena/). Battles are addressed by opaque tokens, never by ids nor contender names."""

from django.urls import path

from live import views

app_name = "live"
urlpatterns = [
    path("", views.page, name="page"),
    path("start/", views.start, name="start"),
    path("b/<str:token>/", views.battle, name="battle"),
    path("b/<str:token>/stream/", views.stream, name="stream"),
    path("b/<str:token>/turn/", views.turn, name="turn"),
    path("b/<str:token>/regenerate/", views.regenerate, name="regenerate"),
    path("b/<str:token>/vote/", views.vote, name="vote"),
]
