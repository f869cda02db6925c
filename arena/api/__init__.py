"""The REST API (django-ninja): OpenAPI schema at /api/openapi.json, interactive docs at /api/docs.

Every error is a JSON body `{"error": "...", "field": ...}` with a 4xx status; see `errors.py`.
"""

from ninja import NinjaAPI

from arena.api.errors import install_error_handlers
from arena.api.submissions import router as submissions_router

api = NinjaAPI(
    title="LLM Arena API",
    version="1",
    description="Submit contenders and outputs, read leaderboards, run judge campaigns. "
    "Authenticate with `Authorization: Bearer <token>` (create tokens at /me/tokens/).",
    urls_namespace="api",
)
install_error_handlers(api)
api.add_router("/", submissions_router)
