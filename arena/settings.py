"""Settings for the arena, read from the environment (see `.env.example`).

Defaults serve local use with no services at all: a SQLite file and a filesystem Celery broker under `var/`,
and a secret key generated once and kept there. Production sets DATABASE_URL, CELERY_BROKER_URL and
SECRET_KEY (required once DEBUG is off).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from arena.env import env_bool, env_int, env_list, env_size, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ARENA_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    configured = env_str("SECRET_KEY", "")
    if configured:
        return configured
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off: set SECRET_KEY in the environment or .env "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'), or set DEBUG=1 for local use."
        )
    # Local use: generate once and keep it, so sessions survive restarts.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "ninja",
    "csp",
    "arena",
    "judges",
    "leaderboard",
    "live",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the request: NUL or invalid Unicode in path, query or fields -> 400.
    "arena.request_guard.RequestTextGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Domain errors (arena.errors) a page view raises become the error page with their status.
    "arena.error_responses.DomainErrorMiddleware",
]

ROOT_URLCONF = "arena.urls"
WSGI_APPLICATION = "arena.wsgi.application"
ASGI_APPLICATION = "arena.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]


def _database() -> dj_database_url.DBConfig:
    default_url = f"sqlite:///{VAR_DIR / 'arena.sqlite3'}"
    url = env_str("DATABASE_URL", default_url)
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"DATABASE_URL={url!r} cannot be used ({exc}); expected e.g. postgres://user@host:5432/name "
            "or sqlite:///path/to/file.sqlite3."
        ) from None
    if config["ENGINE"].endswith("sqlite3"):
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        # Celery threads and the web server write at once in the demo: wait for the lock instead of failing.
        config.setdefault("OPTIONS", {})["timeout"] = 20
        config["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
        config["CONN_MAX_AGE"] = 0
    # A kept connection is checked before a request reuses it, so one broken by a database restart is
    # replaced instead of failing the first request after the restart.
    config["CONN_HEALTH_CHECKS"] = True
    pool_size = env_int("DB_POOL_MAX_SIZE", 0, minimum=0)
    if pool_size and config["ENGINE"].endswith("postgresql"):
        # The ASGI web server runs each request's sync code in a thread of its own, and Django's connections
        # belong to threads: without a pool every request (and every live stream's opening) connects anew.
        # A pool per process lends a connection for a request and takes it back at its end. Web only
        # (compose sets it there): Celery workers keep their connections per thread (DB_CONN_MAX_AGE).
        config["CONN_MAX_AGE"] = 0  # Django refuses persistent connections with a pool: the pool keeps them
        config.setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(2, pool_size),
            "max_size": pool_size,
            "timeout": 10,  # seconds a request waits for a free connection before failing
        }  # CONN_HEALTH_CHECKS (above) makes Django check each connection the pool lends
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "arena:my-contenders"
LOGOUT_REDIRECT_URL = "arena:home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Largest upload (outputs, prompts, battle files) the arena accepts, in bytes; checked by the import services.
ARENA_MAX_UPLOAD_BYTES = env_size("ARENA_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = ARENA_MAX_UPLOAD_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = ARENA_MAX_UPLOAD_BYTES + 1024 * 1024

SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
# HTTPS only: redirect plain HTTP (the compose health check on /healthz stays reachable over HTTP), and HSTS.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

# Content-Security-Policy (django-csp): scripts and styles only from our own static files, no inline code,
# no style="" attributes; plotly and htmx are served from static/. `report-only` sends the same policy as
# Content-Security-Policy-Report-Only instead (to try a change on a live site first).
_PLOTLY_STYLE_ATTR_SHA256 = (
    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",  # ""
    "AR/cKIZjWPcPmBUPDA6oti9XBiTbJvz0Cro2J1VzzS8=",  # "image-rendering: optimizeSpeed; ... pixelated; "
)
_CSP_DIRECTIVES = {
    "default-src": [SELF],
    "script-src": [SELF],
    "style-src": [SELF],
    # Plotly sets exactly two style attributes while drawing heatmaps (an empty one on colour-bar fills, and
    # `image-rendering: ...` for crisp cells); 'unsafe-hashes' allows those two strings and nothing else.
    "style-src-attr": ["'unsafe-hashes'", *(f"'sha256-{digest}'" for digest in _PLOTLY_STYLE_ATTR_SHA256)],
    "img-src": [SELF, "data:"],
    "font-src": [SELF],
    "connect-src": [SELF],
    "object-src": [NONE],
    "base-uri": [SELF],
    "form-action": [SELF],
    "frame-ancestors": [NONE],
}
if env_bool("CSP_REPORT_ONLY", False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": _CSP_DIRECTIVES}
else:
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": _CSP_DIRECTIVES}

# Mail (password reset). Without EMAIL_HOST nothing can be sent: local use (DEBUG) prints mails to the
# console; production without it says on the reset page that reset by mail is not configured.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "arena@localhost")
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.dummy.EmailBackend",
)

# --- Celery -------------------------------------------------------------------------------------------
# The default broker needs no server: kombu's filesystem transport passes messages through files under
# var/, and a real worker process consumes them. Tests and compose use Redis.
_CELERY_DIR = VAR_DIR / "celery"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_CELERY_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_CELERY_DIR / "queue"),
        "data_folder_out": str(_CELERY_DIR / "queue"),
        "processed_folder": str(_CELERY_DIR / "processed"),
        "control_folder": str(_CELERY_DIR / "control"),
        "store_processed": False,
    }
elif not CELERY_BROKER_URL.startswith(("redis://", "rediss://", "amqp://", "memory://")):
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL={CELERY_BROKER_URL!r} is not supported: use redis://host:6379/0, amqp://..., "
        "or leave it unset for the zero-setup filesystem broker."
    )
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)
    }
# A prefix for every Redis key (broker and cache), so several arenas — or concurrent test runs — can share
# one Redis server without consuming each other's tasks.
REDIS_KEY_PREFIX = env_str("ARENA_REDIS_PREFIX", "")
if REDIS_KEY_PREFIX and CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = REDIS_KEY_PREFIX
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30 * 60, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 25 * 60, minimum=5)
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Queues: "celery" for arena housekeeping, "judge" for LLM calls (I/O-bound; run it on a threads/gevent pool
# with enough concurrency for every judge config's limit), "ratings" for leaderboard fits (CPU-bound).
ARENA_QUEUES = ["celery", "judge", "ratings"]
# Create the Celery app when Django starts (arena/apps.py); the file-only settings turn it off.
ARENA_CELERY_APP = True
CELERY_TASK_DEFAULT_QUEUE = "celery"
# The recovery sweep goes to the housekeeping queue, so a long judge queue never delays it.
CELERY_TASK_ROUTES = {
    "judges.sweep": {"queue": "celery"},
    "judges.*": {"queue": "judge"},
    "leaderboard.*": {"queue": "ratings"},
}
CELERY_BEAT_SCHEDULE = {
    "recompute-leaderboards": {
        "task": "leaderboard.recompute_all",
        "schedule": env_int("LEADERBOARD_RECOMPUTE_SECONDS", 15 * 60, minimum=10),
    }
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Shared cache (rate limits, recompute coalescing): Redis when REDIS_URL is set, else files under var/.
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "arena.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{REDIS_KEY_PREFIX}arena",
            # A Redis that is down or unreachable must cost a request a second at most, not hang it: the
            # cache then acts as a miss (arena.cache) and sessions come from the database.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
# Sessions are read on every request (a vote included): with Redis, from the cache, written through to the
# database so a cache flush signs nobody out. The file cache would be slower than the database: not used.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db" if REDIS_URL else "django.contrib.sessions.backends.db"
)

# --- Human voting (arena.voting) ---------------------------------------------------------------------
# Let people vote without an account (identified by their session); off means sign-in is required.
ARENA_ANONYMOUS_VOTING = env_bool("ARENA_ANONYMOUS_VOTING", False)
# Votes (and skips) a minute per annotator (user or session) and per client IP; serving battles gets twice as many.
ARENA_VOTE_RATE_PER_MINUTE = env_int("ARENA_VOTE_RATE_PER_MINUTE", 30, minimum=1)
ARENA_VOTE_RATE_PER_MINUTE_IP = env_int("ARENA_VOTE_RATE_PER_MINUTE_IP", 240, minimum=1)
# Request header (as in request.META) holding the client IP behind a trusted proxy, e.g. HTTP_X_FORWARDED_FOR.
ARENA_CLIENT_IP_HEADER = env_str("ARENA_CLIENT_IP_HEADER", "")
# A vote is flagged when it comes faster than this base time plus the answers' length at this reading speed.
ARENA_VOTE_MIN_READ_MS = env_int("ARENA_VOTE_MIN_READ_MS", 2000, minimum=0)
ARENA_VOTE_READ_CHARS_PER_SECOND = env_int("ARENA_VOTE_READ_CHARS_PER_SECOND", 80, minimum=1)
# ... or when the same button was pressed this many times in a row.
ARENA_VOTE_SAME_CHOICE_STREAK = env_int("ARENA_VOTE_SAME_CHOICE_STREAK", 8, minimum=2)
# Serve disputed battles first (LLM judges disagree with each other, or one was inconsistent across the two
# answer orders), in every task (tasks can also turn it on one by one).
ARENA_VOTE_INCONSISTENT_FIRST = env_bool("ARENA_VOTE_INCONSISTENT_FIRST", False)
# Dotted path of the function ranking contender pairs for serving (see arena.voting.selection).
ARENA_VOTE_PAIR_PRIORITY = env_str("ARENA_VOTE_PAIR_PRIORITY", "arena.voting.selection.fewest_votes_first")
# A served battle nobody answered stops holding one of its "votes wanted" places after this long.
ARENA_VOTE_OPEN_MINUTES = env_int("ARENA_VOTE_OPEN_MINUTES", 30, minimum=1)
# Serving ranks contender pairs by their votes, counted in Redis as votes come in and recounted from the
# database this often (seconds), which corrects any drift.
ARENA_VOTE_PAIR_RECOUNT_SECONDS = env_int("ARENA_VOTE_PAIR_RECOUNT_SECONDS", 3600, minimum=1)
# Seconds after a vote during which its voter may undo it (the verdicts are withdrawn, the battle served again).
ARENA_VOTE_UNDO_SECONDS = env_int("ARENA_VOTE_UNDO_SECONDS", 30, minimum=0)
# Prefix of the vote rate-limit counters in the cache (tests give each run its own).
ARENA_VOTE_RATE_NAMESPACE = "rl"

# --- Integrity and security (arena.services.endpoints, arena.services.identity_leaks, arena.throttling) ---
# Names of the environment variables staff may choose as the key sent to a contender's endpoint; submitters
# never name one. Credentials of the arena itself can never be listed (refused at start-up).
ARENA_ENDPOINT_KEY_NAMES = env_list("ARENA_ENDPOINT_KEY_NAMES", [])
FORBIDDEN_ENDPOINT_KEY_NAMES = frozenset(
    {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
     "JUDGES_LIMITS_REDIS_URL", "POSTGRES_PASSWORD", "EMAIL_HOST_PASSWORD", "DJANGO_SECRET_KEY"}
)  # fmt: skip
_forbidden_keys = sorted(
    name
    for name in ARENA_ENDPOINT_KEY_NAMES
    if name in FORBIDDEN_ENDPOINT_KEY_NAMES or name.startswith(("DATABASE", "POSTGRES", "REDIS", "CELERY"))
)
if _forbidden_keys:
    raise ImproperlyConfigured(
        f"ARENA_ENDPOINT_KEY_NAMES lists {', '.join(_forbidden_keys)}: the arena's own credentials can never "
        "be sent to a contender's endpoint. Remove them and list only the variables holding endpoint keys."
    )
# Outbound calls to loopback, link-local, private, multicast or reserved addresses are refused unless this is
# on (the demo and the test suite call a loopback stub). Checked when an endpoint is saved and again per call.
ARENA_ALLOW_PRIVATE_ENDPOINTS = env_bool("ARENA_ALLOW_PRIVATE_ENDPOINTS", False)
# Identity leaks: answers naming a vendor or model ("As an AI developed by OpenAI", "I am Claude") are flagged
# when stored and never served to people. These names fill the patterns (comma-separated, case-insensitive);
# the contender's own name, slug and organization are always checked too.
ARENA_IDENTITY_LEAK_NAMES = env_list(
    "ARENA_IDENTITY_LEAK_NAMES",
    ["OpenAI", "Anthropic", "Google", "Google DeepMind", "DeepMind", "Meta", "Meta AI", "Mistral AI",
     "Mistral", "Microsoft", "Alibaba", "Cohere", "xAI", "DeepSeek", "Claude", "ChatGPT", "GPT-3.5", "GPT-4",
     "GPT-4o", "GPT", "Gemini", "Bard", "Llama", "LLaMA", "Qwen", "Grok", "Phi", "Gemma", "Vicuna"],
)  # fmt: skip
# More patterns (Python regular expressions, one a line, '#' comments), matched ignoring case, from a file.
ARENA_IDENTITY_LEAK_PATTERNS_FILE = env_str("ARENA_IDENTITY_LEAK_PATTERNS_FILE", "")


def _leak_patterns(path: str) -> list[str]:
    if not path:
        return []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ImproperlyConfigured(
            f"ARENA_IDENTITY_LEAK_PATTERNS_FILE={path!r} cannot be read ({exc})."
        ) from None
    patterns = []
    for number, line in enumerate(lines, start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                re.compile(line.strip())
            except re.error as exc:
                raise ImproperlyConfigured(
                    f"{path}, line {number}: {line.strip()!r} is not a regular expression ({exc})."
                ) from None
            patterns.append(line.strip())
    return patterns


ARENA_IDENTITY_LEAK_PATTERNS = _leak_patterns(ARENA_IDENTITY_LEAK_PATTERNS_FILE)
# Sign-up and sign-in throttling (429 with Retry-After): sign-ups per client IP per hour; failed sign-ins per
# account and per IP before a lockout of ARENA_SIGNIN_LOCKOUT_SECONDS (counted over that same window).
ARENA_SIGNUP_PER_HOUR_IP = env_int("ARENA_SIGNUP_PER_HOUR_IP", 5, minimum=1)
ARENA_SIGNIN_FAILURES_PER_ACCOUNT = env_int("ARENA_SIGNIN_FAILURES_PER_ACCOUNT", 5, minimum=1)
ARENA_SIGNIN_FAILURES_PER_IP = env_int("ARENA_SIGNIN_FAILURES_PER_IP", 20, minimum=1)
ARENA_SIGNIN_LOCKOUT_SECONDS = env_int("ARENA_SIGNIN_LOCKOUT_SECONDS", 900, minimum=1)
# Email verification mails an address the account chose: at most this many per account per hour.
ARENA_VERIFICATION_MAILS_PER_HOUR = env_int("ARENA_VERIFICATION_MAILS_PER_HOUR", 5, minimum=1)
# Votes count towards ratings only from accounts at least this old (seconds; 0: from the first minute), unless
# the account's email is verified; or, with ARENA_VOTE_REQUIRE_VERIFIED_EMAIL, only from verified accounts.
ARENA_VOTE_MIN_ACCOUNT_AGE = env_int("ARENA_VOTE_MIN_ACCOUNT_AGE", 0, minimum=0)
ARENA_VOTE_REQUIRE_VERIFIED_EMAIL = env_bool("ARENA_VOTE_REQUIRE_VERIFIED_EMAIL", False)
# Email verification links (sent through Django's mail backend) stay valid this many days.
ARENA_EMAIL_VERIFICATION_DAYS = env_int("ARENA_EMAIL_VERIFICATION_DAYS", 3, minimum=1)

# --- Leaderboard (leaderboard app) ---------------------------------------------------------------------
# Bootstrap rounds behind every 95% interval, and the seed that makes them reproducible.
LEADERBOARD_BOOTSTRAP_ROUNDS = env_int("LEADERBOARD_BOOTSTRAP_ROUNDS", 100, minimum=0)
LEADERBOARD_SEED = env_int("LEADERBOARD_SEED", 0, minimum=0)
# A leaderboard with fewer verdicts is stored as "not fitted" with a message instead of ratings.
LEADERBOARD_MIN_VERDICTS = env_int("LEADERBOARD_MIN_VERDICTS", 10, minimum=1)
# Style-controlled ratings beside the raw ones; their intervals cost a full refit per round (0: none).
LEADERBOARD_STYLE_CONTROL = env_bool("LEADERBOARD_STYLE_CONTROL", True)
LEADERBOARD_STYLE_BOOTSTRAP_ROUNDS = env_int("LEADERBOARD_STYLE_BOOTSTRAP_ROUNDS", 0, minimum=0)
# Style control is fitted only with at least this many battles per parameter it estimates (fewer: raw only).
LEADERBOARD_STYLE_BATTLES_PER_PARAMETER = 10
# Judge and jury boards calibrated by people (prediction-powered inference): battles both must have judged
# before a calibrated rating is shown, and the bootstrap rounds of its interval.
LEADERBOARD_CALIBRATION_MIN_LABELLED = env_int("LEADERBOARD_CALIBRATION_MIN_LABELLED", 30, minimum=1)
LEADERBOARD_CALIBRATION_BOOTSTRAP_ROUNDS = env_int("LEADERBOARD_CALIBRATION_BOOTSTRAP_ROUNDS", 200, minimum=0)
# Finished recomputes kept viewable in the history; older ones are deleted.
LEADERBOARD_KEEP_RUNS = env_int("LEADERBOARD_KEEP_RUNS", 100, minimum=1)
# A running recompute's claim lapses this long after its last sign of life (a crashed worker).
LEADERBOARD_LEASE_SECONDS = env_int("LEADERBOARD_LEASE_SECONDS", 300, minimum=10)
# A requested recompute whose task has not started after this long is sent again (a lost message).
LEADERBOARD_QUEUE_TTL_SECONDS = env_int("LEADERBOARD_QUEUE_TTL_SECONDS", 900, minimum=10)
# PostgreSQL work_mem for the recompute's grouping queries (one per answer pair for style control).
LEADERBOARD_WORK_MEM = env_str("LEADERBOARD_WORK_MEM", "64MB")
# A rating is "provisional" (shown greyed, never ranked) until its 95% interval is narrower than this many
# points or it rests on at least LEADERBOARD_MIN_VOTES votes.
LEADERBOARD_PROVISIONAL_CI = env_int("LEADERBOARD_PROVISIONAL_CI", 100, minimum=1)
LEADERBOARD_MIN_VOTES = env_int("LEADERBOARD_MIN_VOTES", 300, minimum=1)
# A contender is ranked only when it answered at least this percentage of the prompts a leaderboard uses;
# below it is listed apart as "incomplete (n of N)".
ARENA_MIN_COVERAGE = env_int("ARENA_MIN_COVERAGE", 100, minimum=0)
if ARENA_MIN_COVERAGE > 100:
    raise ImproperlyConfigured(f"ARENA_MIN_COVERAGE={ARENA_MIN_COVERAGE} is a percentage: 0 to 100.")

# --- Live battles (live app, /arena/) --------------------------------------------------------------------
# Who may battle follows ARENA_ANONYMOUS_VOTING: signed-in people only, unless it is on.
# Battles a person (user or anonymous session) may start per 24 hours; battles per contender per hour.
ARENA_LIVE_BATTLES_PER_USER_PER_DAY = env_int("ARENA_LIVE_BATTLES_PER_USER_PER_DAY", 50, minimum=1)
ARENA_LIVE_BATTLES_PER_MODEL_PER_HOUR = env_int("ARENA_LIVE_BATTLES_PER_MODEL_PER_HOUR", 300, minimum=1)
# Longest message (characters) and most messages per battle; a regeneration uses one of the turns too.
ARENA_LIVE_MAX_PROMPT_CHARS = env_int("ARENA_LIVE_MAX_PROMPT_CHARS", 4000, minimum=1)
ARENA_LIVE_MAX_TURNS = env_int("ARENA_LIVE_MAX_TURNS", 5, minimum=1)
# Reply cap per turn (tokens), longest silence between two pieces of a stream, longest stream (seconds).
ARENA_LIVE_MAX_TOKENS = env_int("ARENA_LIVE_MAX_TOKENS", 1024, minimum=1)
ARENA_LIVE_READ_TIMEOUT_SECONDS = env_int("ARENA_LIVE_READ_TIMEOUT_SECONDS", 30, minimum=1)
ARENA_LIVE_MAX_STREAM_SECONDS = env_int("ARENA_LIVE_MAX_STREAM_SECONDS", 180, minimum=1)
# Dotted path of `hook(text, *, voter_key) -> live.moderation.Decision`; every message and decision is kept
# (live.models.ModerationRecord). The default refuses nothing.
ARENA_LIVE_MODERATION = env_str("ARENA_LIVE_MODERATION", "live.moderation.allow_all")
# Slug of the prompt set that voted live battles are stored in (created on the first vote; category "live").
ARENA_LIVE_PROMPT_SET = env_str("ARENA_LIVE_PROMPT_SET", "live-battles")

# --- LLM judges (judges app) ----------------------------------------------------------------------------
# Attempts per judgment or generation before a transient error (timeout, 429, 5xx) becomes a failure.
JUDGES_MAX_ATTEMPTS = env_int("JUDGES_MAX_ATTEMPTS", 5, minimum=1)
# Exponential backoff between attempts: base doubled per attempt, capped, half of it random (milliseconds).
JUDGES_BACKOFF_BASE_MS = env_int("JUDGES_BACKOFF_BASE_MS", 1000, minimum=1)
JUDGES_BACKOFF_MAX_MS = env_int("JUDGES_BACKOFF_MAX_MS", 60_000, minimum=1)
# A claim's lease, in seconds: its worker renews it every third of this while the call runs, so a claim whose
# worker died lapses this long after the death and the sweeper hands it back (judges.services.leases).
JUDGES_LEASE_SECONDS = env_int("JUDGES_LEASE_SECONDS", 10, minimum=3)
# Renewal stops 2 × the config's timeout (answer + repair) plus this grace after the claim: a hung call's
# claim lapses then, although its worker lives.
JUDGES_LEASE_GRACE_SECONDS = env_int("JUDGES_LEASE_GRACE_SECONDS", 30, minimum=1)
# Pending items are queued again when their campaign had nothing running and made no progress for this
# long (their messages were lost with a worker or a broker restart).
JUDGES_REQUEUE_STALLED_SECONDS = env_int("JUDGES_REQUEUE_STALLED_SECONDS", 10, minimum=1)
# How often beat runs the recovery sweep (judges.sweep, on the housekeeping "celery" queue).
JUDGES_SWEEP_SECONDS = env_int("JUDGES_SWEEP_SECONDS", 5, minimum=1)
# How long a task waits for a free concurrency slot before rescheduling itself (seconds).
JUDGES_SLOT_WAIT_SECONDS = env_int("JUDGES_SLOT_WAIT_SECONDS", 2, minimum=0)
# Workers cache judge configs this long (seconds): an edit to prices, limits or the key reference reaches them
# within it. Versions (what the judge is asked) never change, so they are cached for good.
JUDGES_CONFIG_CACHE_SECONDS = env_int("JUDGES_CONFIG_CACHE_SECONDS", 5, minimum=0)
# Judges' report cards: bootstrap rounds behind their 95 % intervals (pages, API, `judge_report`'s default)
# and how long a computed card stays cached (seconds; a card's key also changes when rows are added).
JUDGES_REPORT_BOOTSTRAP_ROUNDS = env_int("JUDGES_REPORT_BOOTSTRAP_ROUNDS", 200, minimum=0)
JUDGES_REPORT_CACHE_SECONDS = env_int("JUDGES_REPORT_CACHE_SECONDS", 300, minimum=0)
# Judgments per Celery task for large campaigns (each task costs the worker some CPU beside its judgments).
JUDGES_TASK_BATCH = env_int("JUDGES_TASK_BATCH", 16, minimum=1)
# Per-config concurrency limits are shared by all workers through Redis (empty: one process only, the demo).
JUDGES_LIMITS_REDIS_URL = env_str(
    "JUDGES_LIMITS_REDIS_URL",
    REDIS_URL or (CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""),
)
JUDGES_LIMITS_PREFIX = f"{REDIS_KEY_PREFIX}judges:limits:"
# Adaptive pairing: dotted path of `pair_priority(contender_ids, dimension) -> {(i, j): score}`, higher first.
# The old name, JUDGES_PAIR_OVERLAP, is refused rather than read: the hook ranks pairs and computes no overlap,
# and a deployment still setting it must learn of the rename, not lose its hook silently.
if "JUDGES_PAIR_OVERLAP" in os.environ:
    raise ImproperlyConfigured(
        "JUDGES_PAIR_OVERLAP was renamed JUDGES_PAIR_PRIORITY (the hook ranks pairs; it computes no overlap): "
        "rename the variable in your environment."
    )
JUDGES_PAIR_PRIORITY = env_str("JUDGES_PAIR_PRIORITY", "judges.services.planning.fewest_verdicts_first")
# Generating missing outputs from contender endpoints: calls in flight per contender, reply cap, timeout.
JUDGES_GENERATION_CONCURRENCY = env_int("JUDGES_GENERATION_CONCURRENCY", 8, minimum=1)
JUDGES_GENERATION_MAX_TOKENS = env_int("JUDGES_GENERATION_MAX_TOKENS", 1024, minimum=1)
JUDGES_GENERATION_TIMEOUT_SECONDS = env_int("JUDGES_GENERATION_TIMEOUT_SECONDS", 120, minimum=1)
JUDGES_GENERATION_TEMPERATURE = 0.0
CELERY_BEAT_SCHEDULE["judges-sweep"] = {"task": "judges.sweep", "schedule": JUDGES_SWEEP_SECONDS}
# Juries (several judge configs combined): battles with a people's majority and a member's verdict needed
# before weights are learned (fewer: majority vote), and how often beat refreshes every jury's verdicts
# (they also follow each finished judge campaign; learned weights follow people's votes at this pace).
JUDGES_JURY_MIN_TRAINING = env_int("JUDGES_JURY_MIN_TRAINING", 30, minimum=1)
JUDGES_JURY_REFRESH_SECONDS = env_int("JUDGES_JURY_REFRESH_SECONDS", 15 * 60, minimum=10)
CELERY_BEAT_SCHEDULE["judges-juries"] = {
    "task": "judges.juries_refresh",
    "schedule": JUDGES_JURY_REFRESH_SECONDS,
}
# Celery's Django fixup closes every database connection before and after each task unless this is set,
# so each judge call paid for a new PostgreSQL connection (a backend fork). With it, worker threads keep
# their connection; judges/tasks.py still drops unusable or expired ones (DB_CONN_MAX_AGE) after each task.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
