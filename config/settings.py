"""XinQiao settings: everything comes from the environment, with safe local defaults.

In production (``XINQIAO_ENV=production``) the process refuses to start with a
default secret key, a default encryption key or DEBUG on.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.env import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("XINQIAO_VAR_DIR", str(BASE_DIR / "var")))

XINQIAO_ENV = env_str("XINQIAO_ENV", "development")
IS_PRODUCTION = XINQIAO_ENV == "production"
if XINQIAO_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured("XINQIAO_ENV must be development, test or production")

# Development defaults. They are public (they are in this file), so production refuses them.
DEFAULT_SECRET_KEY = "xinqiao-insecure-development-secret-key-do-not-use-in-production"  # noqa: S105
DEFAULT_PII_KEYS = "1:eGlucWlhby1kZXYtcGlpLWtleS1ub3Qtc2VjcmV0ISE="
DEFAULT_BLIND_INDEX_KEY = "eGlucWlhby1kZXYtYmxpbmQtaW5kZXgta2V5LW5vdC1zZWNyZXQhIQ=="

SECRET_KEY = env_secret("XINQIAO_SECRET_KEY", DEFAULT_SECRET_KEY)
DEBUG = env_bool("XINQIAO_DEBUG", not IS_PRODUCTION)

# PII vault: "version:base64key,version:base64key"; AES-256-GCM keys are 32 bytes.
XINQIAO_PII_KEYS = env_secret("XINQIAO_PII_KEYS", DEFAULT_PII_KEYS)
XINQIAO_PII_ACTIVE_KEY_VERSION = env_int("XINQIAO_PII_ACTIVE_KEY_VERSION", 0)  # 0: the highest version
XINQIAO_BLIND_INDEX_KEY = env_secret("XINQIAO_BLIND_INDEX_KEY", DEFAULT_BLIND_INDEX_KEY)

if IS_PRODUCTION:
    problems = []
    if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 40:
        problems.append("XINQIAO_SECRET_KEY is the default or shorter than 40 characters")
    if XINQIAO_PII_KEYS == DEFAULT_PII_KEYS or DEFAULT_PII_KEYS.split(":", 1)[1] in XINQIAO_PII_KEYS:
        problems.append("XINQIAO_PII_KEYS contains the default development key")
    if XINQIAO_BLIND_INDEX_KEY == DEFAULT_BLIND_INDEX_KEY:
        problems.append("XINQIAO_BLIND_INDEX_KEY is the default development key")
    if DEBUG:
        problems.append("XINQIAO_DEBUG must be False")
    if problems:
        raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(problems))

ALLOWED_HOSTS = env_list("XINQIAO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("XINQIAO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks_db",
    "xinqiao.core",
    "xinqiao.content",
    "xinqiao.channels",
    "xinqiao.integrations",
    "xinqiao.listening",
    "xinqiao.analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "xinqiao.core.middleware.RequestIdMiddleware",
    "xinqiao.core.middleware.LanguageMiddleware",
    "xinqiao.core.middleware.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "xinqiao.core.middleware.HospitalContextMiddleware",
]

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
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "xinqiao.core.context_processors.navigation",
            ],
        },
    },
]

# Database: SQLite (WAL) under var/ by default, PostgreSQL when DATABASE_URL is set.
DATABASE_URL = env_secret("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("XINQIAO_DB_CONN_MAX_AGE", 60))}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("XINQIAO_SQLITE_PATH", str(VAR_DIR / "xinqiao.sqlite3")),
            "OPTIONS": {
                # cache_size: 64 MB of page cache per connection (allocated as used) instead of SQLite's 2 MB: the
                # fact tables' indexes outgrow 2 MB quickly, and a 200,000-row import inserted 25 % faster.
                # threads: a large sort (a year of metric facts grouped by content) may use a helper thread; the
                # whole-year overview at 5,000,000 rows took 12.8 s instead of 16.2 s.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536; PRAGMA threads=2;"
                ),
                "transaction_mode": "IMMEDIATE",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Background work: django.tasks with the database backend; tests use the immediate backend.
TASKS = {"default": {"BACKEND": env_str("XINQIAO_TASKS_BACKEND", "django_tasks_db.DatabaseBackend")}}

# Authentication
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
XINQIAO_LOGIN_MAX_FAILURES = env_int("XINQIAO_LOGIN_MAX_FAILURES", 5)
XINQIAO_LOGIN_LOCKOUT_SECONDS = env_int("XINQIAO_LOGIN_LOCKOUT_SECONDS", 15 * 60)
XINQIAO_SUDO_SECONDS = env_int("XINQIAO_SUDO_SECONDS", 10 * 60)
XINQIAO_REVEAL_SECONDS = env_int("XINQIAO_REVEAL_SECONDS", 5 * 60)

# Sessions, cookies, transport
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("XINQIAO_SESSION_SECONDS", 8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = False  # HTMX reads the token from the page, not the cookie
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("XINQIAO_SSL_REDIRECT", IS_PRODUCTION)
# A load balancer or monitor may probe gunicorn over plain HTTP on the internal network (docs/operations.md).
SECURE_REDIRECT_EXEMPT = [r"^health/"]
SESSION_COOKIE_SECURE = env_bool("XINQIAO_SECURE_COOKIES", IS_PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("XINQIAO_HSTS_SECONDS", 31536000 if IS_PRODUCTION else 0)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("XINQIAO_BEHIND_PROXY", False) else None

# Request size limits: bigger bodies are refused before any view runs.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("XINQIAO_MAX_REQUEST_BYTES", 2 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
XINQIAO_MAX_UPLOAD_BYTES = env_int("XINQIAO_MAX_UPLOAD_BYTES", 50 * 1024 * 1024)
# Metric imports: an uploaded file larger than this many bytes is read (previewed) by the task worker, and one with
# more data rows than this is committed by it, not in the web request (whose gunicorn and nginx timeouts are 60 s):
# the page shows the import as analysing or importing and reloads when it is done.
XINQIAO_IMPORT_BACKGROUND_BYTES = env_int("XINQIAO_IMPORT_BACKGROUND_BYTES", 10 * 1024 * 1024)
XINQIAO_IMPORT_BACKGROUND_ROWS = env_int("XINQIAO_IMPORT_BACKGROUND_ROWS", 20_000)

# Internationalisation: Simplified Chinese by default, English selectable.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["config.formats"]  # zh_Hans: thousands grouped with commas, as the analytics pages print them
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
    ("vendor/echarts", BASE_DIR / "node_modules" / "echarts" / "dist"),
]
MEDIA_ROOT = VAR_DIR / "media"

_EMAIL_BACKEND = env_str("XINQIAO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
MAILERS = {"default": {"BACKEND": _EMAIL_BACKEND}}
if _EMAIL_BACKEND.endswith("smtp.EmailBackend"):
    MAILERS["default"]["OPTIONS"] = {
        "host": env_str("XINQIAO_SMTP_HOST", "localhost"),
        "port": env_int("XINQIAO_SMTP_PORT", 587),
        "username": env_str("XINQIAO_SMTP_USER", ""),
        "password": env_secret("XINQIAO_SMTP_PASSWORD", ""),
        "use_tls": env_bool("XINQIAO_SMTP_TLS", True),
        "timeout": env_int("XINQIAO_SMTP_TIMEOUT", 10),
    }
DEFAULT_FROM_EMAIL = env_str("XINQIAO_FROM_EMAIL", "xinqiao@localhost")
ADMINS = [("XinQiao ops", a) for a in env_list("XINQIAO_ADMINS", [])]

# Everything that reaches a log passes the PII redactor first (REQ-AUD-003).
DEFAULT_EXCEPTION_REPORTER_FILTER = "xinqiao.core.logging.PiiSafeExceptionReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "xinqiao.core.logging.PiiSafeExceptionReporter"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_pii": {"()": "xinqiao.core.logging.PiiRedactingFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_pii"], "formatter": "plain"},
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
            "filters": ["redact_pii"],
        },
    },
    "root": {"handlers": ["console"], "level": env_str("XINQIAO_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"handlers": ["console", "mail_admins"], "level": "ERROR", "propagate": False},
    },
}

NINJA_PAGINATION_MAX_LIMIT = 200

# Content studio and publishing
XINQIAO_CONTENT_IMAGE_MAX_BYTES = env_int("XINQIAO_CONTENT_IMAGE_MAX_BYTES", 5 * 1024 * 1024)
# Base URL of the loopback WeChat OA sandbox the demo account publishes to (make demo sets it).
XINQIAO_WECHAT_OA_SANDBOX_URL = env_str("XINQIAO_WECHAT_OA_SANDBOX_URL", "")
XINQIAO_WECHAT_OA_TIMEOUT = env_int("XINQIAO_WECHAT_OA_TIMEOUT", 10)
XINQIAO_WECHAT_OA_POLL_SECONDS = env_int("XINQIAO_WECHAT_OA_POLL_SECONDS", 5)
XINQIAO_WECHAT_OA_POLL_TIMEOUT = env_int("XINQIAO_WECHAT_OA_POLL_TIMEOUT", 1800)

# Absolute base URL of this installation (e.g. https://xinqiao.hospital.example), used for links in robot
# messages and e-mails (reports, alerts); without it those messages carry relative paths only.
XINQIAO_PUBLIC_URL = env_str("XINQIAO_PUBLIC_URL", "")

# Security monitoring (REQ-AUD-006, docs/security-monitoring.md): working hours in Asia/Shanghai, Monday to Friday;
# reveals and exports of patient identifiers outside them alert the hospital's admins.
XINQIAO_SECURITY_WORK_START = env_str("XINQIAO_SECURITY_WORK_START", "08:00")
XINQIAO_SECURITY_WORK_END = env_str("XINQIAO_SECURITY_WORK_END", "20:00")

if XINQIAO_ENV == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
