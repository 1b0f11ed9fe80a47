"""Settings: every value comes from the environment, with a safe local default.

The defaults give the embedded demo (`make run`): SQLite and a file-based Celery
broker under `var/`, sandbox channels. Production sets DATABASE_URL and REDIS_URL.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A developer's own variables, one KEY=value a line (never in the image: .dockerignore);
# what the environment already sets wins. `make test` writes one with this checkout's key,
# so that `manage.py ...` works in the checkout as it does in production, with a key.
ENV_FILE = Path(env.str("TACT_ENV_FILE", default=str(BASE_DIR / ".env")))
if ENV_FILE.is_file():
    environ.Env.read_env(ENV_FILE)
VAR_DIR = Path(env.str("TACT_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. With DJANGO_DEBUG=false (the default) Tact does not start without "
            "a secret key: set DJANGO_SECRET_KEY to 50 or more random characters, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`. "
            "For the local demo only, DJANGO_DEBUG=true keeps a generated key in var/secret-key."
        )
    # The demo's key, made once per checkout and kept out of the code.
    key_file = VAR_DIR / "secret-key"
    if not key_file.exists():
        from django.core.management.utils import get_random_secret_key

        key_file.write_text(get_random_secret_key())
        key_file.chmod(0o600)
    SECRET_KEY = key_file.read_text().strip()
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS, cookies and headers: secure by default, relaxed only for DEBUG (the demo is
# plain http://127.0.0.1). `manage.py check --deploy` passes with these defaults.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
# Health checks come over plain http from inside the container or the load balancer.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$", r"^health/$", r"^metrics$"]
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = env.bool("DJANGO_SESSION_COOKIE_HTTPONLY", default=True)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = env.bool("DJANGO_SECURE_CONTENT_TYPE_NOSNIFF", default=True)
SECURE_REFERRER_POLICY = env.str("DJANGO_SECURE_REFERRER_POLICY", default="same-origin")
X_FRAME_OPTIONS = env.str("DJANGO_X_FRAME_OPTIONS", default="DENY")


def _proxy_ssl_header() -> tuple[str, str] | None:
    """DJANGO_SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https": the header by which the
    TLS-terminating proxy says a request came over HTTPS. Only behind a proxy that sets it."""
    raw = env.str("DJANGO_SECURE_PROXY_SSL_HEADER", default="").strip()
    if not raw:
        return None
    header, _, value = (part.strip() for part in raw.partition(","))
    if not header.startswith("HTTP_") or not value:
        raise ImproperlyConfigured(f"DJANGO_SECURE_PROXY_SSL_HEADER must read HEADER,value "
                                   f"(e.g. HTTP_X_FORWARDED_PROTO,https), not {raw!r}")
    return header, value


SECURE_PROXY_SSL_HEADER = _proxy_ssl_header()
# Reverse proxies in front of the app that append the client's address to X-Forwarded-For
# (one nginx: 1). 0: clients connect directly and X-Forwarded-For is ignored (it could be
# forged). Throttling and the login lockout both count per client address.
TACT_PROXY_COUNT = env.int("TACT_PROXY_COUNT", default=0)

INSTALLED_APPS = [
    # Ours first, so that our admin templates (the channels banner) extend unfold's, and
    # unfold's before Django's admin, whose templates it replaces (the admin stays Django's).
    "campaigns",
    "channels",
    "unfold",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Who changed what, with before and after (append-only on PostgreSQL).
    "auditlog",
    # Lockout after repeated failed admin logins.
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the path or query: NUL or bytes that are not UTF-8 answer 400.
    "config.middleware.BadInputMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's Accept-Language (a user's profile language overrides it below).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After authentication: the audit log's actor is whoever the request turns out to be
    # (session in the admin, token in the API).
    "campaigns.audit.AuditActorMiddleware",
    # After authentication: the user's own time zone and language (campaigns.UserProfile).
    "campaigns.middleware.UserZoneMiddleware",
    # The operator's default phone region read once per request, not per address.
    "campaigns.middleware.PhoneRegionMiddleware",
    # Last, as django-axes asks: counts failed logins and refuses a locked-out login.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# django-axes: after TACT_LOGIN_FAILURE_LIMIT wrong passwords for one username from one
# address, that pair is locked out for TACT_LOGIN_COOLOFF_HOURS (0: until an operator
# deletes the attempt under Axes > Access attempts), even with the right password.
AXES_FAILURE_LIMIT = env.int("TACT_LOGIN_FAILURE_LIMIT", default=5)
_cooloff_hours = env.float("TACT_LOGIN_COOLOFF_HOURS", default=1.0)
AXES_COOLOFF_TIME = timedelta(hours=_cooloff_hours) if _cooloff_hours > 0 else None
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "tact/login_locked.html"
# The same client address as the API's throttling (TACT_PROXY_COUNT).
AXES_CLIENT_IP_CALLABLE = "campaigns.api.auth.client_ip"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "channels.context.channel_status",
            ],
        },
    },
]

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'tact.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the demo database: wait for locks instead of failing,
    # take the write lock up front, and let readers run beside the writer.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# The admin's language when neither the user's profile nor the browser asks for one we have.
LANGUAGE_CODE = env.str("DJANGO_LANGUAGE_CODE", default="en")
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The zone in which the admin shows times and in which a `local_time` campaign's
# wall clock is read.
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # The image collects static files and sets whitenoise's CompressedManifestStaticFilesStorage.
    "staticfiles": {"BACKEND": env.str("DJANGO_STATIC_STORAGE",
                                       default="django.contrib.staticfiles.storage.StaticFilesStorage")},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # A safety net under the log calls (which log ids and masked addresses): any run of 7+
    # digits left in a message or traceback (a phone number, a chat id) is masked.
    "filters": {"redact": {"()": "campaigns.logs.RedactFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # runserver's request lines, through the same filter.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # httpx logs each request's URL at INFO, and the Bot API's URL holds the bot token.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # python-telegram-bot logs the Bot API's URL (with the bot token) at DEBUG.
        "telegram": {"level": "INFO"},
    },
}

# --- REST API -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's tokens, refused after TACT_TOKEN_TTL_HOURS.
        "campaigns.api.auth.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # The admin's permissions: view_/add_/change_/delete_ per model, one per custom action.
    "DEFAULT_PERMISSION_CLASSES": ["campaigns.api.permissions.StaffModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # JSON deeper than 32 levels, NUL or lone surrogates anywhere in it: 400 naming the field.
    "DEFAULT_PARSER_CLASSES": [
        "campaigns.api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # drf-spectacular's, plus the 4xx answers every operation can give (for clients and
    # for schemathesis's status-code check).
    "DEFAULT_SCHEMA_CLASS": "campaigns.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "campaigns.api.errors.exception_handler",
    # POST /api/auth/token/ per client address (429 with Retry-After past it); counted in
    # the shared cache, so the limit holds across web processes.
    "DEFAULT_THROTTLE_RATES": {"auth": env.str("TACT_TOKEN_RATE", default="10/min")},
    "NUM_PROXIES": TACT_PROXY_COUNT,
}
# Hours an API token stays valid after it is issued (0: until revoked).
TACT_TOKEN_TTL_HOURS = env.float("TACT_TOKEN_TTL_HOURS", default=720)
SPECTACULAR_SETTINGS = {
    "TITLE": "Tact API",
    "DESCRIPTION": "Subscribers, consent, segments, drafts, campaigns and the delivery ledger.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs are for logged-in staff (session or token).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    # Swagger UI and Redoc from our own static files: the docs load nothing from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: it would send the schema to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "PlatformEnum": "campaigns.models.PlatformChoices",
        "SubscriptionStatusEnum": "campaigns.models.Subscription.Status",
        "CampaignStatusEnum": "campaigns.models.Campaign.Status",
        "DeliveryStatusEnum": "campaigns.models.Delivery.Status",
        "ImportJobStateEnum": "campaigns.models.ImportJob.State",
    },
}

# --- The admin's look: django-unfold over Django's admin -------------------------------
UNFOLD = {
    "SITE_TITLE": "Tact",
    "SITE_HEADER": "Tact",
    "SITE_SYMBOL": "campaign",
    "SHOW_VIEW_ON_SITE": False,
    "SIDEBAR": {
        "show_search": True,
        # Pages outside the groups below (e.g. access logs) stay reachable from "All applications".
        "show_all_applications": True,
        "navigation": "campaigns.admin.navigation.sidebar",
    },
    "DASHBOARD_CALLBACK": "campaigns.admin.dashboard.dashboard",
    # The user menu: "My settings" (time zone, language) and "Change password".
    "ACCOUNT": {"navigation": "campaigns.admin.my_settings.account_links"},
    # Not an environment's name: the zone every date on the page is shown and entered in, in the header.
    "ENVIRONMENT": "campaigns.admin.dates.zone_badge",
    # On every page: search-as-you-type pickers named by their field's label (select2 leaves an empty one unnamed).
    "SCRIPTS": ["campaigns.admin.assets.select2_labels"],
}

# --- Celery -------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# The cache holds the API's throttle counts: shared by every web process through Redis;
# the demo's processes share files under var/.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "tact-cache"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(VAR_DIR / "cache")}}
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
else:
    # Embedded default: a broker made of files under var/, no server needed.
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # broadcast (inspect/ping) exchanges, not the cwd
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# One queue per platform, so a slow platform never blocks another; `celery` for the rest.
CELERY_TASK_DEFAULT_QUEUE = "celery"
TACT_QUEUES = ("celery", "telegram", "whatsapp", "viber")
# `celery -A config worker` with no flags consumes every queue; `-Q telegram` still lets
# an operator give a platform hosts of its own.
CELERY_TASK_QUEUES = tuple(Queue(name, routing_key=name) for name in TACT_QUEUES)
# The database holds every schedule; beat only ticks (no long ETAs or countdowns).
TACT_TICK_SECONDS = env.float("TACT_TICK_SECONDS", default=2.0)
TACT_SWEEP_SECONDS = env.float("TACT_SWEEP_SECONDS", default=15.0)
CELERY_BEAT_SCHEDULE = {
    "tick": {"task": "campaigns.tasks.tick", "schedule": TACT_TICK_SECONDS, "options": {"expires": TACT_TICK_SECONDS * 5}},
    "sweep": {"task": "campaigns.tasks.sweep", "schedule": TACT_SWEEP_SECONDS, "options": {"expires": TACT_SWEEP_SECONDS * 2}},
    # Webhook callbacks kept because they could not be handled when they came.
    "pending-updates": {"task": "channels.tasks.retry_pending", "schedule": TACT_SWEEP_SECONDS,
                        "options": {"expires": TACT_SWEEP_SECONDS * 2}},
    # Platforms in the sandbox report delivered / read a few seconds after sending (does
    # nothing for a platform with credentials).
    "sandbox-receipts": {"task": "campaigns.tasks.sandbox_receipts", "schedule": TACT_TICK_SECONDS,
                         "options": {"expires": TACT_TICK_SECONDS * 5}},
}
if REDIS_URL:
    # A lost worker's unacknowledged task comes back after this; the sweeper is faster.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

# --- Platforms ----------------------------------------------------------------------
TELEGRAM_BOT_TOKEN = env.str("TELEGRAM_BOT_TOKEN", default="")
TELEGRAM_API_URL = env.str("TELEGRAM_API_URL", default="https://api.telegram.org").rstrip("/").removesuffix("/bot") + "/bot"  # root or .../bot
TELEGRAM_WEBHOOK_SECRET = env.str("TELEGRAM_WEBHOOK_SECRET", default="")
WHATSAPP_ACCESS_TOKEN = env.str("WHATSAPP_ACCESS_TOKEN", default="")
WHATSAPP_PHONE_NUMBER_ID = env.str("WHATSAPP_PHONE_NUMBER_ID", default="")
WHATSAPP_API_URL = env.str("WHATSAPP_API_URL", default="https://graph.facebook.com/v21.0")
WHATSAPP_APP_SECRET = env.str("WHATSAPP_APP_SECRET", default="")
WHATSAPP_VERIFY_TOKEN = env.str("WHATSAPP_VERIFY_TOKEN", default="")
VIBER_AUTH_TOKEN = env.str("VIBER_AUTH_TOKEN", default="")
VIBER_API_URL = env.str("VIBER_API_URL", default="https://chatapi.viber.com/pa")
VIBER_SENDER_NAME = env.str("VIBER_SENDER_NAME", default="Tact")


def _limit_overrides(name: str) -> dict[str, int | None]:
    """Per-platform overrides such as TACT_LIST_SIZE_VIBER=250 (empty means no limit)."""
    out: dict[str, int | None] = {}
    for platform in ("telegram", "whatsapp", "viber"):
        key = f"TACT_{name}_{platform.upper()}"
        if key in env.ENVIRON:
            raw = env.str(key).strip()
            out[platform] = int(raw) if raw else None
    return out


# Platform figures (defaults in channels/limits.py, from shared/PLATFORMS.md).
TACT_PREVIEW_LENGTH = _limit_overrides("PREVIEW_LENGTH")
TACT_BODY_LENGTH = _limit_overrides("BODY_LENGTH")
TACT_LIST_SIZE = _limit_overrides("LIST_SIZE")
TACT_VIP_GROUP_MIN = env.int("TACT_VIP_GROUP_MIN", default=10)
TACT_VIP_GROUP_MAX = env.int("TACT_VIP_GROUP_MAX", default=15)
# Sending: ceilings per platform account in messages/s (empty: no ceiling), defaults from
# shared/PLATFORMS.md; messages in flight at once per list; timeouts and leases.
def _rates() -> dict[str, float | None]:
    defaults = {"telegram": 30.0, "whatsapp": 80.0, "viber": 50.0}
    out: dict[str, float | None] = {}
    for platform, default in defaults.items():
        raw = env.str(f"TACT_RATE_{platform.upper()}", default=str(default)).strip()
        out[platform] = float(raw) if raw else None
    return out


TACT_RATE = _rates()
TACT_MAX_IN_FLIGHT = env.int("TACT_MAX_IN_FLIGHT", default=100)
# Where a platform has no list size (Telegram), its audience is cut into send batches of
# this many, so that several workers share a large campaign.
TACT_SEND_BATCH = env.int("TACT_SEND_BATCH", default=5000)
TACT_SEND_TIMEOUT = env.float("TACT_SEND_TIMEOUT", default=20.0)
TACT_MAX_ATTEMPTS = env.int("TACT_MAX_ATTEMPTS", default=5)
TACT_RETRY_BACKOFF_SECONDS = env.float("TACT_RETRY_BACKOFF_SECONDS", default=5.0)
# A list whose task has not reported for this long is enqueued again by the sweeper.
TACT_LIST_LEASE_SECONDS = env.float("TACT_LIST_LEASE_SECONDS", default=60.0)
# A row left `sending` this long (longer than any platform call) became `uncertain`.
TACT_SENDING_LEASE_SECONDS = env.float("TACT_SENDING_LEASE_SECONDS", default=120.0)
# When a person can be reached on several chosen platforms, the first one here wins.
TACT_PLATFORM_PREFERENCE = env.list("TACT_PLATFORM_PREFERENCE", default=["telegram", "whatsapp", "viber"])

# Region used to read phone numbers written without a country code ("89990001122").
# Empty: such numbers are refused and must be written in international form.
TACT_DEFAULT_PHONE_REGION = env.str("TACT_DEFAULT_PHONE_REGION", default="") or None
# WhatsApp 131049 (Meta's per-person marketing limit): the row waits this long, then is
# sent again; never failed.
TACT_RECIPIENT_LIMIT_RETRY_HOURS = env.float("TACT_RECIPIENT_LIMIT_RETRY_HOURS", default=24.0)
# A webhook callback that could not be handled (database error, ...) is kept and tried
# again after this many seconds, doubling each time up to the maximum; never dropped.
TACT_PENDING_RETRY_SECONDS = env.float("TACT_PENDING_RETRY_SECONDS", default=30.0)
TACT_PENDING_RETRY_MAX_SECONDS = env.float("TACT_PENDING_RETRY_MAX_SECONDS", default=3600.0)
# A platform that cannot be reached, or refuses our account (revoked token, no balance):
# the waiting rows are tried again after this long; nobody is failed for it.
TACT_PLATFORM_RETRY_SECONDS = env.float("TACT_PLATFORM_RETRY_SECONDS", default=60.0)
# Local-time campaigns read each zone's audience this long before the zone's send time.
TACT_PLAN_AHEAD_SECONDS = env.float("TACT_PLAN_AHEAD_SECONDS", default=300.0)

# --- Roles, privacy and retention ---------------------------------------------------
# Maker-checker: a campaign asked to be scheduled waits for another user's approval.
TACT_REQUIRE_APPROVAL = env.bool("TACT_REQUIRE_APPROVAL", default=False)
# Key of the keyed hash (HMAC-SHA256) kept of an erased person's addresses. Changing it
# means old hashes no longer match an address presented later; keep it with the backups.
TACT_PSEUDONYM_KEY = env.str("TACT_PSEUDONYM_KEY", default="") or SECRET_KEY
# Sender accounts' credentials are encrypted with this (Fernet keys, comma-separated, the first
# encrypts; empty: a key derived from DJANGO_SECRET_KEY). See campaigns/credentials.py.
TACT_CREDENTIALS_KEY = env.str("TACT_CREDENTIALS_KEY", default="")
# How long records about people are kept, in days; a daily task purges what is older.
# Consent events are kept (pseudonymised after an erasure): they are the proof.
TACT_RETAIN_DELIVERIES_DAYS = env.int("TACT_RETAIN_DELIVERIES_DAYS", default=365)
TACT_RETAIN_OUTBOX_DAYS = env.int("TACT_RETAIN_OUTBOX_DAYS", default=30)
TACT_RETAIN_INBOUND_KEYS_DAYS = env.int("TACT_RETAIN_INBOUND_KEYS_DAYS", default=30)
TACT_RETAIN_EARLY_RECEIPTS_DAYS = env.int("TACT_RETAIN_EARLY_RECEIPTS_DAYS", default=7)
TACT_RETAIN_IMPORT_JOBS_DAYS = env.int("TACT_RETAIN_IMPORT_JOBS_DAYS", default=30)
CELERY_BEAT_SCHEDULE["purge"] = {"task": "campaigns.tasks.purge", "schedule": 24 * 3600.0,
                                 "options": {"expires": 3600}}
# The wording a person is shown before subscribing through a bot, stored with their opt-in
# as proof: TACT_CONSENT_TEXT_<PLATFORM>_<LANG> (TELEGRAM, WHATSAPP, VIBER; EN, RU) replaces
# the default in channels/inbound.py (CONSENT_TEXT).
TACT_CONSENT_TEXT = {
    f"{platform}_{language}": text
    for platform in ("telegram", "whatsapp", "viber") for language in ("en", "ru")
    if (text := env.str(f"TACT_CONSENT_TEXT_{platform.upper()}_{language.upper()}", default="").strip())
}
# CSV imports: the largest file and the most rows accepted; files with more rows than
# TACT_IMPORT_SYNC_MAX_ROWS go through a background job (POST /api/imports/).
TACT_IMPORT_MAX_BYTES = env.int("TACT_IMPORT_MAX_BYTES", default=20 * 1024 * 1024)
TACT_IMPORT_MAX_ROWS = env.int("TACT_IMPORT_MAX_ROWS", default=200_000)
TACT_IMPORT_SYNC_MAX_ROWS = env.int("TACT_IMPORT_SYNC_MAX_ROWS", default=5_000)
# An import job queued this long without a worker taking it (a lost message) is enqueued
# again; a running job whose worker died is enqueued again at the next sweep.
TACT_IMPORT_LEASE_SECONDS = env.float("TACT_IMPORT_LEASE_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE["import-sweep"] = {"task": "campaigns.tasks.import_sweep", "schedule": TACT_SWEEP_SECONDS,
                                        "options": {"expires": TACT_SWEEP_SECONDS * 2}}

# Content (issue 10). Where people reach Tact from the internet: tracked links
# ({TACT_PUBLIC_URL}/r/<token>) and media a platform fetches by URL (Viber) point here.
TACT_PUBLIC_URL = env.str("TACT_PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")
# Uploaded media (drafts) through Django's storage API: local files under MEDIA_ROOT by
# default; set DJANGO_MEDIA_STORAGE to an S3-compatible backend (django-storages, the `s3`
# extra) to keep them there, with its options as JSON in DJANGO_MEDIA_STORAGE_OPTIONS, e.g.
# {"bucket_name": "tact-media", "endpoint_url": "https://s3.example.com"} (the keys from AWS_*).
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES["default"] = {"BACKEND": env.str("DJANGO_MEDIA_STORAGE", default="django.core.files.storage.FileSystemStorage"),
                       "OPTIONS": env.json("DJANGO_MEDIA_STORAGE_OPTIONS", default={})}

# WhatsApp templates (issue 10): the Business account whose approved templates are synced
# (hourly, and from the admin or the API), and Meta's Marketing Messages API: with it on,
# MARKETING templates go to /{phone-number-id}/marketing_messages, others to /messages.
WHATSAPP_BUSINESS_ACCOUNT_ID = env.str("WHATSAPP_BUSINESS_ACCOUNT_ID", default="")
WHATSAPP_MARKETING_MESSAGES = env.bool("WHATSAPP_MARKETING_MESSAGES", default=False)
TACT_WHATSAPP_TEMPLATES_SYNC_SECONDS = env.float("TACT_WHATSAPP_TEMPLATES_SYNC_SECONDS", default=3600.0)
CELERY_BEAT_SCHEDULE["whatsapp-templates-sync"] = {
    "task": "campaigns.tasks.whatsapp_templates_sync", "schedule": TACT_WHATSAPP_TEMPLATES_SYNC_SECONDS,
    "options": {"expires": TACT_WHATSAPP_TEMPLATES_SYNC_SECONDS}}

# Test sends (issue 10): each keeps the text a tester received; kept this many days.
TACT_RETAIN_TEST_SENDS_DAYS = env.int("TACT_RETAIN_TEST_SENDS_DAYS", default=30)

# Media (issue 10): per-platform size limits (defaults in channels/limits.py, from
# shared/PLATFORMS.md) overridden by TACT_MEDIA_MAX_BYTES_<PLATFORM>_<KIND> (KIND: IMAGE,
# VIDEO, DOCUMENT), e.g. TACT_MEDIA_MAX_BYTES_VIBER_IMAGE=1048576.
TACT_MEDIA_MAX_BYTES = {
    f"{platform}_{kind}": env.int(f"TACT_MEDIA_MAX_BYTES_{platform.upper()}_{kind.upper()}")
    for platform in ("telegram", "whatsapp", "viber") for kind in ("image", "video", "document")
    if env.str(f"TACT_MEDIA_MAX_BYTES_{platform.upper()}_{kind.upper()}", default="").strip()
}
# The largest file stored or fetched from a media_url (empty: the most any platform takes, 100 MB),
# and how long fetching a media_url may take.
TACT_MEDIA_MAX_BYTES_STORED = env.int("TACT_MEDIA_MAX_BYTES_STORED", default=0) or None
TACT_MEDIA_FETCH_TIMEOUT = env.float("TACT_MEDIA_FETCH_TIMEOUT", default=10.0)
# A media_url leading to a loopback, private or link-local address is refused (no request
# forgery into our own network) unless this is true (a closed network, the test fakes).
TACT_MEDIA_FETCH_PRIVATE = env.bool("TACT_MEDIA_FETCH_PRIVATE", default=False)

# Channel posts (issue 11): published by a beat tick; a publication whose platform call has
# not returned after this long belongs to a dead worker and is marked uncertain (never reposted).
TACT_PUBLISHING_LEASE_SECONDS = env.float("TACT_PUBLISHING_LEASE_SECONDS", default=300.0)
CELERY_BEAT_SCHEDULE["publish-posts"] = {"task": "campaigns.tasks.publish_posts", "schedule": TACT_TICK_SECONDS,
                                         "options": {"expires": TACT_TICK_SECONDS * 5}}

# Channel posts' results (issue 11): brand channels' subscriber counts are sampled daily, a few
# minutes before each post and an hour after it; beat looks for what is due this often (keep it
# under 10 minutes, or the "before" sample of a post may be missed).
TACT_CHANNEL_SAMPLE_SECONDS = env.float("TACT_CHANNEL_SAMPLE_SECONDS", default=300.0)
CELERY_BEAT_SCHEDULE["channel-samples"] = {"task": "campaigns.tasks.channel_samples",
                                           "schedule": TACT_CHANNEL_SAMPLE_SECONDS,
                                           "options": {"expires": TACT_CHANNEL_SAMPLE_SECONDS}}

# Lists for the phone apps (issue 12): a manual campaign's audience is packed into lists the
# marketer sends from the WhatsApp Business app (broadcast lists: at most 256, only people who
# saved our number) and Viber (groups: 199 by default; Viber now documents 250).
def _manual_list_size(name: str, default: int, most: int) -> int:
    size = env.int(name, default=default)
    if not 1 <= size <= most:
        raise ImproperlyConfigured(f"{name}={size}: a list holds 1 to {most} people")
    return size


TACT_MANUAL_LIST_SIZE_WHATSAPP = _manual_list_size("TACT_MANUAL_LIST_SIZE_WHATSAPP", 256, 256)
TACT_MANUAL_LIST_SIZE_VIBER = _manual_list_size("TACT_MANUAL_LIST_SIZE_VIBER", 199, 250)

# Telegram paid broadcasts (issue 13): the ceiling, messages/s, of a campaign sent with
# allow_paid_broadcast (shared/PLATFORMS.md: up to 1,000 a second, 0.1 Stars per message above
# the free 30 a second), on a limiter key of its own beside TACT_RATE_TELEGRAM's
# (campaigns/delivery/paid.py). Empty: no ceiling of ours (Telegram's 1,000 still holds).
def _paid_rate(raw: str) -> float | None:
    if not raw.strip():
        return None
    rate = float(raw)
    if not rate > 0:
        raise ImproperlyConfigured(f"TACT_RATE_TELEGRAM_PAID={raw}: a ceiling is a positive number of messages a second")
    return rate


TACT_RATE_TELEGRAM_PAID = _paid_rate(env.str("TACT_RATE_TELEGRAM_PAID", default="1000"))

# Recurring campaigns (issue 12): the least time between two runs of a series (FREQ finer
# than HOURLY is always refused; this also refuses e.g. BYMINUTE=0,15,30,45 under HOURLY).
TACT_RECURRENCE_MIN_GAP_MINUTES = env.float("TACT_RECURRENCE_MIN_GAP_MINUTES", default=60.0)

# --- Operations (issue 13): /health/, /metrics, JSON logs --------------------------------
from ipaddress import ip_network  # noqa: E402

# /health/ (and the admin's System page): beat's tick is stale after this long; a running
# campaign's list due longer ago than TACT_HEALTH_OVERDUE_SECONDS, with nothing sent meanwhile,
# is overdue; the broker is given TACT_HEALTH_TIMEOUT_SECONDS to connect and answer; the
# workers' queues are asked again after TACT_HEALTH_WORKERS_CACHE_SECONDS.
TACT_BEAT_STALE_SECONDS = env.float("TACT_BEAT_STALE_SECONDS", default=3 * TACT_TICK_SECONDS + 30)
TACT_HEALTH_OVERDUE_SECONDS = env.float("TACT_HEALTH_OVERDUE_SECONDS", default=600.0)
TACT_HEALTH_TIMEOUT_SECONDS = env.float("TACT_HEALTH_TIMEOUT_SECONDS", default=1.0)
TACT_HEALTH_WORKERS_CACHE_SECONDS = env.float("TACT_HEALTH_WORKERS_CACHE_SECONDS", default=5.0)
# Prometheus (campaigns/metrics.py, django-prometheus): every process (web and each worker
# process) writes its samples under this folder and the web's /metrics adds them up, so web
# and workers on one host must share it. prometheus_client reads the variable when it is first
# imported, which is after these settings in web, worker and beat.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default=str(VAR_DIR / "prometheus"))
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
env.ENVIRON["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
# /metrics answers these client addresses or networks (after TACT_PROXY_COUNT), or anyone
# sending `Authorization: Bearer <TACT_METRICS_TOKEN>` when a token is set.
TACT_METRICS_ALLOWED_IPS = env.list("TACT_METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
for _allowed in TACT_METRICS_ALLOWED_IPS:
    try:
        ip_network(_allowed, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"TACT_METRICS_ALLOWED_IPS: {_allowed!r} is not an address or network") from _exc
TACT_METRICS_TOKEN = env.str("TACT_METRICS_TOKEN", default="")
INSTALLED_APPS.append("django_prometheus")
# Request counts and latencies by view: Before first, After last but django-axes (which asks
# to be last), so that the status counted is the one the client got.
MIDDLEWARE.insert(0, "django_prometheus.middleware.PrometheusBeforeMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("axes.middleware.AxesMiddleware"),
                  "django_prometheus.middleware.PrometheusAfterMiddleware")
# TACT_LOG_FORMAT=json: one JSON object a line (web, worker and beat), through the same
# redaction filter as the plain lines.
TACT_LOG_FORMAT = env.str("TACT_LOG_FORMAT", default="plain").strip().lower()
if TACT_LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"TACT_LOG_FORMAT must be plain or json, not {TACT_LOG_FORMAT!r}")
LOGGING["formatters"]["json"] = {"()": "campaigns.log_format.JsonFormatter"}
LOGGING["handlers"]["console"]["formatter"] = TACT_LOG_FORMAT
