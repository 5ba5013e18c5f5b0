"""One settings file, read from the environment (12-factor).

Production is this file with environment variables set (`.env.example` lists them all).
The embedded demo (`DEMO_MODE=true`) defaults to SQLite and kombu's filesystem broker under
`DATA_DIR`, so a laptop needs no server. Bad or missing configuration stops start-up with an
`ImproperlyConfigured` naming the variable.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env is a convenience for developers; real deployments set the environment.
if (BASE_DIR / ".env").is_file() and not os.environ.get("CLINIC_IGNORE_DOTENV"):
    env.read_env(str(BASE_DIR / ".env"))


def _fail(variable: str, problem: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{variable}: {problem}")


DEMO_MODE = env.bool("DEMO_MODE", default=False)
DEBUG = env.bool("DEBUG", default=False)
TESTING = env.bool("CLINIC_TESTING", default=False)

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var")))

# --- secrets -------------------------------------------------------------------------------
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if DEMO_MODE or TESTING:
        # Only ever used on loopback (DEMO_MODE refuses public addresses) or in tests.
        SECRET_KEY = "demo-insecure-key-never-used-in-production-0123456789abcdefghijklmnop"
    else:
        raise _fail("SECRET_KEY", "is required outside DEMO_MODE (50+ random characters).")
elif len(SECRET_KEY) < 50 and not (DEMO_MODE or TESTING):
    raise _fail("SECRET_KEY", "must be at least 50 characters long.")

LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]", "::1"]
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=LOOPBACK_HOSTS if (DEMO_MODE or TESTING) else [])
if not ALLOWED_HOSTS:
    raise _fail("ALLOWED_HOSTS", "is required outside DEMO_MODE (comma-separated host names).")
if DEMO_MODE:
    public = [h for h in ALLOWED_HOSTS if h not in LOOPBACK_HOSTS and h != "testserver"]
    if public:
        raise _fail(
            "DEMO_MODE",
            f"serves loopback only, but ALLOWED_HOSTS names {', '.join(public)}. "
            "Turn DEMO_MODE off to serve a real address.",
        )
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- applications --------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "simple_history",
    "csp",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "clinic.core",
    "patients",
    "treatments",
    "adverse_events",
    "clinic",
]

MIDDLEWARE = [
    # First: every log line of the request carries its id; the latency histogram times all.
    "clinic.core.logcontext.RequestIdMiddleware",
    "clinic.core.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "clinic.core.middleware.DemoLoopbackOnlyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "clinic.core.middleware.SessionEpochMiddleware",
    "clinic.core.middleware.StaffLanguageMiddleware",
    "clinic.core.logcontext.LogUserMiddleware",
    "clinic.core.middleware.StaffSessionTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, so that a locked-out login is answered before the view runs.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clinic.urls"
WSGI_APPLICATION = "clinic.wsgi.application"
AUTH_USER_MODEL = "core.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "clinic.core.context_processors.site",
            ],
        },
    },
]

# --- database ------------------------------------------------------------------------------
DATA_DIR.mkdir(parents=True, exist_ok=True)
_database_url = env.str("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'clinic.sqlite3'}")
_scheme = urlparse(_database_url).scheme
if _scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
    raise _fail(
        "DATABASE_URL",
        f"unsupported scheme {_scheme or '(none)'!r}; use postgres://user@host:5432/name "
        "or sqlite:////absolute/path.sqlite3",
    )
try:
    _db = env.db_url_config(_database_url)
except Exception as exc:  # django-environ raises several types for malformed URLs
    raise _fail("DATABASE_URL", f"cannot be parsed ({exc})") from exc
if _db["ENGINE"] == "django.db.backends.sqlite3":
    if not _db.get("NAME"):
        raise _fail("DATABASE_URL", "a SQLite URL needs a file path")
    _db["OPTIONS"] = {
        # Writers take the lock at BEGIN, so two writers queue instead of deadlocking.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=20000;"
        ),
    }
else:
    if not _db.get("NAME"):
        raise _fail("DATABASE_URL", "a PostgreSQL URL needs a database name")
    _db["ENGINE"] = "django.db.backends.postgresql"
    # Persistent connections: without them throughput falls to about a seventh.
    _db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    _db["CONN_HEALTH_CHECKS"] = True
    _db.setdefault("OPTIONS", {})["connect_timeout"] = env.int("DB_CONNECT_TIMEOUT", default=5)
DATABASES = {"default": _db}
IS_POSTGRES = _db["ENGINE"] == "django.db.backends.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth, sessions, two factors -----------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {
        # 100,800 entries shipped in the repository (clinic/core/data/README.md), in place of
        # Django's 20,000.
        "NAME": "django.contrib.auth.password_validation.CommonPasswordValidator",
        "OPTIONS": {
            "password_list_path": BASE_DIR / "clinic" / "core" / "data" / "common-passwords.txt.gz"
        },
    },
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "core:login"
# A password-reset link works for one hour, and not at all once the password has changed
# (Django's stateless tokens hash the password and the last login).
PASSWORD_RESET_TIMEOUT = 3600
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "core:login"
# A refused form renders in the site's layout with a way back (clinic/core/views.py).
CSRF_FAILURE_VIEW = "clinic.core.views.csrf_failure"
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Clinic tracker")

# Staff sessions: idle 15 minutes, absolute 12 hours (StaffSessionTimeoutMiddleware).
STAFF_IDLE_TIMEOUT = timedelta(minutes=env.int("STAFF_IDLE_TIMEOUT_MINUTES", default=15))
STAFF_ABSOLUTE_TIMEOUT = timedelta(hours=env.int("STAFF_ABSOLUTE_TIMEOUT_HOURS", default=12))
SESSION_COOKIE_AGE = int(STAFF_ABSOLUTE_TIMEOUT.total_seconds())
# An open dashboard refreshes its alarm panel and triage count this often (htmx polling; the
# polls send X-Background-Poll and do not count as activity for the idle timeout).
DASHBOARD_POLL_SECONDS = env.int("DASHBOARD_POLL_SECONDS", default=20)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# django-axes: lock an account + address after repeated failures.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token"]
# A page that says what happened and whom to ask, not a bare 403 text (HTTP 429).
AXES_LOCKOUT_TEMPLATE = "core/lockout.html"

# --- HTTPS and headers ---------------------------------------------------------------------
# Secure cookies and HTTPS redirects are on everywhere except the loopback demo and tests.
_https = env.bool("HTTPS", default=not (DEMO_MODE or TESTING))
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SECURE_SSL_REDIRECT = _https
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
SECURE_HSTS_PRELOAD = _https
SECURE_CONTENT_TYPE_NOSNIFF = True
# Not "no-referrer": under it browsers send `Origin: null` on same-origin form posts, and
# Django's CSRF check then refuses every form. "same-origin" still sends nothing off-site.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Probes and the metrics scraper talk plain HTTP inside the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz/", r"^metrics$"]
if env.bool("BEHIND_PROXY", default=not (DEMO_MODE or TESTING)):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Strict CSP: no inline script or style anywhere; every asset is served by the app itself.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}

# --- i18n and time -------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- static and media ----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# Uploaded photos are private: never under STATIC or a public MEDIA_URL; served by a view.
PRIVATE_MEDIA_ROOT = Path(env.str("PRIVATE_MEDIA_ROOT", default=str(DATA_DIR / "private")))
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(PRIVATE_MEDIA_ROOT)},
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if (TESTING or DEBUG)
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        ),
    },
}
WHITENOISE_USE_FINDERS = DEMO_MODE or TESTING or DEBUG
if WHITENOISE_USE_FINDERS:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing

# --- email and SMS -------------------------------------------------------------------------
if "EMAIL_URL" in os.environ:
    vars().update(env.email_url("EMAIL_URL"))
elif DEMO_MODE or TESTING:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(DATA_DIR / "outbox-mail")
else:
    raise _fail("EMAIL_URL", "is required outside DEMO_MODE, e.g. smtp+tls://user:pass@host:587")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="clinic@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
SMS_BACKEND = env.str("SMS_BACKEND", default="patients.sms.ConsoleSMSBackend")
SMS_PROVIDER_URL = env.str("SMS_PROVIDER_URL", default="")
SMS_PROVIDER_TOKEN = env.str("SMS_PROVIDER_TOKEN", default="")
SMS_SENDER_ID = env.str("SMS_SENDER_ID", default="CLINIC")
# How long a claimed outbox batch is held before the sweeper gives it to another worker
# (patients/outbox.py). Fault tests shorten it to watch recovery after a crash.
OUTBOX_LEASE_SECONDS = env.int("OUTBOX_LEASE_SECONDS", default=120)
# Shared secret the email provider signs bounce webhooks with (patients/webhooks.py).
EMAIL_WEBHOOK_SECRET = env.str("EMAIL_WEBHOOK_SECRET", default="")
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# --- cache ---------------------------------------------------------------------------------
# Shared by all gunicorn workers in production (the patient form's rate limits count here):
# CACHE_URL=redis://redis:6379/1. The default, per-process memory, suits the demo and tests.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

# --- Celery --------------------------------------------------------------------------------
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _sub in ("queue", "control"):
        (BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    # kombu's filesystem transport with atomic writes: a worker never reads a message that is
    # still being written (clinic/core/broker.py; docs/architecture.md has the measurements).
    CELERY_BROKER_TRANSPORT = "clinic.core.broker:AtomicFilesystemTransport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        # Processed messages are deleted, so the folder does not grow without limit.
        "store_processed": False,
    }
elif not CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    raise _fail("CELERY_BROKER_URL", "use redis://host:6379/0 (or filesystem:// for the demo)")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
# Task logs go through LOGGING below (JSON with the task's id), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# How often beat runs the check-in and outbox sweeps (clinic/celery.py reads the same
# variable); /healthz/ready fails when a sweep has not run for three intervals.
SWEEP_INTERVAL_SECONDS = env.float("SWEEP_INTERVAL_SECONDS", default=30.0)

# --- REST framework ------------------------------------------------------------------------
REST_FRAMEWORK = {
    # The /api/v1/ views answer an unauthenticated call with 401 and `WWW-Authenticate: Token`
    # (clinic.core.api.base.TokenChallengeMixin).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "knox.auth.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "clinic.core.api.pagination.ClinicCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "clinic.core.api.errors.api_exception_handler",
}
# API tokens (clinic/api/auth.py): hashed by knox, 30 days, no silent renewal.
REST_KNOX = {"TOKEN_TTL": timedelta(days=30), "AUTO_REFRESH": False, "TOKEN_LIMIT_PER_USER": 20}
SPECTACULAR_SETTINGS = {
    "TITLE": "Clinic exosome treatment tracker API",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["clinic.core.access.IsVerifiedStaff"],
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Two choice sets share the field name "source" (a product's, a reaction report's).
    "ENUM_NAME_OVERRIDES": {
        # A patient's language and a clinic's staff language are one choice set.
        "LanguageEnum": "clinic.core.models.Language",
        "ProductSourceEnum": "treatments.models.ProductSource",
        "ReportSourceEnum": "adverse_events.models.ReportSource",
    },
}

# --- health, metrics, error reports (docs/operations.md) ----------------------------------
# /healthz/ready gives each connection check this long (the broker's ping, the database's
# connect timeout is DB_CONNECT_TIMEOUT).
HEALTH_CHECK_TIMEOUT_SECONDS = env.float("HEALTH_CHECK_TIMEOUT_SECONDS", default=2.0)
# /metrics answers a Bearer token or an allowed network; with neither set it is off (404).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise _fail("METRICS_TOKEN", "must be at least 32 characters long (or empty: off).")
_metrics_cidrs = env.list("METRICS_ALLOWED_CIDRS", default=[])
try:
    METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network(c, strict=False) for c in _metrics_cidrs]
except ValueError as exc:
    raise _fail("METRICS_ALLOWED_CIDRS", f"not a network ({exc}); e.g. 10.0.0.0/8") from exc
# Under gunicorn and Celery's prefork pool each process writes its counters to files in
# PROMETHEUS_MULTIPROC_DIR (an environment variable prometheus-client reads itself); the
# scrape adds up every folder listed here (web's and the worker's), that one by default.
_multiproc_dirs = (
    [os.environ["PROMETHEUS_MULTIPROC_DIR"]] if "PROMETHEUS_MULTIPROC_DIR" in os.environ else []
)
METRICS_READ_DIRS = env.list("METRICS_READ_DIRS", default=_multiproc_dirs)
# Optional error reports to Sentry, scrubbed of patient data (clinic/core/errorscrub.py).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="production")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    from clinic.core.errorscrub import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )

# --- logging: no patient data; record ids only ---------------------------------------------
# One JSON object per line in production (time, level, logger, message, request_id, user_id,
# clinic_id, task_id); plain text for the demo's terminal. clinic/core/logformat.py.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEMO_MODE else "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise _fail("LOG_FORMAT", f"use json or plain, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "clinic.core.logformat.PlainFormatter"},
        "json": {"()": "clinic.core.logformat.JsonFormatter"},
    },
    "filters": {
        "redact_tokens": {"()": "clinic.core.logredact.RedactTokensFilter"},
        "context": {"()": "clinic.core.logcontext.ContextFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            # Personal-link tokens never reach a log line (django.request's 404s included).
            "filters": ["redact_tokens", "context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Access logs carry URLs only; patient search never puts names in a URL.
        "django.server": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
