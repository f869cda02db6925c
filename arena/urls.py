"""Project URLs: the arena's pages, auth, admin, the REST API, and the other apps' pages."""

from django.contrib import admin
from django.urls import include, path

from arena import account_views, prompt_set_views, views
from arena.api import api
from judges.api import router as judges_router
from judges.report.api import router as judge_reports_router
from leaderboard.api import router as leaderboard_router

# The project package wires the apps together; the arena domain itself knows nothing of judges or ratings.
api.add_router("/leaderboard/", leaderboard_router)
api.add_router("/judges/", judges_router)
api.add_router("/judge-reports/", judge_reports_router)

arena_patterns = [
    path("", views.home, name="home"),
    path("contenders/", views.contender_list, name="contender-list"),
    path("contenders/new/", views.contender_create, name="contender-create"),
    path("contenders/<slug:slug>/", views.contender_detail, name="contender-detail"),
    path("contenders/<slug:slug>/upload/", views.contender_upload, name="contender-upload"),
    path(
        "contenders/<slug:slug>/outputs/export/",
        views.contender_outputs_export,
        name="contender-outputs-export",
    ),
    path("me/contenders/", views.my_contenders, name="my-contenders"),
    path("prompt-sets/", prompt_set_views.prompt_set_list, name="prompt-set-list"),
    path("prompt-sets/<slug:slug>/", prompt_set_views.prompt_set_detail, name="prompt-set-detail"),
    path(
        "prompt-sets/<slug:slug>/prompts.jsonl",
        prompt_set_views.prompt_set_prompts,
        name="prompt-set-prompts",
    ),
    path(
        "prompt-sets/<slug:slug>/outputs-template.jsonl",
        prompt_set_views.prompt_set_outputs_template,
        name="prompt-set-outputs-template",
    ),
    path("me/tokens/", views.api_tokens, name="api-tokens"),
    path("me/tokens/<int:pk>/revoke/", views.api_token_revoke, name="api-token-revoke"),
]

handler500 = "arena.unavailable.server_error"

urlpatterns = [
    path("", include((arena_patterns, "arena"))),
    path("", include("arena.voting.urls")),
    path("arena/", include("live.urls")),
    path("leaderboard/", include("leaderboard.urls")),
    path("judges/", include("judges.urls")),
    path("accounts/signup/", account_views.signup, name="signup"),
    path("accounts/password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/login/", account_views.SignInView.as_view(), name="login"),
    path("accounts/verify-email/", account_views.verify_email, name="verify-email"),
    path(
        "accounts/verify-email/<str:token>/", account_views.verify_email_confirm, name="verify-email-confirm"
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("api/", api.urls),
]
