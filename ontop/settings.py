"""OnTop settings, read from the environment (see README "Configuration").

Development (DEBUG=true, the default) gets safe local defaults that match the embedded
PostgreSQL/Redis that `make run` starts. Production (DEBUG=false) refuses to start unless
SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL and REDIS_URL are set, and turns on every
`check --deploy` hardening.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from gpu_worker.contract import all_contracts
from ontop.env import ConfigError, env_bool, env_email, env_int, env_list, env_str, env_timeouts, env_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ONTOP_VAR_DIR", str(BASE_DIR / "var")))

# Ports the dev stack (ontop.devstack) uses for its embedded servers; the defaults below
# point at them so `manage.py shell` works next to a running `make run`.
try:
    DEV_POSTGRES_PORT = env_int("ONTOP_DEV_PG_PORT", 54329, minimum=1, maximum=65535)
    DEV_REDIS_PORT = env_int("ONTOP_DEV_REDIS_PORT", 63790, minimum=1, maximum=65535)
    DEBUG = env_bool("DEBUG", True)
    PRODUCTION = not DEBUG

    _INSECURE_DEV_KEY = "django-insecure-ontop-dev-only-never-use-in-production"
    SECRET_KEY = env_str("SECRET_KEY", None if PRODUCTION else _INSECURE_DEV_KEY, required=PRODUCTION)
    if PRODUCTION and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5):
        raise ConfigError("SECRET_KEY must be at least 50 random characters in production.")

    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
    if PRODUCTION and not ALLOWED_HOSTS:
        raise ConfigError("ALLOWED_HOSTS must list the site's host names in production (comma-separated).")
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

    DATABASE_URL = env_url(
        "DATABASE_URL",
        None if PRODUCTION else f"postgres://postgres@127.0.0.1:{DEV_POSTGRES_PORT}/ontop",
        schemes=("postgres", "postgresql", "pgsql"),
        required=PRODUCTION,
    )
    REDIS_URL = env_url(
        "REDIS_URL",
        None if PRODUCTION else f"redis://127.0.0.1:{DEV_REDIS_PORT}/0",
        schemes=("redis", "rediss", "unix"),
        required=PRODUCTION,
    )

    MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
    S3_BUCKET = env_str("S3_BUCKET", "")
    S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL", "")
    S3_REGION = env_str("S3_REGION", "")
    # How long a picture's signed S3 URL works: the views check the owner before they hand one out,
    # so it only has to outlive the page load (SigV4 allows at most 7 days).
    S3_URL_EXPIRY_SECONDS = env_int("ONTOP_S3_URL_EXPIRY_SECONDS", 600, minimum=1, maximum=7 * 24 * 3600)
    # Content-Security-Policy (README "Production"): image hosts beyond our own, Naver's and the S3
    # bucket's, e.g. a CDN for curated product pictures: "https://img.example.com,https://*.cdn.example".
    CSP_EXTRA_IMG_SRC = env_list("ONTOP_CSP_IMG_SRC", [])
    if bad_sources := [s for s in CSP_EXTRA_IMG_SRC if not re.fullmatch(r"https://(\*\.)?[a-z0-9.-]+(:\d+)?", s)]:
        raise ConfigError(f"ONTOP_CSP_IMG_SRC takes https:// origins (https://cdn.example), not {bad_sources[0]!r}.")
    # /api/docs/ and /api/schema/ for everyone, or for staff only (the production default: see README).
    API_DOCS_PUBLIC = env_bool("ONTOP_API_DOCS_PUBLIC", DEBUG)

    DAILY_GENERATION_LIMIT = env_int("ONTOP_DAILY_GENERATION_LIMIT", 5, minimum=0, maximum=10_000)
    # The profile studio (studio/): how long an unused subject (its photos and models) is kept,
    # trainings per person per day, subjects per person, and the training steps sent to the GPU
    # (unset: the GPU worker's own default; tests set a few).
    SUBJECT_RETENTION_DAYS = env_int("ONTOP_SUBJECT_RETENTION_DAYS", 90, minimum=1, maximum=3650)
    STUDIO_DAILY_TRAININGS = env_int("ONTOP_STUDIO_DAILY_TRAININGS", 2, minimum=0, maximum=1000)
    STUDIO_MAX_SUBJECTS = env_int("ONTOP_STUDIO_MAX_SUBJECTS", 10, minimum=1, maximum=1000)
    STUDIO_TRAINING_STEPS = env_int("ONTOP_STUDIO_TRAINING_STEPS", None, minimum=1, maximum=5000)  # type: ignore[arg-type]
    # Portraits a person may start per day: a pack of N is N pictures. 48 = twelve packs of four.
    STUDIO_DAILY_PORTRAITS = env_int("ONTOP_STUDIO_DAILY_PORTRAITS", 48, minimum=0, maximum=10000)
    STUDIO_DAILY_ONE_PHOTO_PROFILES = env_int("ONTOP_STUDIO_DAILY_ONE_PHOTO_PROFILES", 10, minimum=0, maximum=10000)
    UPLOAD_MAX_BYTES = env_int("ONTOP_UPLOAD_MAX_BYTES", 15 * 1024 * 1024, minimum=1024)
    # Each workflow's contract names its timeout; "kind=seconds,kind=seconds" overrides some of them.
    JOB_TIMEOUT_OVERRIDES = env_timeouts("ONTOP_JOB_TIMEOUTS")
    if unknown_kinds := sorted(set(JOB_TIMEOUT_OVERRIDES) - set(all_contracts())):
        raise ConfigError(f"ONTOP_JOB_TIMEOUTS names unknown workflows: {', '.join(unknown_kinds)}.")
    if env_str("ONTOP_GPU_JOB_TIMEOUT", ""):
        raise ConfigError("ONTOP_GPU_JOB_TIMEOUT is gone: set ONTOP_JOB_TIMEOUTS=kind=seconds,... per workflow.")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)

    # Naver Shopping (shop/naver). Without credentials, offers come from the curated catalog.
    NAVER_CLIENT_ID = env_str("NAVER_CLIENT_ID", "")
    NAVER_CLIENT_SECRET = env_str("NAVER_CLIENT_SECRET", "")
    if bool(NAVER_CLIENT_ID) != bool(NAVER_CLIENT_SECRET):
        raise ConfigError("Set both NAVER_CLIENT_ID and NAVER_CLIENT_SECRET, or neither.")
    NAVER_API_BASE_URL = env_url("NAVER_API_BASE_URL", "https://openapi.naver.com", schemes=("https", "http"))
    NAVER_DAILY_CALL_LIMIT = env_int("NAVER_DAILY_CALL_LIMIT", 24_000, minimum=0, maximum=1_000_000)
    NAVER_CACHE_SECONDS = env_int("NAVER_CACHE_SECONDS", 6 * 3600, minimum=0)
    NAVER_TIMEOUT_SECONDS = env_int("NAVER_TIMEOUT_SECONDS", 5, minimum=1, maximum=60)
    NAVER_MAX_RETRIES = env_int("NAVER_MAX_RETRIES", 2, minimum=0, maximum=5)
    # Buy links must point at these hosts (and their subdomains): Naver and large Korean malls.
    NAVER_TRUSTED_HOSTS = tuple(
        env_list(
            "NAVER_TRUSTED_HOSTS",
            [
                "naver.com",
                "11st.co.kr",
                "gmarket.co.kr",
                "auction.co.kr",
                "coupang.com",
                "ssg.com",
                "lotteon.com",
                "interpark.com",
                "hmall.com",
                "cjonstyle.com",
                "gsshop.com",
                "ohou.se",
            ],
        )
    )
    OFFERS_PER_ITEM = env_int("ONTOP_OFFERS_PER_ITEM", 3, minimum=1, maximum=10)
    OFFERS_STALE_HOURS = env_int("ONTOP_OFFERS_STALE_HOURS", 24, minimum=1)
    _BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)

    # Accounts (ontop/accounts/services.py, "login lockout"): wrong passwords lock one username from
    # one client address after LOGIN_LOCKOUT_ATTEMPTS, and a whole address after
    # LOGIN_LOCKOUT_ADDRESS_ATTEMPTS (many people can share one), for LOGIN_LOCKOUT_SECONDS.
    LOGIN_LOCKOUT_ATTEMPTS = env_int("ONTOP_LOGIN_LOCKOUT_ATTEMPTS", 5, minimum=1, maximum=1000)
    LOGIN_LOCKOUT_ADDRESS_ATTEMPTS = env_int("ONTOP_LOGIN_LOCKOUT_ADDRESS_ATTEMPTS", 30, minimum=1, maximum=100_000)
    LOGIN_LOCKOUT_SECONDS = env_int("ONTOP_LOGIN_LOCKOUT_SECONDS", 15 * 60, minimum=1, maximum=24 * 3600)
    # The client address is REMOTE_ADDR, or with N proxies of ours in front, the N-th address from the
    # right of X-Forwarded-For (ontop/accounts/addresses.py). Never more than you really have: a client
    # could then choose its own address.
    # Behind a TLS proxy there is at least that one: 0 would make every client the proxy's address,
    # and one guesser would lock everyone out again.
    TRUSTED_PROXY_COUNT = env_int(
        "ONTOP_TRUSTED_PROXY_COUNT", 1 if _BEHIND_TLS_PROXY else 0, minimum=1 if _BEHIND_TLS_PROXY else 0, maximum=10
    )
    # "Forgot password": requests per client address per hour, and e-mails per address per hour.
    PASSWORD_RESET_ADDRESS_LIMIT = 10
    PASSWORD_RESET_EMAIL_LIMIT = 3
    PASSWORD_RESET_TIMEOUT = 24 * 3600

    # E-mail: printed to the console in development; SMTP in production or whenever EMAIL_HOST is set.
    EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
    EMAIL_PORT = env_int("EMAIL_PORT", 587 if EMAIL_USE_TLS else 25, minimum=1, maximum=65535)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
    if bool(EMAIL_HOST_USER) != bool(EMAIL_HOST_PASSWORD):
        raise ConfigError("Set both EMAIL_HOST_USER and EMAIL_HOST_PASSWORD, or neither.")
    if PRODUCTION and EMAIL_HOST_PASSWORD and not EMAIL_USE_TLS:
        raise ConfigError("EMAIL_HOST_PASSWORD would be sent unencrypted: set EMAIL_USE_TLS=true.")
    # Default sender: noreply@ the site's first host name.
    _MAIL_HOST = next(
        (h.strip(".") for h in ALLOWED_HOSTS if "." in h.strip(".") and not h.replace(".", "").isdigit()),
        "localhost",
    )
    DEFAULT_FROM_EMAIL = env_email("DEFAULT_FROM_EMAIL", f"OnTop <noreply@{_MAIL_HOST}>")
    SERVER_EMAIL = DEFAULT_FROM_EMAIL
    EMAIL_TIMEOUT = 10
    EMAIL_BACKEND = (
        "django.core.mail.backends.smtp.EmailBackend"
        if PRODUCTION or env_str("EMAIL_HOST", "")
        else "django.core.mail.backends.console.EmailBackend"
    )
    # /metrics (ontop/metrics.py): served to these addresses (CIDRs or single addresses) or to a
    # request with "Authorization: Bearer <ONTOP_METRICS_TOKEN>". Behind a reverse proxy REMOTE_ADDR
    # is the proxy's: keep /metrics off the proxy and let Prometheus scrape the web process directly
    # (a request carrying a proxy's headers needs the token: ontop/metrics.py).
    METRICS_TOKEN = env_str("ONTOP_METRICS_TOKEN", "")
    if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
        raise ConfigError("ONTOP_METRICS_TOKEN must be at least 16 characters (or unset).")
    try:
        METRICS_ALLOWED_NETWORKS = tuple(
            ipaddress.ip_network(item, strict=False)
            for item in env_list("ONTOP_METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
        )
    except ValueError as exc:
        raise ConfigError(f"ONTOP_METRICS_ALLOWED_IPS: {exc}") from None
    # prometheus_client reads it itself (multiprocess mode); a missing folder would be a traceback
    # at the first counted request, not a message.
    _metrics_dir = env_str("PROMETHEUS_MULTIPROC_DIR", "")
    if _metrics_dir and not (Path(_metrics_dir).is_dir() and os.access(_metrics_dir, os.W_OK | os.X_OK)):
        raise ConfigError(
            f"PROMETHEUS_MULTIPROC_DIR={_metrics_dir!r} must be an existing folder this process can write to."
        )
except ConfigError as exc:  # Django reports ImproperlyConfigured; manage.py/wsgi print it plainly.
    raise ImproperlyConfigured(str(exc)) from None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_rq",
    "ontop",
    "ontop.accounts",
    "generation",
    "makeovers",
    "diary",
    "studio",
    "shop",
]

MIDDLEWARE = [
    # First and last: django-prometheus times every request and counts it per view (ontop/metrics.py).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so static files (our SVGs too) carry the policy as well.
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "ontop.middleware.ServiceBusyMiddleware",
    # After CSPMiddleware, so it answers first: the one third-party page that needs an exception.
    "ontop.middleware.RqDashboardScriptsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "ontop.urls"
WSGI_APPLICATION = "ontop.wsgi.application"
ASGI_APPLICATION = "ontop.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "generation.context_processors.products",
            ],
        },
    },
]

DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# One Redis connection pool per process (ontop/redis_pool.py): the cache, DRF's throttles, RQ
# (USE_REDIS_CACHE below) and the progress reads all borrow from it.
CACHES = {
    "default": {
        "BACKEND": "ontop.redis_pool.SharedPoolRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "ontop",
    }
}

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:logged_out"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ko", _("Korean"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Asia/Seoul")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
# Uploads and results are private: there is deliberately no public MEDIA_URL route.
# Files are served through views that check the owner (or through expiring S3 URLs).
MEDIA_URL = "/media-not-public/"
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_MAX_BYTES + 1024 * 1024

if S3_BUCKET:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": S3_ENDPOINT_URL or None,
            "region_name": S3_REGION or None,
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": S3_URL_EXPIRY_SECONDS,
            # botocore still presigns with the legacy SigV2 in us-east-1; newer regions accept only SigV4.
            "signature_version": "s3v4",
            # A server of our own is reached by address and has no per-bucket host names.
            "addressing_style": "path" if S3_ENDPOINT_URL else None,
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG


def _storage_image_sources() -> list[str]:
    """Where a picture's signed S3 URL points (the picture views redirect there), or nothing."""
    if not S3_BUCKET:
        return []
    if S3_ENDPOINT_URL:  # path-style (endpoint/bucket/key) or virtual-host (bucket.endpoint/key)
        endpoint = urlsplit(S3_ENDPOINT_URL)
        return [f"{endpoint.scheme}://{endpoint.netloc}", f"{endpoint.scheme}://*.{endpoint.netloc}"]
    regional = [f"https://{S3_BUCKET}.s3.{S3_REGION}.amazonaws.com"] if S3_REGION else []
    return [f"https://{S3_BUCKET}.s3.amazonaws.com", *regional]


# Content-Security-Policy on every response (django-csp). Scripts and styles come only from our own
# static files: no inline <script>, no on* handlers, no style attributes (static/js/site.js applies
# the few computed styles through the CSSOM, which CSP allows). Pictures: ours, blob: for the
# preview of a photo being chosen (new.js, one_photo.js), Naver's product pictures (the hosts
# shop/naver/client.py accepts), the S3 bucket and ONTOP_CSP_IMG_SRC. /api/docs/ adds data: for
# Swagger UI's icons (ontop/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": [
            "'self'",
            "blob:",
            "https://*.pstatic.net",
            "https://*.naver.net",
            "https://*.naver.com",
            *_storage_image_sources(),
            *CSP_EXTRA_IMG_SRC,
        ],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

_JSON_SERIALIZER = "rq.serializers.JSONSerializer"
RQ_QUEUES = {
    # Django-side jobs: finalize results, look up offers, sweep.
    # USE_REDIS_CACHE: django_rq takes its client from the cache, so RQ shares the process's pool.
    "default": {"USE_REDIS_CACHE": "default", "DEFAULT_TIMEOUT": 300, "SERIALIZER": _JSON_SERIALIZER},
    # Served first by the same workers (`rqworker urgent default`): a dead GPU worker's report and
    # the heartbeat sweep must not wait behind a slow sweep, an offer refresh or a queue of finalizes.
    "urgent": {"USE_REDIS_CACHE": "default", "DEFAULT_TIMEOUT": 60, "SERIALIZER": _JSON_SERIALIZER},
    # Served only by gpu_worker processes (python -m gpu_worker); listed here so the dashboard
    # shows them. dispatch.py enqueues to whichever queue a workflow's contract names.
    **{
        queue: {"USE_REDIS_CACHE": "default", "DEFAULT_TIMEOUT": 900, "SERIALIZER": _JSON_SERIALIZER}
        for queue in sorted({contract.queue for contract in all_contracts().values()})
    },
}
RQ_SHOW_ADMIN_LINK = True
# `manage.py rqworker`: survives Redis outages, and a killed scheduler blocks scheduled retries
# for seconds, not ten minutes (ontop/rq_worker.py).
RQ = {"WORKER_CLASS": "ontop.rq_worker.ResilientWorker"}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "ontop.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "ontop.schema.OnTopAutoSchema",
    # JSON unless a view takes files (it then names MultiPartParser): one documented body per
    # endpoint, which generated clients handle (three identical ones broke openapi-python-client).
    # ontop.api.JSONParser: DRF's, with a depth bound (1,000 nested levels are a 400, not a 500).
    "DEFAULT_PARSER_CLASSES": ["ontop.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "ontop.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    # Throttles find the client address as login lockout does (ontop/accounts/addresses.py).
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("ONTOP_API_ANON_RATE", "300/hour"),
        "user": env_str("ONTOP_API_USER_RATE", "3000/hour"),
        "login": env_str("ONTOP_API_LOGIN_RATE", "10/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OnTop API",
    "DESCRIPTION": "The desk-makeover API used by the OnTop mobile app.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Not public in production by default (README "Production"): staff only, by session or API token.
    "SERVE_PERMISSIONS": [
        "rest_framework.permissions.AllowAny" if API_DOCS_PUBLIC else "rest_framework.permissions.IsAdminUser"
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per set of codes, wherever a serializer uses it (else drf-spectacular warns and guesses).
    "ENUM_NAME_OVERRIDES": {
        "ToneChoiceEnum": "gpu_worker.contract.tone.TONE_CHOICES",
        "ToneEnum": "gpu_worker.contract.tone.TONES",
        "SubjectKindEnum": "gpu_worker.contract.subject_photo_check.SUBJECT_KINDS",
    },
}

# Hardening. In production every `manage.py check --deploy` item is on.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
if _BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Lines about a job carry its id (ontop/log_context.py): `job=<id>` appended in plain text (for
# people), or one JSON object per line for a log shipper (ONTOP_LOG_FORMAT=json).
LOG_FORMAT = env_str("ONTOP_LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"ONTOP_LOG_FORMAT must be plain or json; got {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"job_id": {"()": "ontop.log_context.JobIdFilter"}},
    "formatters": {
        "plain": {
            "()": "ontop.log_context.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        },
        "json": {"()": "ontop.log_context.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["job_id"]},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
