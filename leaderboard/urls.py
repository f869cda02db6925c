"""Public leaderboard pages (issue #3); the read API is `leaderboard.api` under /api/leaderboard/."""

from django.urls import path

from leaderboard import views

app_name = "leaderboard"
urlpatterns = [
    path("", views.index, name="index"),
    path("export.csv", views.export_csv, name="export-csv"),
    path("export.json", views.export_json, name="export-json"),
    path("battles/export/", views.battles_export, name="battles-export"),
    path("recompute/", views.recompute, name="recompute"),
    path("compare/", views.compare, name="compare"),
    path("contenders/<slug:slug>/", views.contender, name="contender"),
]
