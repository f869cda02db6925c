"""Endpoints and keys: submitters give a URL and a model only; staff pick the key from an allow-list; every
outbound URL is checked (DNS resolved, no private addresses) when saved and again when called; redirects are
not followed. The suite runs with ARENA_ALLOW_PRIVATE_ENDPOINTS=1 (the loopback stub); these tests turn it off.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.apps import apps

from arena.admin import ContenderAdminForm
from arena.errors import Invalid
from arena.models import ApiToken, Contender
from arena.services.contenders import contender_endpoint_key_set
from arena.services.endpoints import address_refusal, endpoint_url_check
from judges.models import Campaign, Generation
from judges.services.generation import generation_run, generation_start
from tests.judges.conftest import KEY_ENV, SECRET, make_arena
from tests.support import factories
from tests.support.openai_stub import OpenAIStub

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_private(settings):
    settings.ARENA_ALLOW_PRIVATE_ENDPOINTS = False
    return settings


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    return KEY_ENV


@pytest.fixture
def auth(alice):
    _, token = ApiToken.issue(user=alice, name="t")
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
    ],
)
def test_addresses_are_classified(address, kind):
    assert address_refusal(address) == kind


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://127.0.0.1:6379/v1", "127.0.0.1, a loopback address"),
        ("http://localhost:5432/v1", "a loopback address"),  # resolved by DNS, not matched by name
        ("http://169.254.169.254/latest/meta-data", "a link-local address"),
        ("http://10.0.0.5/v1", "a private address"),
        ("http://[::1]:8000/v1", "a loopback address"),
        ("http://no-such-host.invalid/v1", "does not resolve"),
        ("file:///etc/passwd", "is not an http(s) URL"),
        ("ftp://example.org/v1", "is not an http(s) URL"),
        ("http://example.com:99999/v1", "port out of range"),
    ],
)
def test_the_api_refuses_endpoints_the_arena_must_not_call(client, auth, no_private, url, fragment):
    payload = {"slug": "ssrf", "name": "SSRF", "endpoint_url": url, "endpoint_model": "m"}
    response = client.post("/api/contenders", payload, content_type="application/json", headers=auth)
    assert response.status_code == 400
    assert fragment in response.json()["error"] and response.json()["field"] == "endpoint_url"
    assert not Contender.objects.exists()


@pytest.mark.parametrize(
    ("allow_private", "url", "fragment"),
    [
        (False, "http://169.254.169.254/v1", "169.254.169.254, a link-local address"),
        # A port past 65535 is bad input wherever private endpoints are allowed too (it was a 500).
        (True, "http://example.com:99999/v1", "port out of range"),
    ],
)
def test_the_page_refuses_a_bad_endpoint_with_the_reason(
    alice_client, settings, allow_private, url, fragment
):
    settings.ARENA_ALLOW_PRIVATE_ENDPOINTS = allow_private
    form = {"slug": "ssrf", "name": "SSRF", "endpoint_url": url, "endpoint_model": "m"}
    response = alice_client.post("/contenders/new/", form)
    assert response.status_code == 400
    assert fragment in response.content.decode()
    assert not Contender.objects.exists()


def test_a_public_endpoint_is_accepted_when_it_resolves_publicly(no_private, monkeypatch):
    # No network in tests: the resolver answers with a public address, as a public DNS name would.
    monkeypatch.setattr("socket.getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("93.184.216.34", 443))])
    endpoint_url_check("https://llm.example.org/v1")


@pytest.mark.parametrize("field", ["endpoint_api_key_env", "endpoint_api_key_file", "api_key"])
def test_submitters_cannot_name_a_key_on_the_page(alice_client, field):
    form = {"slug": "keyed", "name": "Keyed", "endpoint_url": "http://127.0.0.1:9/v1", field: "SECRET_KEY"}
    response = alice_client.post("/contenders/new/", form)
    assert response.status_code == 400
    assert f"{field} cannot be set here" in response.content.decode()
    assert not Contender.objects.exists()


@pytest.mark.parametrize("field", ["endpoint_api_key_env", "endpoint_api_key_file"])
def test_submitters_cannot_name_a_key_or_file_in_the_api(client, auth, field):
    payload = {"slug": "keyed", "name": "Keyed", field: "/run/secrets/db"}
    response = client.post("/api/contenders", payload, content_type="application/json", headers=auth)
    assert response.status_code == 422
    assert f"{field} cannot be set" in response.json()["error"]
    assert not Contender.objects.exists()


def test_the_registration_form_has_no_key_field(alice_client):
    html = alice_client.get("/contenders/new/").content.decode()
    assert "endpoint_url" in html and "api_key" not in html


def test_staff_pick_the_key_from_the_allow_list_only(settings):
    settings.ARENA_ENDPOINT_KEY_NAMES = ["VLLM_KEY"]
    contender = factories.make_contender("keyed", endpoint_url="http://127.0.0.1:9/v1", endpoint_model="m")
    with pytest.raises(Invalid, match="'SECRET_KEY' is not an allowed endpoint key name"):
        contender_endpoint_key_set(contender=contender, key_name="SECRET_KEY")
    assert Contender.objects.get(pk=contender.pk).endpoint_api_key_env == ""
    assert contender_endpoint_key_set(contender=contender, key_name="VLLM_KEY") is True

    data = {"slug": "keyed", "name": "Keyed", "status": "approved", "endpoint_url": "http://127.0.0.1:9/v1",
            "endpoint_model": "m", "endpoint_api_key_env": "SECRET_KEY"}  # fmt: skip
    form = ContenderAdminForm(data, instance=contender)
    assert not form.is_valid() and "Select a valid choice" in str(form.errors["endpoint_api_key_env"])
    assert [c[0] for c in form.fields["endpoint_api_key_env"].choices] == ["", "VLLM_KEY"]


@pytest.mark.parametrize(
    "name", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "POSTGRES_USER"]
)
def test_the_settings_refuse_to_allow_the_arenas_own_credentials(tmp_path, name):
    env = {**os.environ, "ARENA_ENDPOINT_KEY_NAMES": f"VLLM_KEY,{name}", "ARENA_VAR_DIR": str(tmp_path)}
    code = "import django; django.setup()"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "arena.settings"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert f"ARENA_ENDPOINT_KEY_NAMES lists {name}" in result.stderr


def test_key_names_set_before_the_allow_list_are_cleared_by_the_migration(settings):
    settings.ARENA_ENDPOINT_KEY_NAMES = ["VLLM_KEY"]
    factories.make_contender("old-bad", endpoint_api_key_env="SECRET_KEY")
    factories.make_contender("old-good", endpoint_api_key_env="VLLM_KEY")
    migration = importlib.import_module("arena.migrations.0006_integrity_and_security")
    migration.keys_off_the_allow_list_cleared(apps, None)
    keys = dict(Contender.objects.values_list("slug", "endpoint_api_key_env"))
    assert keys == {"old-bad": "", "old-good": "VLLM_KEY"}


def _endpoint_contender(slug, url, **extra):
    return Contender.objects.create(
        slug=slug,
        name=slug.title(),
        status="approved",
        endpoint_url=url,
        endpoint_model=f"{slug}-model",
        **extra,
    )


def _run_all(campaign) -> list[str]:
    ids = list(Generation.objects.filter(campaign=campaign, status="pending").values_list("pk", flat=True))
    return [generation_run(generation_id=pk).outcome for pk in ids]


def test_a_key_name_off_the_allow_list_is_never_sent(settings, key_env):
    prompt_set, _ = make_arena(n_prompts=1, slugs=("alpha",))
    with OpenAIStub(script="echo") as stub:
        _endpoint_contender("local", stub.base_url, endpoint_api_key_env=KEY_ENV)
        campaign = generation_start(contender_slugs=["local"], prompt_set_slug=prompt_set.slug)
        settings.ARENA_ENDPOINT_KEY_NAMES = []  # staff removed it from the allow-list after the start
        assert _run_all(campaign) == ["failed"]
        assert stub.requests == []
    error = Generation.objects.get(campaign=campaign).error
    assert "'ARENA_TEST_JUDGE_KEY' is not an allowed endpoint key name" in error and SECRET not in error
    with pytest.raises(Invalid, match="not an allowed endpoint key name"):
        generation_start(contender_slugs=["local"], prompt_set_slug=prompt_set.slug)


def test_the_url_is_checked_again_at_call_time(settings):
    prompt_set, _ = make_arena(n_prompts=1, slugs=("alpha",))
    with OpenAIStub(script="echo") as stub:
        _endpoint_contender("local", stub.base_url)  # saved while private endpoints were allowed
        campaign = generation_start(contender_slugs=["local"], prompt_set_slug=prompt_set.slug)
        settings.ARENA_ALLOW_PRIVATE_ENDPOINTS = False
        assert _run_all(campaign) == ["failed"]
        assert stub.requests == []
    assert "a loopback address" in Generation.objects.get(campaign=campaign).error
    n_campaigns = Campaign.objects.count()
    with pytest.raises(Invalid, match="a loopback address"):
        generation_start(contender_slugs=["local"], prompt_set_slug=prompt_set.slug)
    assert Campaign.objects.count() == n_campaigns


class _Redirector(BaseHTTPRequestHandler):
    target = ""

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.send_response(307)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_redirects_are_not_followed(key_env):
    prompt_set, _ = make_arena(n_prompts=1, slugs=("alpha",))
    with OpenAIStub(script="echo") as stub:
        handler = type("Redirector", (_Redirector,), {"target": f"{stub.base_url}/chat/completions"})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/v1"
            _endpoint_contender("hop", url, endpoint_api_key_env=KEY_ENV)
            campaign = generation_start(contender_slugs=["hop"], prompt_set_slug=prompt_set.slug)
            assert _run_all(campaign) == ["failed"]
            assert stub.requests == []  # the key never reached the redirect's target
        finally:
            server.shutdown()
    assert "HTTP 307" in Generation.objects.get(campaign=campaign).error


def test_the_generate_form_shows_each_endpoint_and_key_before_start(client, staff, settings, monkeypatch):
    settings.ARENA_ENDPOINT_KEY_NAMES = ["VLLM_KEY"]
    monkeypatch.setenv("VLLM_KEY", "sk-shown-never")
    make_arena(n_prompts=1, slugs=("alpha",))
    _endpoint_contender("local", "http://127.0.0.1:9/v1", endpoint_api_key_env="VLLM_KEY")
    _endpoint_contender("open", "http://127.0.0.1:10/v1")
    client.force_login(staff)
    form = {"kind": "generate", "prompt_set": "judge-set", "contenders": ["local", "open"], "plan": "all-pairs",
            "k": 1, "seed": 0, "action": "estimate"}  # fmt: skip
    html = client.post("/judges/campaigns/new/", form).content.decode()
    assert 'data-testid="estimate-endpoints"' in html
    assert "http://127.0.0.1:9/v1" in html and "<code>VLLM_KEY</code>" in html
    assert "http://127.0.0.1:10/v1" in html and "sk-shown-never" not in html
    assert not Campaign.objects.exists()


def test_a_name_that_rebinds_to_a_private_address_after_the_check_is_not_connected_to(settings, monkeypatch):
    """DNS rebinding: the name answers a public address to the call-time check, then loopback to whoever
    resolves it next. The connection goes to the address that was checked, so the loopback stub sees nothing."""
    import socket

    prompt_set, _ = make_arena(n_prompts=1, slugs=("alpha",))
    real_getaddrinfo = socket.getaddrinfo
    answers = {"n": 0}

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        answers["n"] += 1
        address = "93.184.215.14" if answers["n"] == 1 else "127.0.0.1"  # public first, loopback after
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    with OpenAIStub(script="echo") as stub:
        _endpoint_contender("rebinder", stub.base_url.replace("127.0.0.1", "rebind.example"))
        campaign = generation_start(contender_slugs=["rebinder"], prompt_set_slug=prompt_set.slug)
        settings.ARENA_ALLOW_PRIVATE_ENDPOINTS = False
        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        outcomes = _run_all(campaign)
        monkeypatch.setattr(socket, "getaddrinfo", real_getaddrinfo)
        assert stub.requests == []
    assert outcomes != ["done"] and answers["n"] >= 2
    generation = Generation.objects.get(campaign=campaign)
    assert generation.status != "done" and not generation.output_id
