"""Human annotation pages (issue #5). Battles are addressed by opaque assignment tokens, never by ids."""

from django.urls import path

from arena.voting import views

app_name = "voting"
urlpatterns = [
    path("vote/", views.vote, name="vote"),
    path("vote/staff/", views.staff, name="staff"),
    path("vote/staff/annotators/<int:pk>/exclusion/", views.staff_exclusion, name="staff-exclusion"),
    path("vote/b/<str:token>/", views.submit, name="submit"),
    path("vote/b/<str:token>/skip/", views.skip, name="skip"),
    path("vote/b/<str:token>/undo/", views.undo, name="undo"),
    path("vote/t/<slug:slug>/", views.task, name="task"),
    path("vote/t/<slug:slug>/progress/", views.progress, name="progress"),
]
