"""Judge configs and campaign pages (staff only)."""

from django.urls import path

from judges import views

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
]
