"""Judge configs and campaign pages (staff only); the judges' report pages (public)."""

from django.urls import path

from judges import views
from judges.report import views as report_views

app_name = "judges"
urlpatterns = [
    path("", views.campaign_list, name="campaign-list"),
    path("campaigns/new/", views.campaign_new, name="campaign-new"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign-detail"),
    *[
        path(
            f"campaigns/<int:pk>/{action}/",
            views.campaign_action,
            {"action": action},
            name=f"campaign-{action}",
        )
        for action in views.ACTIONS
    ],
    path("configs/", views.config_list, name="config-list"),
    path("configs/new/", views.config_new, name="config-new"),
    path("configs/<slug:slug>/", views.config_edit, name="config-edit"),
    # Public: the judges' report cards (judging the judges).
    path("report/", report_views.overview, name="report"),
    path("report/export.csv", report_views.export_csv, name="report-export-csv"),
    path("report/export.json", report_views.export_json, name="report-export-json"),
    path("report/battles/<int:pk>/", report_views.battle, name="report-battle"),
    path("report/<slug:key>/", report_views.detail, name="report-detail"),
]
