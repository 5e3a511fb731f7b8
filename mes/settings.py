"""One settings module, driven by environment variables.

The defaults run the demo on an embedded SQLite database with no servers. Production sets
DATABASE_URL, REDIS_URL, SECRET_KEY, DEBUG=0 and ALLOWED_HOSTS; `manage.py check --deploy`
must then report nothing.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("MES_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-demo-key-change-me-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "simple_history",
    "guardian",
    "axes",
    "csp",
    # Our apps, lowest layer first (see ARCHITECTURE.md).
    "mes",
    "training",
    "reagents",
    "deviations",
    "custody",
    "scheduling",
    "batchrecords",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "mes.middleware.ApiGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "mes.middleware.SessionLifetimeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mes.urls"
WSGI_APPLICATION = "mes.wsgi.application"

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
                "mes.context_processors.shell",
            ],
        },
    }
]

# --- Database ---------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'mes.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the Celery worker share the file: WAL and immediate transactions
    # keep them from tripping over "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"].setdefault("TEST", {})["NAME"] = ":memory:"
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# Migrations run as the owner (MIGRATION_DATABASE_URL: the same database, the owner's role);
# the application then connects with DATABASE_URL as a least-privilege role (mes.dbroles).
MIGRATION_DATABASE = (env.db_url_config(env.str("MIGRATION_DATABASE_URL"))
                      if env.str("MIGRATION_DATABASE_URL", default="") else None)
APP_DATABASE_ROLE = env.str(
    "APP_DATABASE_ROLE",
    default=DATABASES["default"].get("USER", "") if MIGRATION_DATABASE else "")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Users, authentication, lockout -------------------------------------------------------
AUTH_USER_MODEL = "mes.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# The first hasher makes new hashes; the others still verify older ones, which are upgraded
# to the first at the next successful login or signature (mes.hashers).
PASSWORD_HASHERS = [
    "mes.hashers.OwaspArgon2idPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Lock by username, never by IP: a shared suite terminal must not lock out the whole shift.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_RESET_ON_SUCCESS = True
# The demo command sets MES_DEMO: the login page then explains the demo's sites and logins.
DEMO = env.bool("MES_DEMO", default=False)
# A planned collection more than this many days ahead of the ordering site's date is refused.
CUSTODY_COLLECTION_HORIZON_DAYS = env.int("CUSTODY_COLLECTION_HORIZON_DAYS", default=365)
# Password spraying: failed logins for this many different usernames from one address within
# the window throttle that address (the per-username lockout above is unchanged).
LOGIN_SPRAY_USERNAMES = env.int("LOGIN_SPRAY_USERNAMES", default=10)
LOGIN_SPRAY_WINDOW = timedelta(minutes=env.int("LOGIN_SPRAY_MINUTES", default=15))
# Reverse proxies in front of the web server whose X-Forwarded-For is trusted (0: none).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "mes.services.security.client_address"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_LOCKOUT_CALLABLE = "mes.api.errors.lockout_response"  # JSON 429 under /api/
AXES_VERBOSE = False
# axes.W006 asks to lock by IP too; we lock by username only, on purpose (shared terminals).
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None

# --- Sessions -----------------------------------------------------------------------------
SESSION_IDLE_MINUTES = env.int("SESSION_IDLE_MINUTES", default=15)
SESSION_ABSOLUTE_HOURS = env.int("SESSION_ABSOLUTE_HOURS", default=12)
SESSION_ACTIVITY_RESOLUTION = 60  # seconds: a logged-in request writes the session at most so often
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_HOURS * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Requests carrying this header are background refreshes (badges, boards): they never count
# as user activity, so a screen left polling still locks after the idle limit.
BACKGROUND_REQUEST_HEADER = "X-MES-Background"

# --- Security headers (production) --------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# --- Internationalisation -----------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)
MEDIA_ROOT = VAR_DIR / "media"

# --- Redis, cache, Celery -----------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL, "KEY_PREFIX": "mes"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(VAR_DIR / "cache")}}

_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker of the demo: Kombu's filesystem transport, so escalations and
    # expiry still fire on a laptop with no Redis.
    for sub in ("out", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "mes.tasks.record_worker_heartbeat", "schedule": 30.0},
    "purge-idempotency-records": {"task": "mes.tasks.purge_idempotency_records",
                                  "schedule": 3600.0},
    "seal-audit-trail": {"task": "mes.tasks.seal_audit_trail", "schedule": 60.0},
    "integrity-check": {"task": "mes.tasks.run_integrity_check",
                        "schedule": crontab(hour=2, minute=30)},
}
# Stored responses for Idempotency-Key are replayed for at least this long (minimum 24 h).
IDEMPOTENCY_RETENTION_HOURS = env.int("IDEMPOTENCY_RETENTION_HOURS", default=72)
# Each app adds its periodic tasks in ``<app>/schedule.py`` as a plain dict BEAT_SCHEDULE
# (data only, no Django imports), so the schedule stays static and in code.
for _app in ("training", "reagents", "deviations", "custody", "scheduling", "batchrecords"):
    try:
        CELERY_BEAT_SCHEDULE.update(__import__(f"{_app}.schedule", fromlist=["x"]).BEAT_SCHEDULE)
    except ModuleNotFoundError as _exc:
        if _exc.name != f"{_app}.schedule":
            raise
WORKER_HEARTBEAT_MAX_AGE_SECONDS = 120

# --- E-mail -------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = str(VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="mes@localhost")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)

# --- Audit trail ----------------------------------------------------------------------------
SIMPLE_HISTORY_DATE_INDEX = "composite"
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
SIMPLE_HISTORY_REVERT_DISABLED = True
SYSTEM_USERNAME = "system"
# The installation's Ed25519 key that signs audit seals; keep it outside the database and
# readable by the application's account only.
AUDIT_SEAL_KEY_FILE = env.str("AUDIT_SEAL_KEY_FILE",
                              default=str(VAR_DIR / "keys" / "audit-seal.pem"))
# Rows per table sealed in one run at most (a first seal of a large database catches up).
AUDIT_SEAL_MAX_ROWS = env.int("AUDIT_SEAL_MAX_ROWS", default=50000)
# A row may be written this long before the seal preceding the one that covers it (its
# transaction was still open); older than that, it was back-dated.
AUDIT_SEAL_BACKDATE_GRACE_SECONDS = env.int("AUDIT_SEAL_BACKDATE_GRACE_SECONDS", default=600)
# Gaps in a seal's range (a transaction still open) are looked at again for this long.
AUDIT_SEAL_GAP_WINDOW_MINUTES = env.int("AUDIT_SEAL_GAP_WINDOW_MINUTES", default=60)

# --- API ----------------------------------------------------------------------------------
API_MAX_JSON_DEPTH = 20  # no record of ours nests deeper; a deeper body is an attack or a bug
REST_FRAMEWORK = {
    # Token first: an integration without valid credentials gets a 401 with a challenge.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mes.api.authentication.AccountStateTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "mes.api.errors.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "mes.api.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CGT MES API",
    "DESCRIPTION": "Manufacturing execution for per-patient cell and gene therapy.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mes.api.schema.declare_error_responses",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"client_errors": {"()": "mes.logging.ClientErrorsWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["client_errors"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
    "loggers": {
        # Failed logins are SecurityEvents that QA reviews; axes' lines would only repeat them.
        "axes": {"level": env.str("AXES_LOG_LEVEL", default="ERROR")},
        # A refused request is one line, without a traceback (mes.logging).
        "django.request": {"handlers": ["console"], "level": "WARNING", "propagate": False,
                           "filters": ["client_errors"]},
    },
}
