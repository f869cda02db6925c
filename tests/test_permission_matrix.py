"""Who may do what, for every route there is: generated from the URL conf and from /api/openapi.json.

Every page route (`django.urls` resolvers walked recursively) is requested with GET and POST, and every API
operation with its own method, as five people: anonymous, an annotator, a submitter, another submitter, and
staff. Path parameters are filled with real objects (the submitter's pending contender, an open task's
served battle, a campaign, ...). For each request the test asserts no 5xx, and what the route's rule says:

- public      everyone gets the page;
- signed_in   anonymous is refused (login redirect, 401), everyone signed in gets it;
- owner       the submitter (owner) and staff get it; the other submitter, the annotator and anonymous are
              refused (403/404: a pending contender's existence is not revealed);
- assignee    only the annotator the battle was served to gets it;
- staff       only staff get it;
- admin       only staff get past it (Django admin; staff may still meet the admin's own 403/404, e.g. the
              add page of a read-only model);
- any         no rule beyond "no 5xx" (sign-in, sign-out, password reset, redirects).

A route missing from RULES fails the test, so a new route cannot go unchecked; only Django admin routes have a
default (staff), which is checked like any other rule. The API is compared with the URL conf both ways.
"""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from arena.models import ApiToken
from tests.support import factories

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "annotator", "submitter", "other_submitter", "staff")
ALLOWED = {
    "public": set(ROLES),
    "signed_in": set(ROLES) - {"anonymous"},
    "owner": {"submitter", "staff"},
    "self": {"submitter"},  # one's own API tokens: not even staff revoke them
    "assignee": {"annotator"},
    "staff": {"staff"},
    "admin": {"staff"},
    "any": None,
}
LENIENT_FOR_ALLOWED = {"admin"}

# Page routes by name (namespace:name), or by pattern for unnamed ones.
RULES = {
    "healthz": "public",
    "arena:home": "public",
    "arena:contender-list": "public",
    "arena:contender-create": "signed_in",
    "arena:contender-detail": "owner",  # filled with the submitter's pending contender
    "arena:contender-upload": "owner",
    "arena:contender-outputs-export": "owner",  # the submitter's pending contender
    "arena:my-contenders": "signed_in",
    "arena:api-tokens": "signed_in",
    "arena:api-token-revoke": "self",  # filled with a spare token of the submitter
    "voting:vote": "public",  # lists the open tasks, or redirects to the only one
    "voting:staff": "staff",
    "voting:staff-exclusion": "staff",
    "voting:submit": "assignee",
    "voting:skip": "assignee",
    "voting:undo": "assignee",
    "voting:progress": "signed_in",
    "voting:task": "signed_in",
    "live:page": "public",  # the prompt box, or a sign-in link for anonymous visitors
    "live:start": "signed_in",
    # Filled with a live battle the annotator started: only its owner sees, streams, continues or votes on it.
    "live:battle": "assignee",
    "live:stream": "assignee",
    "live:turn": "assignee",
    "live:regenerate": "assignee",
    "live:vote": "assignee",
    "leaderboard:index": "public",
    "leaderboard:export-csv": "public",
    "leaderboard:export-json": "public",
    "leaderboard:recompute": "staff",
    "leaderboard:compare": "public",
    "leaderboard:contender": "public",  # filled with an approved contender
    "leaderboard:battles-export": "public",
    "leaderboard:about": "public",
    "leaderboard:recompute-status": "public",  # the status box polls it; it says only how far a run is
    "arena:prompt-set-list": "public",
    "arena:prompt-set-detail": "public",
    "arena:prompt-set-prompts": "public",
    "arena:prompt-set-outputs-template": "public",
    "judges:campaign-list": "staff",
    "judges:campaign-new": "staff",
    "judges:campaign-detail": "staff",
    "judges:campaign-pause": "staff",
    "judges:campaign-resume": "staff",
    "judges:campaign-cancel": "staff",
    "judges:config-list": "staff",
    "judges:config-new": "staff",
    "judges:config-edit": "staff",
    "judges:report": "public",
    "judges:report-export-csv": "public",
    "judges:report-export-json": "public",
    "judges:report-battle": "public",
    "judges:report-detail": "public",
    "signup": "any",
    "login": "any",
    "logout": "any",
    "password_change": "signed_in",
    "password_change_done": "signed_in",
    "password_reset": "any",
    "password_reset_done": "any",
    "password_reset_confirm": "any",
    "password_reset_complete": "any",
    "verify-email": "signed_in",
    "verify-email-confirm": "any",  # a signed link: a bad one is a 400 page for everyone
    "admin:login": "any",
    "admin:logout": "any",
    # Django's admin answers `<model>/<id>/` with a redirect to `<model>/<id>/change/` for anyone; the
    # target is staff-only (checked under its own name).
    "admin:<path:object_id>/": "any",
}
ADMIN_DEFAULT = "admin"
# A valid vote, so the request gets past reading the ballot to the check of whose battle it is.
POST_DATA = {"voting:submit": {"overall": "left"}}

# API operations, "METHOD /api/path" as in the OpenAPI document.
API_RULES = {
    "GET /api/contenders": "public",
    "POST /api/contenders": "signed_in",
    "GET /api/me/contenders": "signed_in",
    # Public and anonymous (pending contenders are 404 for everyone there): filled with an approved one.
    "GET /api/contenders/{slug}": "public",
    "POST /api/contenders/{slug}/outputs": "owner",
    "GET /api/contenders/{slug}/outputs": "owner",  # the submitter's pending contender
    "GET /api/leaderboard/battles": "public",
    "GET /api/judge-reports/": "public",
    "GET /api/judge-reports/{key}": "public",
    "GET /api/prompt-sets": "public",
    "GET /api/prompt-sets/{slug}/prompts": "public",
    "GET /api/leaderboard/": "public",
    "GET /api/leaderboard/options": "public",
    "GET /api/leaderboard/judges-vs-people": "public",
    "GET /api/leaderboard/contenders/{slug}": "public",
    "GET /api/leaderboard/compare": "public",
    "POST /api/leaderboard/recompute": "staff",
    "GET /api/me/tokens": "signed_in",
    "POST /api/me/tokens": "signed_in",
    "POST /api/me/tokens/{token_id}/revoke": "self",  # a spare token of the submitter
    "GET /api/judges/configs": "staff",
    "POST /api/judges/campaigns/estimate": "staff",
    "POST /api/judges/campaigns": "staff",
    "GET /api/judges/campaigns": "staff",
    "GET /api/judges/campaigns/{campaign_id}": "staff",
    "POST /api/judges/campaigns/{campaign_id}/pause": "staff",
    "POST /api/judges/campaigns/{campaign_id}/resume": "staff",
    "POST /api/judges/campaigns/{campaign_id}/cancel": "staff",
}
API_SCHEMA_ROUTES = {"api:openapi-json", "api:openapi-view", "api:api-root"}  # the API's own documents


def _refused(response) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    location = response.get("Location", "")
    return response.status_code in (301, 302) and "login" in location


def _page_routes() -> list[tuple[str, str, object]]:
    """(rule key, path template, pattern) for every route of the URL conf, admin included."""
    found = []

    def walk(resolver, prefix: str, namespace: str | None) -> None:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                ns = entry.namespace or namespace
                walk(entry, prefix + str(entry.pattern), ns)
                continue
            assert isinstance(entry, URLPattern)
            template = prefix + str(entry.pattern)
            name = entry.name and (f"{namespace}:{entry.name}" if namespace else entry.name)
            key = name or f"{namespace}:{entry.pattern}"
            found.append((key, template, entry))

    walk(get_resolver(), "/", None)
    return found


@pytest.fixture
def world(db, settings):
    from arena.voting.identity import annotator_for
    from judges.services.campaigns import CampaignSpec, campaign_start
    from tests.judges.conftest import make_judge

    factories.fresh_rate_limits(settings)
    people = {
        "annotator": factories.make_annotator_user("annie"),
        "submitter": factories.make_user("sub"),
        "other_submitter": factories.make_user("other-sub"),
        "staff": factories.make_user("boss", is_staff=True, is_superuser=True),
    }
    task, contenders = factories.make_voting_arena(n_contenders=3, n_prompts=3)
    pending = factories.make_contender("sub-pending", status="pending", user=people["submitter"])
    assignment = factories.serve_to(task, people["annotator"])
    annotator = annotator_for(factories.voter_of(people["annotator"]))
    judge_source = make_judge("lex", provider="lexical", model="token_f1", sees_reference=True).source.key
    spec = CampaignSpec(
        contenders=[c.slug for c in contenders], prompt_set=task.prompt_set.slug, judges=["lex"]
    )
    campaign = campaign_start(spec=spec, enqueue=False)
    spare_token, _ = ApiToken.issue(user=people["submitter"], name="spare")  # revoked by the matrix
    live_token = _live_battle_of(people["annotator"], contenders)
    values = {
        "slug": pending.slug,
        "token": assignment.token,
        "pk": campaign.pk,
        "uidb64": "MQ",
        "id": people["staff"].pk,
        "object_id": people["staff"].pk,
        "content_type_id": "1",
    }
    by_route = {
        "voting:task": {"slug": task.slug},
        "voting:progress": {"slug": task.slug},
        "voting:staff-exclusion": {"pk": annotator.pk},
        "leaderboard:contender": {"slug": contenders[0].slug},
        "judges:config-edit": {"slug": "lex"},
        "judges:report-battle": {"pk": assignment.battle_id},
        "judges:report-detail": {"key": judge_source},
        "arena:api-token-revoke": {"pk": spare_token.pk},
        "arena:prompt-set-detail": {"slug": task.prompt_set.slug},
        "arena:prompt-set-prompts": {"slug": task.prompt_set.slug},
        "arena:prompt-set-outputs-template": {"slug": task.prompt_set.slug},
        **{f"live:{name}": {"token": live_token} for name in LIVE_BATTLE_ROUTES},
    }
    api_values = {
        "/api/leaderboard/contenders/{slug}": {"slug": contenders[0].slug},
        "/api/contenders/{slug}": {"slug": contenders[0].slug},
        "/api/judge-reports/{key}": {"key": judge_source},
        "/api/me/tokens/{token_id}/revoke": {"token_id": spare_token.pk},
        "/api/prompt-sets/{slug}/prompts": {"slug": task.prompt_set.slug},
    }
    campaign_body = {
        "contenders": [c.slug for c in contenders],
        "prompt_set": task.prompt_set.slug,
        "judges": ["lex"],
    }
    return {
        "people": people,
        "values": values,
        "by_route": by_route,
        "api_values": api_values,
        "campaign_id": campaign.pk,
        "campaign_body": campaign_body,
        "prompt_set": task.prompt_set.slug,
    }


LIVE_BATTLE_ROUTES = ("battle", "stream", "turn", "regenerate", "vote")


def _live_battle_of(user, contenders) -> str:
    """A live battle the annotator started, answered and open for a vote: its token."""
    from live.models import LiveBattle

    battle = LiveBattle.objects.create(
        token="live-matrix-token", voter_key=factories.voter_of(user).key, user=user,
        contender_a=contenders[0], contender_b=contenders[1], left_is_a=True, turns=["Hi"],
        replies_a=["Hello"], replies_b=["Hey"], state=LiveBattle.State.READY,
    )  # fmt: skip
    return battle.token


def _clients(world) -> dict[str, Client]:
    clients = {"anonymous": Client()}
    for role, user in world["people"].items():
        clients[role] = Client()
        clients[role].force_login(user)
    return clients


def _fill(template: str, values: dict) -> str:
    if template.startswith("/admin/^") or "(?P<" in template:
        return re.sub(r"\^\(\?P<app_label>[^)]*\)/\$", "arena/", template).replace(
            "(?P<url>.*)$", "no-such-page/"
        )
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), template)


def _check(rule: str, role: str, response, what: str, problems: list[str]) -> None:
    if response.status_code >= 500:
        problems.append(f"{what} as {role}: {response.status_code}")
        return
    allowed = ALLOWED[rule]
    if allowed is None:
        return
    refused = _refused(response)
    if role in allowed and refused and rule not in LENIENT_FOR_ALLOWED:
        problems.append(f"{what} as {role}: refused ({response.status_code}) but the rule is {rule!r}")
    # 405 (a method the route does not take) answers before anything is looked up: it refuses too.
    if role not in allowed and not refused and response.status_code != 405:
        problems.append(f"{what} as {role}: answered {response.status_code} but the rule is {rule!r}")


def test_every_page_route_has_a_rule_and_keeps_it_for_every_role(world):
    routes = [(key, template, entry) for key, template, entry in _page_routes() if not key.startswith("api:")]
    missing = [key for key, _, _ in routes if key not in RULES and not key.startswith("admin:")]
    assert not missing, f"routes without an entry in RULES (add one): {missing}"
    clients, problems, checked = _clients(world), [], 0
    for key, template, _ in routes:
        rule = RULES.get(key, ADMIN_DEFAULT)
        path = _fill(template, {**world["values"], **world["by_route"].get(key, {})})
        methods = ("get",) if key.startswith("admin:") else ("get", "post")
        for role in ROLES:
            for method in methods:
                data = POST_DATA.get(key, {}) if method == "post" else {}
                response = getattr(clients[role], method)(path, data)
                _check(rule, role, response, f"{method.upper()} {path}", problems)
                checked += 1
                if key == "logout":  # signing out ends the session the next requests need
                    clients = _clients(world)
    print(f"\npermission matrix: {len(routes)} page routes, {checked} requests, {len(problems)} problems")
    assert not problems, "\n".join(problems)


def test_every_api_operation_has_a_rule_and_keeps_it_for_every_role(world, client):
    schema = client.get("/api/openapi.json").json()
    operations = [
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method != "parameters"
    ]
    keys = {f"{method} {path}" for method, path in operations}
    assert not keys - API_RULES.keys(), (
        f"API operations without an entry in API_RULES: {keys - API_RULES.keys()}"
    )
    assert not API_RULES.keys() - keys, (
        f"API_RULES entries for operations that no longer exist: {API_RULES.keys() - keys}"
    )
    # The URL conf's API routes are exactly the documented ones: nothing served that the schema leaves out.
    documented = {re.sub(r"\{(\w+)\}", r"<\1>", path) for _, path in operations}
    served = {
        template
        for key, template, _ in _page_routes()
        if key.startswith("api:") and key not in API_SCHEMA_ROUTES
    }
    assert served == documented

    tokens = {role: ApiToken.issue(user=user, name="matrix")[1] for role, user in world["people"].items()}
    problems = []
    for method, path in operations:
        rule = API_RULES[f"{method} {path}"]
        values = {**world["values"], "campaign_id": world["campaign_id"], **world["api_values"].get(path, {})}
        url = re.sub(r"\{(\w+)\}", lambda m, values=values: str(values[m.group(1)]), path)
        for role in ROLES:
            headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens[role]}"} if role in tokens else {}
            if method == "GET":
                response = Client().get(url, **headers)
            elif path.endswith("/outputs"):  # multipart, as the operation reads it
                upload = SimpleUploadedFile("outputs.jsonl", b'{"prompt_id": "p1", "output": "hi"}\n')
                response = Client().post(url, {"file": upload, "prompt_set": world["prompt_set"]}, **headers)
            elif path in ("/api/judges/campaigns", "/api/judges/campaigns/estimate"):
                body = json.dumps(world["campaign_body"])
                response = Client().post(url, body, content_type="application/json", **headers)
            else:
                response = Client().generic(method, url, "{}", content_type="application/json", **headers)
            _check(rule, role, response, f"{method} {url}", problems)
    print(f"\npermission matrix: {len(operations)} API operations, {len(operations) * len(ROLES)} requests")
    assert not problems, "\n".join(problems)
