"""Order Desk settings, read from the environment.

Every knob an operator may turn is an environment variable, listed with its
default in docs/configuration.md. Defaults are the embedded
development stack: SQLite under var/, a local Temporal dev server.
"""
from __future__ import annotations

import json
import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import dj_database_url

from config.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ORDER_DESK_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


DEBUG = env_bool("DJANGO_DEBUG", False)

# A development key is only acceptable while DEBUG is on; production must set one.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and not env_bool("ORDER_DESK_TESTING"):
        raise RuntimeError("Set DJANGO_SECRET_KEY (production), or DJANGO_DEBUG=1 for development (the Makefile sets it).")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "axes",
    "orders",
    "approvals",
    "temporal_bridge",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    # Every request starts with an empty order context for its log lines.
    "config.logs.LogContextMiddleware",
    # Static files straight from the app server (hashed names, compressed,
    # cached for a year), before anything that touches the session or the DB.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # An unchanged poll of an order's live panel is answered here, from one
    # query, before the session and the user are loaded (orders/views/unchanged_poll.py).
    "orders.views.unchanged_poll.UnchangedPanelPolls",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # An admin action on ids no row can have is a 400, not a database error.
    "config.middleware.AdminSelectionGuard",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes requires: turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "approvals.context_processors.approvals_badge",
                "orders.context_processors.worker_banner",
                "orders.context_processors.hold_banner",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# PostgreSQL through DATABASE_URL (psycopg 3) in production and CI. The embedded
# default is SQLite in WAL mode so the web server and the worker can write at
# the same time: IMMEDIATE transactions take the write lock up front (no
# "database is locked" on lock upgrade) and the busy timeout makes writers queue.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True)}
    if env_bool("DB_POOL") and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # The web process under ASGI (config/asgi.py sets DB_POOL): an event stream's request runs
        # its synchronous parts in a thread of its own, so a connection kept per thread (CONN_MAX_AGE)
        # would be a new PostgreSQL connection per stream. A pool per process instead, which the
        # threads of the synchronous views (config/asgi_sync.py, GUNICORN_THREADS: 8), the live-panel
        # hub (orders/live/loop.py: 8 and the tick's) and the unchanged polls (4) share: each holds a
        # connection only while it works, and 24 lets all of them work at once.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 2, "max_size": env_int("DB_POOL_MAX_SIZE", 24), "timeout": env_float("DB_POOL_TIMEOUT", 30.0)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "config.db.sqlite3",  # Django's, reading too-wide numbers safely
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
            },
            # Tests run the worker's activities on other threads, which cannot
            # see an in-memory database: the test database is a file too.
            "TEST": {"NAME": str(VAR_DIR / "test_db.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# --- Content-Security-Policy (django-csp) ----------------------------------------------
# Every script, style, image and request from this origin only: no inline
# script, no inline style, no eval. htmx is served from our static files, its
# indicator <style> is off (htmx-config in base.html) and lives in app.css.
# Links to the Temporal UI are plain navigations, which CSP does not govern.
# DJANGO_CSP_REPORT_ONLY=1 sends the same policy as report-only (to try a change).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
if env_bool("DJANGO_CSP_REPORT_ONLY"):
    CONTENT_SECURITY_POLICY_REPORT_ONLY, CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY, None

# --- Login throttling (django-axes) ------------------------------------------------
# The site's login and the admin's: after LOGIN_FAILURE_LIMIT wrong passwords
# for one username from one address, that login is refused (429, the lockout
# page) for LOGIN_COOLOFF_MINUTES, or until an admin deletes the attempt in
# the admin (Axes → Access attempts) or runs `manage.py axes_reset`.
# One backend: axes' lockout check, then Django's password check (config/auth.py).
AUTHENTICATION_BACKENDS = ["config.auth.LockoutModelBackend"]
AXES_ENABLED = env_bool("LOGIN_THROTTLING", True)
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LOGIN_COOLOFF_MINUTES", 15)) if env_float("LOGIN_COOLOFF_MINUTES", 15) > 0 else None
# Per username and address: a guesser locks out the account from their address,
# not the user everywhere. LOGIN_LOCKOUT_BY=username locks the account from everywhere.
AXES_LOCKOUT_PARAMETERS = (
    ["username"] if os.environ.get("LOGIN_LOCKOUT_BY", "").strip() == "username" else [["username", "ip_address"]]
)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.middleware.login_locked_out"
AXES_CLIENT_IP_CALLABLE = "config.middleware.client_ip"
AXES_VERBOSE = False

# Django's database sessions, read with one plain query (config/sessions.py).
SESSION_ENGINE = "config.sessions"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "orders:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
# `manage.py collectstatic` at build time writes hashed, compressed copies that
# WhiteNoise serves; with DEBUG the files come straight from the app folders.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Order Desk <orders@example.com>")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    # HTTPS only. Behind a TLS-terminating proxy or load balancer, set
    # DJANGO_SECURE_PROXY_SSL_HEADER=1 so Django trusts its X-Forwarded-Proto
    # (only when the proxy overwrites that header from clients).
    if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER"):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # Health probes from the orchestrator talk plain HTTP to the container.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    # HSTS: a year, subdomains, preload-ready. Start lower (e.g. 3600) on a
    # domain that is not yet HTTPS everywhere: browsers remember it.
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)

# --- Temporal ------------------------------------------------------------------
TEMPORAL_ADDRESS = os.environ.get("TEMPORAL_ADDRESS", f"127.0.0.1:{os.environ.get('TEMPORAL_PORT', '7233')}")
TEMPORAL_NAMESPACE = os.environ.get("TEMPORAL_NAMESPACE", "default")
TEMPORAL_TASK_QUEUE = os.environ.get("TEMPORAL_TASK_QUEUE", "order-desk")
# Set the orders' custom search attributes (temporal_bridge/order/search_attributes.py).
# They must be registered on the namespace first (`make run` does it for the dev
# server; `manage.py register_search_attributes` for a cluster, see docs/deployment.md).
TEMPORAL_SEARCH_ATTRIBUTES = env_bool("TEMPORAL_SEARCH_ATTRIBUTES", True)
TEMPORAL_UI_URL = os.environ.get("TEMPORAL_UI_URL", f"http://127.0.0.1:{os.environ.get('TEMPORAL_UI_PORT', '8233')}")
# How long a page waits for a workflow query before it falls back to the mirror.
TEMPORAL_QUERY_TIMEOUT = env_float("TEMPORAL_QUERY_TIMEOUT", 2.0)
# How long an approve/reject/cancel/update POST waits for the workflow's own
# verdict on it (identity checked, rules applied) before answering "queued".
TEMPORAL_VERDICT_WAIT = env_float("TEMPORAL_VERDICT_WAIT", 3.0)
# How long a workflow's live snapshot is reused for the pages polling it (per
# process, in the default cache); 0 asks the workflow on every poll. See docs/benchmarks.md.
ORDER_SNAPSHOT_CACHE_SECONDS = env_float("ORDER_SNAPSHOT_CACHE_SECONDS", 1.0)
# How long an unchanged poll of an order waiting on people is answered without
# asking its workflow, while none of the rows its panel depends on changes
# (orders/views/unchanged_poll.py); 0 asks the workflow once the cache above expires.
ORDER_PANEL_TRUST_SECONDS = env_float("ORDER_PANEL_TRUST_SECONDS", 60.0)
# A remote cluster or Temporal Cloud (applied by temporal_bridge/client/connection.py
# for the web process and the workers alike): mutual TLS from PEM files, and/or
# an API key. TEMPORAL_TLS=1 forces TLS with the system's roots, 0 forbids it;
# unset, TLS follows the other settings (on with an API key or a certificate).
TEMPORAL_TLS = env_bool("TEMPORAL_TLS") if os.environ.get("TEMPORAL_TLS", "").strip() else None
TEMPORAL_TLS_CERT = os.environ.get("TEMPORAL_TLS_CERT", "")
TEMPORAL_TLS_KEY = os.environ.get("TEMPORAL_TLS_KEY", "")
TEMPORAL_TLS_CA = os.environ.get("TEMPORAL_TLS_CA", "")
TEMPORAL_TLS_SERVER_NAME = os.environ.get("TEMPORAL_TLS_SERVER_NAME", "")
TEMPORAL_API_KEY = os.environ.get("TEMPORAL_API_KEY", "")
# Payload encryption (temporal_bridge/client/codec.py): "kid2:<base64 32 bytes>,kid1:<...>",
# the first encrypts, all decrypt. Without it DEBUG and the tests use a public
# development key; production refuses to talk to Temporal (a system check and
# connection.py) rather than store customer data in clear or under a known key.
ORDER_DESK_PAYLOAD_KEYS = os.environ.get("ORDER_DESK_PAYLOAD_KEYS", "").strip()
PAYLOAD_DEV_KEY_ALLOWED = DEBUG or env_bool("ORDER_DESK_TESTING")
if not ORDER_DESK_PAYLOAD_KEYS and PAYLOAD_DEV_KEY_ALLOWED:
    from temporal_bridge.client.codec import DEV_KEYS as ORDER_DESK_PAYLOAD_KEYS
# Data protection (orders/privacy/): customers whose last order closed more than
# this many days ago are erased by `reconcile_orders`, at most
# ORDER_DESK_PERSONAL_DATA_RETENTION_BATCH per run. 0 (the default): never.
ORDER_DESK_PERSONAL_DATA_RETENTION_DAYS = env_int("ORDER_DESK_PERSONAL_DATA_RETENTION_DAYS", 0)
ORDER_DESK_PERSONAL_DATA_RETENTION_BATCH = env_int("ORDER_DESK_PERSONAL_DATA_RETENTION_BATCH", 100)
# The Temporal UI's origins, the only ones the codec endpoint answers across
# origins (CORS). The UI is reached as localhost or 127.0.0.1: both by default.
TEMPORAL_UI_ORIGINS = [
    o.strip().rstrip("/") for o in os.environ.get(
        "TEMPORAL_UI_ORIGINS",
        "http://localhost:{0},http://127.0.0.1:{0}".format(os.environ.get("TEMPORAL_UI_PORT", "8233")),
    ).split(",") if o.strip()
]
# Worker versioning (docs/deployment.md, "Rolling out new workflow code"): with it on,
# each worker announces the version <deployment name>.<build id>, and Temporal
# sends new runs to the version an operator made current (`manage.py deployment`).
# The build id defaults to a digest of the workflow code (temporal_bridge/runtime/versioning.py);
# ORDER_DESK_BUILD_ID overrides it (a release tag, a commit).
TEMPORAL_WORKER_VERSIONING = env_bool("TEMPORAL_WORKER_VERSIONING")
TEMPORAL_DEPLOYMENT_NAME = os.environ.get("TEMPORAL_DEPLOYMENT_NAME", "order-desk")
ORDER_DESK_BUILD_ID = os.environ.get("ORDER_DESK_BUILD_ID", "").strip()

# --- Order rules -----------------------------------------------------------------
# Approval rules live in approvals.ApprovalPolicy (edited in the admin). These two
# are the fallback for an order no active policy covers: below the threshold it
# is approved automatically, else one manager decides before the deadline.
ORDER_AUTO_APPROVE_BELOW = Decimal(os.environ.get("ORDER_AUTO_APPROVE_BELOW", "500"))
ORDER_APPROVAL_DEADLINE_HOURS = env_float("ORDER_APPROVAL_DEADLINE_HOURS", 48)
# The daily digest of pending approvals (a Temporal Schedule; `manage.py
# ensure_schedules` creates or updates it): cron in TIME_ZONE.
APPROVAL_DIGEST_CRON = os.environ.get("APPROVAL_DIGEST_CRON", "0 8 * * *")
# Where links in emails to approvers point.
ORDER_DESK_BASE_URL = os.environ.get("ORDER_DESK_BASE_URL", f"http://127.0.0.1:{os.environ.get('PORT', '8000')}")
# Fulfilment is simulated warehouse work: this many steps, this long each.
ORDER_FULFILMENT_STEPS = env_int("ORDER_FULFILMENT_STEPS", 10)
ORDER_FULFILMENT_STEP_SECONDS = env_float("ORDER_FULFILMENT_STEP_SECONDS", 1.5)
ORDER_CURRENCY = os.environ.get("ORDER_CURRENCY", "USD")
# Delivery tracking: after shipping, a shipment workflow follows the
# carrier's webhooks until the parcel is delivered. Off by default, where no
# carrier sends webhooks (an order then ends at "fulfilled").
ORDER_DESK_TRACK_DELIVERY = env_bool("ORDER_DESK_TRACK_DELIVERY")
ORDER_DESK_DELIVERY_PROMISE_DAYS = env_float("ORDER_DESK_DELIVERY_PROMISE_DAYS", 5)
ORDER_DESK_CARRIER = os.environ.get("ORDER_DESK_CARRIER", "Parcelo")

# Service levels: how long an order may spend in each stage before it counts
# as breached (0 = no target). Frozen into each workflow's input at submission.
ORDER_DESK_SLA_APPROVAL_HOURS = env_float("ORDER_DESK_SLA_APPROVAL_HOURS", 24)
ORDER_DESK_SLA_PROCESSING_HOURS = env_float("ORDER_DESK_SLA_PROCESSING_HOURS", 1)
ORDER_DESK_SLA_FULFILMENT_HOURS = env_float("ORDER_DESK_SLA_FULFILMENT_HOURS", 4)
ORDER_DESK_SLA_DELIVERY_HOURS = env_float("ORDER_DESK_SLA_DELIVERY_HOURS", 120)
# Holds: an order held before charging or fulfilment reads its hold again this
# often when no "holds lifted" signal reaches it (a resume whose signal failed).
ORDER_DESK_HOLD_RECHECK_SECONDS = env_float("ORDER_DESK_HOLD_RECHECK_SECONDS", 300)
# A provider's circuit breaker opens after this many failed calls in a row and
# lets one trial call through after the cool-down (half-open).
ORDER_DESK_BREAKER_FAILURES = env_int("ORDER_DESK_BREAKER_FAILURES", 5)
ORDER_DESK_BREAKER_COOLDOWN_SECONDS = env_float("ORDER_DESK_BREAKER_COOLDOWN_SECONDS", 60)

# --- Provider webhooks (orders.webhooks; docs/providers-and-webhooks.md) ----------
# One shared secret per provider; a provider without one is refused (401).
WEBHOOK_SECRETS = {
    "payments": os.environ.get("WEBHOOK_SECRET_PAYMENTS", ""),
    "carrier": os.environ.get("WEBHOOK_SECRET_CARRIER", ""),
    # The warehouses' inventory system: "inventory.restocked" (orders.webhooks.restocks).
    "inventory": os.environ.get("WEBHOOK_SECRET_INVENTORY", ""),
}
# A signature older (or newer) than this is refused: a captured request cannot be replayed later.
WEBHOOK_TOLERANCE_SECONDS = env_int("WEBHOOK_TOLERANCE_SECONDS", 300)
# Providers' events are a few hundred bytes; anything far larger is not one (413).
WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 16 * 1024)
# A flood is bounded: past this many stored-but-undelivered events of one
# provider the intake answers 503 with Retry-After and stores nothing.
WEBHOOK_PENDING_CAP = env_int("WEBHOOK_PENDING_CAP", 5000)
WEBHOOK_RETRY_AFTER_SECONDS = env_int("WEBHOOK_RETRY_AFTER_SECONDS", 60)
# reconcile_orders delivers at most this many waiting events per run, oldest first;
# an event still undelivered after this many attempts is marked failed (the admin can deliver it again).
WEBHOOK_DELIVER_BATCH = env_int("WEBHOOK_DELIVER_BATCH", 500)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 50)
# The signal to a workflow is sent inside the provider's request: bounded, so a
# Temporal outage answers the provider in seconds (the event waits, stored).
WEBHOOK_SIGNAL_TIMEOUT_SECONDS = env_float("WEBHOOK_SIGNAL_TIMEOUT_SECONDS", 3.0)
# Payments above this total come back "requires confirmation": the provider
# confirms (or fails) them later by webhook. 0 turns it off.
PAYMENT_CONFIRMATION_ABOVE = Decimal(os.environ.get("PAYMENT_CONFIRMATION_ABOVE", "10000"))

# --- Operations ------------------------------------------------------------------
# LOG_FORMAT=json: one JSON object per line (web and worker), with order_number
# and workflow_id where known; plain is for people reading a terminal.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain").strip().lower()
LOGGING = logging_config(log_format=LOG_FORMAT, level=os.environ.get("LOG_LEVEL", "INFO"))
# The "no worker is running" banner and /readyz reuse one worker check for this
# long (per process, in the default cache), so pages do not each ask Temporal.
WORKER_STATUS_CACHE_SECONDS = env_float("WORKER_STATUS_CACHE_SECONDS", 5.0)
# Workers report to Temporal this often (worker heartbeats); one silent for
# three intervals counts as gone. The banner relies on it to notice a stopped worker.
WORKER_HEARTBEAT_SECONDS = env_float("WORKER_HEARTBEAT_SECONDS", 5.0)
# Port of runworker's Prometheus endpoint (SDK and desk metrics); 0 = off.
WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 0)
WORKER_METRICS_HOST = os.environ.get("WORKER_METRICS_HOST", "0.0.0.0")
# OpenTelemetry tracing through the Temporal SDK's interceptor (web and worker).
# Needs the opentelemetry packages, which requirements.txt does not install.
OTEL_ENABLED = env_bool("OTEL_ENABLED", False)

# The live panel's push channel (orders/live/, docs/live-panel.md): open streams
# allowed per session and per web process (past them the page polls), and the
# hub's periods in seconds (orders.live.hub.Timing: tick, settle, moving,
# waiting, fallback, access, heartbeat, slow_client, max_life) as JSON, e.g.
# LIVE_PANEL_TIMING='{"moving": 5}'.
LIVE_PANEL_STREAMS_PER_SESSION = env_int("LIVE_PANEL_STREAMS_PER_SESSION", 20)
LIVE_PANEL_STREAMS_PER_PROCESS = env_int("LIVE_PANEL_STREAMS_PER_PROCESS", 5000)
LIVE_PANEL_TIMING = json.loads(os.environ.get("LIVE_PANEL_TIMING", "") or "{}")
