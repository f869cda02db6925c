"""The REST API (django-ninja): OpenAPI schema at /api/openapi.json, interactive docs at /api/docs.

Every error is a JSON body `{"error": "...", "field": ...}` with a 4xx status; see `errors.py`.
"""

from ninja import NinjaAPI

from arena.api.auth import OptionalTokenAuth
from arena.api.errors import install_error_handlers
from arena.api.submissions import router as submissions_router
from arena.api.tokens import router as tokens_router


class ArenaAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        """Operations with OptionalTokenAuth take the token or nothing: say so (`[{TokenAuth: []}, {}]`)."""
        schema = super().get_openapi_schema(*args, **kwargs)
        optional = OptionalTokenAuth.__name__
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                if isinstance(operation, dict) and {optional: []} in operation.get("security", []):
                    operation["security"] = [{"TokenAuth": []}, {}]
        schema.get("components", {}).get("securitySchemes", {}).pop(optional, None)
        return schema


api = ArenaAPI(
    title="LLM Arena API",
    version="1",
    description="Submit contenders and outputs, read leaderboards, run judge campaigns. "
    "Authenticate with `Authorization: Bearer <token>` (create tokens at /me/tokens/ or POST /api/me/tokens).",
    urls_namespace="api",
)
install_error_handlers(api)
api.add_router("/", submissions_router)
api.add_router("/", tokens_router)
