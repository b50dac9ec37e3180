"""Django settings for Propusk.

Every value that differs between a laptop and production comes from the environment
(or from a file named by a ``*_FILE`` variable, for secrets). Bad values fail loudly at start.
With nothing configured the project runs on SQLite and a broker that needs no server.
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from propusk.core.env import Env
from propusk.integrations.hikcentral.shared_state import throttle_state_url

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent.parent
env = Env()

VAR_DIR = Path(env.get_str("PROPUSK_VAR_DIR", str(PROJECT_DIR / "var")))

DEBUG = env.get_bool("DJANGO_DEBUG", False)
# A development secret is generated into var/ by `make run`; production must set its own.
SECRET_KEY = env.secret("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.get_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.get_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# Reverse proxies (addresses or networks) whose X-Forwarded-For is believed: REMOTE_ADDR
# becomes the client's address for every per-address limit (propusk.core.proxy). Unset: the
# header is ignored and REMOTE_ADDR is the socket's peer.
PROPUSK_TRUSTED_PROXIES = env.get_list("PROPUSK_TRUSTED_PROXIES", [])
for _item in PROPUSK_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_item, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"PROPUSK_TRUSTED_PROXIES: {_item!r} is not an address or network"
        ) from None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "propusk.core",
    "propusk.accounts",
    "propusk.access",
    "propusk.visitors",
    "propusk.visits",
    "propusk.invitations",
    "propusk.events",
    "propusk.passages",
    "propusk.notifications",
    "propusk.dashboard",
    "propusk.audit",
    "propusk.integrations.hikcentral",
    "propusk.metrics",
    "axes",  # sign-in throttling (propusk.accounts.signin)
    # The REST API (/api/v1/, docs/api.md) and its OpenAPI schema; the sidecar serves the
    # Swagger UI and Redoc files from our own static files.
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "propusk.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on our HTML pages (propusk.core.middleware).
    "propusk.core.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Cache-Control: no-store, private for signed-in users and the invitation page.
    "propusk.core.middleware.NoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Turns a locked-out sign-in into the login page with 429 (propusk.accounts.signin).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "propusk.urls"
WSGI_APPLICATION = "propusk.wsgi.application"

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
                "propusk.accounts.context_processors.roles",
                "propusk.notifications.context_processors.unread",
            ],
        },
    },
]

# SQLite (the default, `make run`) is opened for several writers at once: WAL, IMMEDIATE
# transactions and a busy timeout, PROPUSK_SQLITE_BUSY_TIMEOUT_SECONDS (core/env.py).
DATABASES = {
    "default": env.db("DATABASE_URL", f"sqlite:///{VAR_DIR / 'propusk.sqlite3'}"),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache holds the throttle counters (look-ups at the desk, the public invitation page).
# Production: CACHE_URL=redis://host:6379/1 so that every web process shares the counters.
# Unset, it is a LocMemCache, which is per process: each web worker counts on its own.
CACHES = {"default": env.cache("CACHE_URL")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# The first backend refuses a locked-out sign-in; the second checks the password.
AUTHENTICATION_BACKENDS = [
    "propusk.accounts.signin.SignInBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.get_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Shared reception computers: a session lasts a working day at most.
SESSION_COOKIE_AGE = env.get_int("DJANGO_SESSION_HOURS", 12) * 3600
X_FRAME_OPTIONS = "DENY"
# Scripts, styles, fonts, frames and form targets from this site only, no inline script or
# style; images also data: and blob: (the photo preview, the camera). propusk.core.middleware.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Invitation links carry their token in the path: never send it to other sites.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = env.get_bool("DJANGO_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env.get_int("DJANGO_HSTS_SECONDS", 0)
# Only when every subdomain of the site's host is served over HTTPS too (docs/deployment.md).
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.get_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env.get_bool("DJANGO_HSTS_PRELOAD", False)
if env.get_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Language and time: the interface speaks Russian and English; times in the site's zone.
LANGUAGE_CODE = env.get_str("DJANGO_LANGUAGE_CODE", "ru")
LANGUAGES = [("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.get_str("DJANGO_TIME_ZONE", "Asia/Almaty")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# The project's own stylesheet and script (propusk is not an app, so no finder looked here).
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.get_str("DJANGO_STATIC_ROOT", str(VAR_DIR / "static")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.get_str("DJANGO_MEDIA_ROOT", str(VAR_DIR / "media")))
# Face photos are biometric data: served only through a login-checked view, never MEDIA_URL.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# The most a request body may hold, its files too (propusk.core.uploads; Django alone would
# not count a multipart form's files).
DATA_UPLOAD_MAX_MEMORY_SIZE = 15 * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "propusk.core.uploads.RequestSizeLimit",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# --- Personal data -------------------------------------------------------------------
# National ID numbers are stored encrypted (Fernet) with a keyed hash (HMAC-SHA256) for
# look-up. Both keys are secrets; rotating the encryption key is supported by listing the
# old keys after the new one (comma-separated).
FIELD_ENCRYPTION_KEYS = env.secret_list("PROPUSK_FIELD_ENCRYPTION_KEYS")
LOOKUP_HASH_KEY = env.secret("PROPUSK_LOOKUP_HASH_KEY")
NATIONAL_ID_FORMAT = env.get_str("PROPUSK_NATIONAL_ID_FORMAT", "kz_iin")

# --- Visits -----------------------------------------------------------------------
# The organisation the visitor comes to, shown on the public invitation page and in the admin.
ORG_NAME = env.get_str("PROPUSK_ORG_NAME", "")
ORG_ADDRESS = env.get_str("PROPUSK_ORG_ADDRESS", "")
VISIT_MAX_DURATION_HOURS = env.get_int("PROPUSK_VISIT_MAX_DURATION_HOURS", 14 * 24)
INVITATION_LIFETIME_HOURS = env.get_int("PROPUSK_INVITATION_LIFETIME_HOURS", 72)
# How far ahead a visit may start or an invitation link may stay open.
VISIT_PLAN_AHEAD_DAYS = env.get_int("PROPUSK_VISIT_PLAN_AHEAD_DAYS", 366)
PHOTO_MIN_SIDE_PX = env.get_int("PROPUSK_PHOTO_MIN_SIDE_PX", 240)
PHOTO_MAX_UPLOAD_BYTES = env.get_int("PROPUSK_PHOTO_MAX_UPLOAD_BYTES", 10 * 1024 * 1024)
# HCP's face limit is not documented; 200 KB JPEG is what integrators use safely.
PHOTO_MAX_JPEG_BYTES = env.get_int("PROPUSK_PHOTO_MAX_JPEG_BYTES", 200 * 1024)
PHOTO_MAX_SIDE_PX = env.get_int("PROPUSK_PHOTO_MAX_SIDE_PX", 1024)
# Pixels a photo may have (read from its header before decoding); sized for faces. Formats
# decoded only at full size have lower caps (visitors.photos.FULL_DECODE_MAX_PIXELS).
PHOTO_MAX_PIXELS = env.get_int("PROPUSK_PHOTO_MAX_PIXELS", 24_000_000)
# The face check (visitors.faces): exactly one face, at least FACE_MIN_SIDE_PX wide in the kept
# photo (at most PHOTO_MAX_SIDE_PX long), at least FACE_MIN_SHARPNESS sharp (the variance of the
# Laplacian of the face scaled to 128 px), roughly frontal; the photo is then cropped around it.
FACE_CHECK = env.get_bool("PROPUSK_FACE_CHECK", True)
FACE_MIN_SIDE_PX = env.get_int("PROPUSK_FACE_MIN_SIDE_PX", 80)
FACE_MIN_SHARPNESS = env.get_float("PROPUSK_FACE_MIN_SHARPNESS", 40.0)
# HCP's own faceCheck after ours (integrations/hikcentral/face_check.py): "auto" (when
# HCP_BASE_URL is set) or "off"; the device it checks for (an acsDevIndexCode; empty: the
# first access-control device HCP lists).
HCP_FACE_CHECK = env.get_str("PROPUSK_HCP_FACE_CHECK", "auto")
HCP_FACE_CHECK_DEVICE = env.get_str("PROPUSK_HCP_FACE_CHECK_DEVICE", "")
if HCP_FACE_CHECK not in ("auto", "off"):
    raise ImproperlyConfigured(f"PROPUSK_HCP_FACE_CHECK={HCP_FACE_CHECK!r} must be auto or off")

# --- Throttling (propusk.core.throttle; counters in CACHES) ------------------------------
# Look-ups of a visitor by national ID, per user, per window.
LOOKUP_LIMIT = env.get_int("PROPUSK_LOOKUP_LIMIT", 30)
LOOKUP_WINDOW_SECONDS = env.get_int("PROPUSK_LOOKUP_WINDOW_SECONDS", 600)
# Refused submissions of the public invitation page (registrations never count), per window:
# per link and client address (REMOTE_ADDR only) LINK_FAILURES plus two for every use the link
# allows (a 50-use group link: 110), and per address over all links ADDRESS_FAILURES.
PUBLIC_SUBMIT_LINK_FAILURES = env.get_int("PROPUSK_PUBLIC_SUBMIT_LINK_FAILURES", 10)
PUBLIC_SUBMIT_ADDRESS_FAILURES = env.get_int("PROPUSK_PUBLIC_SUBMIT_ADDRESS_FAILURES", 200)
PUBLIC_SUBMIT_WINDOW_SECONDS = env.get_int("PROPUSK_PUBLIC_SUBMIT_WINDOW_SECONDS", 3600)
if env.get_str("PROPUSK_PUBLIC_SUBMIT_LIMIT", ""):
    raise ImproperlyConfigured(
        "PROPUSK_PUBLIC_SUBMIT_LIMIT is gone: registrations are no longer counted; refused "
        "submissions are limited by PROPUSK_PUBLIC_SUBMIT_LINK_FAILURES and "
        "PROPUSK_PUBLIC_SUBMIT_ADDRESS_FAILURES (docs/visits.md#throttling)"
    )

# --- Sign-in throttling (django-axes; propusk.accounts.signin) ---------------------------
# Failed sign-ins per account and per client address (REMOTE_ADDR only); either at its limit
# refuses sign-in, the right password too, until those failures are older than the cool-off.
AXES_FAILURE_LIMIT = env.get_int("PROPUSK_LOGIN_FAILURE_LIMIT", 5)
LOGIN_ADDRESS_FAILURE_LIMIT = env.get_int("PROPUSK_LOGIN_ADDRESS_FAILURE_LIMIT", 20)
LOGIN_COOLOFF_MINUTES = env.get_int("PROPUSK_LOGIN_COOLOFF_MINUTES", 15)
for _name, _value in (
    ("PROPUSK_LOGIN_FAILURE_LIMIT", AXES_FAILURE_LIMIT),
    ("PROPUSK_LOGIN_ADDRESS_FAILURE_LIMIT", LOGIN_ADDRESS_FAILURE_LIMIT),
    ("PROPUSK_LOGIN_COOLOFF_MINUTES", LOGIN_COOLOFF_MINUTES),
):
    if _value < 1:
        raise ImproperlyConfigured(f"{_name}={_value} must be at least 1")
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_HANDLER = "propusk.accounts.signin.SignInAttemptHandler"
AXES_CLIENT_IP_CALLABLE = "propusk.accounts.signin.client_address"
AXES_LOCKOUT_CALLABLE = "propusk.accounts.signin.lockout_response"
# Attempts refused during a lockout neither count nor lengthen it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True  # this account's failures from this address only
# Successes and failures go to the audit log; axes keeps only its counters (AccessAttempt),
# shown in the admin by propusk.accounts.admin.
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False
# Masked in axes' log lines and in the form data it keeps with a counter.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password", "csrfmiddlewaretoken"]

# --- HikCentral (see docs/hikcentral.md) -----------------------------------------------
HCP_BASE_URL = env.get_str("HCP_BASE_URL", "")
HCP_APP_KEY = env.get_str("HCP_APP_KEY", "")
HCP_APP_SECRET = env.secret("HCP_APP_SECRET", required=False)
HCP_USER_ID = env.get_str("HCP_USER_ID", "")
HCP_VERIFY_TLS = env.get_bool("HCP_VERIFY_TLS", True)
HCP_CA_BUNDLE = env.get_str("HCP_CA_BUNDLE", "")
HCP_CONNECT_TIMEOUT = env.get_float("HCP_CONNECT_TIMEOUT", 5.0)
HCP_READ_TIMEOUT = env.get_float("HCP_READ_TIMEOUT", 15.0)
HCP_UTC_OFFSET = env.get_str("HCP_UTC_OFFSET", "+05:00")
# Persons per access-level addPersons/deletePersons call: the gateway catalogue allows 20.
HCP_BATCH_SIZE = env.get_int("HCP_BATCH_SIZE", 20)
# Sent with person delete (required by newer HCP versions); or HCP_ADMIN_PASSWORD_FILE.
HCP_ADMIN_PASSWORD = env.secret("HCP_ADMIN_PASSWORD", required=False)
# The HCP organisation our persons live in (created by hand in HCP: the OpenAPI cannot).
HCP_ORG_NAME = env.get_str("HCP_ORG_NAME", "Propusk visitors")
# One call rate for every worker process on every machine (HCP's quota), revocations ahead of
# grants ahead of syncs, and a circuit breaker while HCP is down: integrations/hikcentral/
# limiter.py and breaker.py, docs/hikcentral.md "Rate limit and circuit breaker".
HCP_RATE_LIMIT_PER_SECOND = env.get_float("HCP_RATE_LIMIT_PER_SECOND", 10.0)
if not (math.isfinite(HCP_RATE_LIMIT_PER_SECOND) and 0 < HCP_RATE_LIMIT_PER_SECOND <= 10_000):
    raise ImproperlyConfigured(
        f"HCP_RATE_LIMIT_PER_SECOND={HCP_RATE_LIMIT_PER_SECOND:g} must be more than 0 and at "
        "most 10000"
    )
# Half a second's calls by default: HCP's own allowance is not documented (a second's worth in
# the simulator), and calls bunch on their way to it - a bucket as deep as HCP's let one call
# in a few hundred arrive over its quota; one half as deep keeps the rest as a margin.
HCP_RATE_LIMIT_BURST = env.get_int(
    "HCP_RATE_LIMIT_BURST", max(2, math.ceil(HCP_RATE_LIMIT_PER_SECOND / 2))
)
HCP_RATE_LIMIT_MAX_WAIT_SECONDS = env.get_float("HCP_RATE_LIMIT_MAX_WAIT_SECONDS", 30.0)
# Independent calls one process may have in flight at once (a revocation batch's look-ups):
# their latency overlaps; each still takes its token from the limiter. 1: one at a time.
HCP_PARALLEL_CALLS = env.get_int("HCP_PARALLEL_CALLS", 4)
HCP_CIRCUIT_BREAKER_FAILURES = env.get_int("HCP_CIRCUIT_BREAKER_FAILURES", 5)
HCP_CIRCUIT_BREAKER_COOLDOWN_SECONDS = env.get_float("HCP_CIRCUIT_BREAKER_COOLDOWN_SECONDS", 10.0)
_hcp_ranges: tuple[tuple[str, float, float, float], ...] = (
    # The burst holds the priorities' reserves: a sync leaves half of it.
    ("HCP_RATE_LIMIT_BURST", HCP_RATE_LIMIT_BURST, 2, 100_000),
    ("HCP_RATE_LIMIT_MAX_WAIT_SECONDS", HCP_RATE_LIMIT_MAX_WAIT_SECONDS, 0.1, 600),
    ("HCP_PARALLEL_CALLS", HCP_PARALLEL_CALLS, 1, 32),
    ("HCP_CIRCUIT_BREAKER_FAILURES", HCP_CIRCUIT_BREAKER_FAILURES, 1, 1000),
    ("HCP_CIRCUIT_BREAKER_COOLDOWN_SECONDS", HCP_CIRCUIT_BREAKER_COOLDOWN_SECONDS, 1, 3600),
)
for _setting, _number, _low, _high in _hcp_ranges:
    if not (math.isfinite(_number) and _low <= _number <= _high):
        raise ImproperlyConfigured(f"{_setting}={_number:g} must be between {_low:g} and {_high:g}")
# Where the bucket and the breaker are shared: redis://host:6379/2 (every machine) or
# file:///dir (the processes of one machine only). Unset: CACHE_URL if Redis, else var/.
HCP_RATE_LIMIT_URL = throttle_state_url(
    env.get_str("HCP_RATE_LIMIT_URL", ""), cache_url=env.get_str("CACHE_URL", ""), var_dir=VAR_DIR
)

# --- Access engine (see docs/access-engine.md) ----------------------------------------
PROPUSK_ACCESS_SWEEP_SECONDS = env.get_float("PROPUSK_ACCESS_SWEEP_SECONDS", 10.0)
PROPUSK_ACCESS_LEASE_SECONDS = env.get_float("PROPUSK_ACCESS_LEASE_SECONDS", 300.0)
# The lease of a worker's run that renews it from a thread every third of it (the task's runs:
# access.reconciler.LeaseKeeper): a killed worker's persons are taken over this soon. 0: off.
PROPUSK_ACCESS_LEASE_RENEWED_SECONDS = env.get_float("PROPUSK_ACCESS_LEASE_RENEWED_SECONDS", 15.0)
PROPUSK_ACCESS_RETRY_MIN_SECONDS = env.get_float("PROPUSK_ACCESS_RETRY_MIN_SECONDS", 5.0)
PROPUSK_ACCESS_RETRY_MAX_SECONDS = env.get_float("PROPUSK_ACCESS_RETRY_MAX_SECONDS", 300.0)
PROPUSK_ACCESS_MAX_PER_RUN = env.get_int("PROPUSK_ACCESS_MAX_PER_RUN", 500)
PROPUSK_ACCESS_APPLY_CHECK_SECONDS = env.get_float("PROPUSK_ACCESS_APPLY_CHECK_SECONDS", 1.0)
PROPUSK_ACCESS_APPLY_ASSUME_SECONDS = env.get_float("PROPUSK_ACCESS_APPLY_ASSUME_SECONDS", 60.0)
PROPUSK_ACCESS_APPLY_TIMEOUT_SECONDS = env.get_float("PROPUSK_ACCESS_APPLY_TIMEOUT_SECONDS", 600.0)
PROPUSK_ACCESS_APPLY_RETRY_SECONDS = env.get_float("PROPUSK_ACCESS_APPLY_RETRY_SECONDS", 60.0)
# Revocations asked about one by one (HCP's elementDownloadDetail, a call each) per look at
# the devices; the others are judged by applicationResult. 0: never asked one by one.
PROPUSK_ACCESS_APPLY_PERSON_LOOKS = env.get_int("PROPUSK_ACCESS_APPLY_PERSON_LOOKS", 10)
if PROPUSK_ACCESS_APPLY_PERSON_LOOKS < 0:
    raise ImproperlyConfigured("PROPUSK_ACCESS_APPLY_PERSON_LOOKS must be 0 or more")
# A thread beside each worker's batches of grants that takes revocations and confirms them on
# the devices as soon as they are due (access.reconciler.RevocationLane).
PROPUSK_ACCESS_REVOCATION_LANE = env.get_bool("PROPUSK_ACCESS_REVOCATION_LANE", True)
# A first try at a revocation of a person whose record is clean removes the recorded
# memberships and reapplies before looking the person up (the look-up and the validity end
# follow at SYNC priority): access.reconciler._revoke_from_record. Off: look up first.
PROPUSK_ACCESS_REVOKE_FROM_RECORD = env.get_bool("PROPUSK_ACCESS_REVOKE_FROM_RECORD", True)
# Persons revoked this long are deleted from HCP with their faces (re-created on a new visit).
PROPUSK_ACCESS_RETENTION_HOURS = env.get_float("PROPUSK_ACCESS_RETENTION_HOURS", 4.0)
# Failed work whose error may clear by itself (no organisation yet, HCP full) is retried this often.
PROPUSK_ACCESS_FAILED_RETRY_MINUTES = env.get_float("PROPUSK_ACCESS_FAILED_RETRY_MINUTES", 15.0)
# Beat interval of the full sync (every person and membership of ours in HCP vs the database).
PROPUSK_ACCESS_SYNC_MINUTES = env.get_float("PROPUSK_ACCESS_SYNC_MINUTES", 60.0)
# How long a process keeps HCP's organisation of our persons and the door list between runs.
PROPUSK_ACCESS_DIRECTORY_CACHE_SECONDS = env.get_float(
    "PROPUSK_ACCESS_DIRECTORY_CACHE_SECONDS", 300.0
)
for _name, _number in (
    ("PROPUSK_ACCESS_SWEEP_SECONDS", PROPUSK_ACCESS_SWEEP_SECONDS),
    ("PROPUSK_ACCESS_LEASE_SECONDS", PROPUSK_ACCESS_LEASE_SECONDS),
    ("PROPUSK_ACCESS_RETRY_MIN_SECONDS", PROPUSK_ACCESS_RETRY_MIN_SECONDS),
    ("PROPUSK_ACCESS_RETRY_MAX_SECONDS", PROPUSK_ACCESS_RETRY_MAX_SECONDS),
    ("PROPUSK_ACCESS_MAX_PER_RUN", PROPUSK_ACCESS_MAX_PER_RUN),
    ("PROPUSK_ACCESS_APPLY_CHECK_SECONDS", PROPUSK_ACCESS_APPLY_CHECK_SECONDS),
    ("PROPUSK_ACCESS_APPLY_ASSUME_SECONDS", PROPUSK_ACCESS_APPLY_ASSUME_SECONDS),
    ("PROPUSK_ACCESS_APPLY_TIMEOUT_SECONDS", PROPUSK_ACCESS_APPLY_TIMEOUT_SECONDS),
    ("PROPUSK_ACCESS_APPLY_RETRY_SECONDS", PROPUSK_ACCESS_APPLY_RETRY_SECONDS),
    ("PROPUSK_ACCESS_RETENTION_HOURS", PROPUSK_ACCESS_RETENTION_HOURS),
    ("PROPUSK_ACCESS_FAILED_RETRY_MINUTES", PROPUSK_ACCESS_FAILED_RETRY_MINUTES),
    ("PROPUSK_ACCESS_SYNC_MINUTES", PROPUSK_ACCESS_SYNC_MINUTES),
    ("PROPUSK_ACCESS_DIRECTORY_CACHE_SECONDS", PROPUSK_ACCESS_DIRECTORY_CACHE_SECONDS),
):
    if not (math.isfinite(_number) and _number > 0):  # NaN and infinity too
        raise ImproperlyConfigured(f"{_name}={_number:g} must be more than 0 (and finite)")
if not (
    math.isfinite(PROPUSK_ACCESS_LEASE_RENEWED_SECONDS)
    and (PROPUSK_ACCESS_LEASE_RENEWED_SECONDS == 0 or PROPUSK_ACCESS_LEASE_RENEWED_SECONDS >= 3)
):
    raise ImproperlyConfigured(
        f"PROPUSK_ACCESS_LEASE_RENEWED_SECONDS={PROPUSK_ACCESS_LEASE_RENEWED_SECONDS:g} must be "
        "0 (off) or at least 3 (renewed every third of it)"
    )
if PROPUSK_ACCESS_RETRY_MAX_SECONDS < PROPUSK_ACCESS_RETRY_MIN_SECONDS:
    raise ImproperlyConfigured(
        "PROPUSK_ACCESS_RETRY_MAX_SECONDS must not be below PROPUSK_ACCESS_RETRY_MIN_SECONDS"
    )

# --- HikCentral events (see docs/events.md) ----------------------------------------------
# The webhook's token: part of the eventDest URL we register with HCP (or *_FILE). Unset, the
# webhook refuses every push. URL-safe, at least 24 characters (e.g. secrets.token_urlsafe()).
PROPUSK_HCP_EVENTS_TOKEN = env.secret("PROPUSK_HCP_EVENTS_TOKEN", required=False)
if PROPUSK_HCP_EVENTS_TOKEN and not re.fullmatch(
    r"[A-Za-z0-9_-]{24,200}", PROPUSK_HCP_EVENTS_TOKEN
):
    raise ImproperlyConfigured(
        "PROPUSK_HCP_EVENTS_TOKEN must be 24 to 200 URL-safe characters (A-Z a-z 0-9 _ -)"
    )
# Propusk's address as HCP reaches it (the eventDest's base); unset: PROPUSK_SITE_URL.
PROPUSK_HCP_EVENTS_URL = env.get_str("PROPUSK_HCP_EVENTS_URL", "").rstrip("/")
# Optional: addresses or networks pushes may come from (REMOTE_ADDR), comma-separated.
PROPUSK_HCP_EVENTS_ALLOWED_IPS = env.get_list("PROPUSK_HCP_EVENTS_ALLOWED_IPS", [])
for _item in PROPUSK_HCP_EVENTS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_item, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"PROPUSK_HCP_EVENTS_ALLOWED_IPS: {_item!r} is not an address or network"
        ) from None
PROPUSK_HCP_EVENTS_MAX_BODY_BYTES = env.get_int("PROPUSK_HCP_EVENTS_MAX_BODY_BYTES", 1024 * 1024)
# The polling backfill: every POLL_SECONDS, re-reading OVERLAP_MINUTES before where the last
# complete read ended; the first run reads the last BACKFILL_HOURS.
PROPUSK_HCP_EVENTS_POLL_SECONDS = env.get_float("PROPUSK_HCP_EVENTS_POLL_SECONDS", 60.0)
PROPUSK_HCP_EVENTS_OVERLAP_MINUTES = env.get_float("PROPUSK_HCP_EVENTS_OVERLAP_MINUTES", 10.0)
PROPUSK_HCP_EVENTS_BACKFILL_HOURS = env.get_float("PROPUSK_HCP_EVENTS_BACKFILL_HOURS", 24.0)
# HCP's push subscription viewed and made again if lost or changed, every CHECK_SECONDS.
PROPUSK_HCP_EVENTS_SUBSCRIPTION_CHECK_SECONDS = env.get_float(
    "PROPUSK_HCP_EVENTS_SUBSCRIPTION_CHECK_SECONDS", 300.0
)
# Processing: a failed event is tried again after MIN..MAX seconds (exponential, jittered),
# MAX_ATTEMPTS times in all, then FAILED (admin: "process again"). The sweep takes pending
# events whose wake-up was lost, SWEEP_BATCH at a time.
PROPUSK_EVENTS_MAX_ATTEMPTS = env.get_int("PROPUSK_EVENTS_MAX_ATTEMPTS", 8)
PROPUSK_EVENTS_RETRY_MIN_SECONDS = env.get_float("PROPUSK_EVENTS_RETRY_MIN_SECONDS", 5.0)
PROPUSK_EVENTS_RETRY_MAX_SECONDS = env.get_float("PROPUSK_EVENTS_RETRY_MAX_SECONDS", 600.0)
PROPUSK_EVENTS_SWEEP_SECONDS = env.get_float("PROPUSK_EVENTS_SWEEP_SECONDS", 30.0)
# A claimed event's lease (renewed while its batch is still at work): a worker killed mid-batch
# leaves its events to another this long after the claim.
PROPUSK_EVENTS_LEASE_SECONDS = env.get_float("PROPUSK_EVENTS_LEASE_SECONDS", 60.0)
PROPUSK_EVENTS_SWEEP_BATCH = env.get_int("PROPUSK_EVENTS_SWEEP_BATCH", 200)
for _name, _number in (
    ("PROPUSK_HCP_EVENTS_MAX_BODY_BYTES", PROPUSK_HCP_EVENTS_MAX_BODY_BYTES),
    ("PROPUSK_HCP_EVENTS_POLL_SECONDS", PROPUSK_HCP_EVENTS_POLL_SECONDS),
    ("PROPUSK_HCP_EVENTS_OVERLAP_MINUTES", PROPUSK_HCP_EVENTS_OVERLAP_MINUTES),
    ("PROPUSK_HCP_EVENTS_BACKFILL_HOURS", PROPUSK_HCP_EVENTS_BACKFILL_HOURS),
    (
        "PROPUSK_HCP_EVENTS_SUBSCRIPTION_CHECK_SECONDS",
        PROPUSK_HCP_EVENTS_SUBSCRIPTION_CHECK_SECONDS,
    ),
    ("PROPUSK_EVENTS_MAX_ATTEMPTS", PROPUSK_EVENTS_MAX_ATTEMPTS),
    ("PROPUSK_EVENTS_RETRY_MIN_SECONDS", PROPUSK_EVENTS_RETRY_MIN_SECONDS),
    ("PROPUSK_EVENTS_RETRY_MAX_SECONDS", PROPUSK_EVENTS_RETRY_MAX_SECONDS),
    ("PROPUSK_EVENTS_SWEEP_SECONDS", PROPUSK_EVENTS_SWEEP_SECONDS),
    ("PROPUSK_EVENTS_LEASE_SECONDS", PROPUSK_EVENTS_LEASE_SECONDS),
    ("PROPUSK_EVENTS_SWEEP_BATCH", PROPUSK_EVENTS_SWEEP_BATCH),
):
    if not (math.isfinite(_number) and _number > 0):
        raise ImproperlyConfigured(f"{_name}={_number:g} must be more than 0 (and finite)")
if PROPUSK_EVENTS_RETRY_MAX_SECONDS < PROPUSK_EVENTS_RETRY_MIN_SECONDS:
    raise ImproperlyConfigured(
        "PROPUSK_EVENTS_RETRY_MAX_SECONDS must not be below PROPUSK_EVENTS_RETRY_MIN_SECONDS"
    )
if not HCP_ORG_NAME.strip():
    raise ImproperlyConfigured("HCP_ORG_NAME must name the HCP organisation of our persons")

# --- Notifications (see docs/notifications.md) ----------------------------------------
# The site's address, for links in messages (email, Telegram, browser): no trailing slash.
PROPUSK_SITE_URL = env.get_str("PROPUSK_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", PROPUSK_SITE_URL):
    raise ImproperlyConfigured(
        f"PROPUSK_SITE_URL={PROPUSK_SITE_URL!r} must be the site's http(s) address, "
        "e.g. https://propusk.example.kz"
    )
# Email through Django's mail backends: the console in development (DEBUG), SMTP otherwise.
EMAIL_BACKEND = env.get_str(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.get_str("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = env.get_int("DJANGO_EMAIL_PORT", 25)
EMAIL_HOST_USER = env.get_str("DJANGO_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.secret("DJANGO_EMAIL_HOST_PASSWORD", required=False)
EMAIL_USE_TLS = env.get_bool("DJANGO_EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env.get_int("DJANGO_EMAIL_TIMEOUT", 15)
DEFAULT_FROM_EMAIL = env.get_str("DJANGO_DEFAULT_FROM_EMAIL", "propusk@localhost")
# Email notifications on or off for the whole site.
PROPUSK_NOTIFY_EMAIL = env.get_bool("PROPUSK_NOTIFY_EMAIL", True)
# Telegram: off while no bot token is set. The API's address is configurable (a local stand-in
# in tests, a proxy where api.telegram.org is unreachable).
PROPUSK_TELEGRAM_BOT_TOKEN = env.secret("PROPUSK_TELEGRAM_BOT_TOKEN", required=False)
PROPUSK_TELEGRAM_API_URL = env.get_str(
    "PROPUSK_TELEGRAM_API_URL", "https://api.telegram.org"
).rstrip("/")
PROPUSK_TELEGRAM_BOT_USERNAME = env.get_str("PROPUSK_TELEGRAM_BOT_USERNAME", "").lstrip("@")
# Set to use the webhook (setWebhook with this secret_token) instead of `manage.py telegram_link`.
PROPUSK_TELEGRAM_WEBHOOK_SECRET = env.secret("PROPUSK_TELEGRAM_WEBHOOK_SECRET", required=False)
PROPUSK_TELEGRAM_TIMEOUT_SECONDS = env.get_float("PROPUSK_TELEGRAM_TIMEOUT_SECONDS", 10.0)
# Browser push (Web Push, VAPID): off while no key pair is set. The private key is a secret
# (PEM or base64url, or PROPUSK_VAPID_PRIVATE_KEY_FILE); the public key goes to browsers.
PROPUSK_VAPID_PRIVATE_KEY = env.secret("PROPUSK_VAPID_PRIVATE_KEY", required=False)
PROPUSK_VAPID_PUBLIC_KEY = env.get_str("PROPUSK_VAPID_PUBLIC_KEY", "")
PROPUSK_VAPID_SUBJECT = env.get_str("PROPUSK_VAPID_SUBJECT", "mailto:propusk@localhost")
PROPUSK_WEBPUSH_TIMEOUT_SECONDS = env.get_float("PROPUSK_WEBPUSH_TIMEOUT_SECONDS", 10.0)
# Push services are https; only tests with a local stand-in allow http endpoints.
PROPUSK_WEBPUSH_ALLOW_HTTP = env.get_bool("PROPUSK_WEBPUSH_ALLOW_HTTP", False)
# The push services a browser subscription may point at (the server posts to it: no other
# host, so an employee cannot make the server call an internal address). A leading dot
# allows the subdomains. The browsers' own services by default.
PROPUSK_WEBPUSH_ALLOWED_HOSTS = env.get_list(
    "PROPUSK_WEBPUSH_ALLOWED_HOSTS",
    [
        "fcm.googleapis.com",
        "updates.push.services.mozilla.com",
        ".notify.windows.com",
        "web.push.apple.com",
    ],
)
# Retries of a channel that is down: exponential backoff with jitter from MIN to MAX seconds,
# at most MAX_ATTEMPTS tries, then the delivery fails for good (audited).
PROPUSK_NOTIFY_RETRY_MIN_SECONDS = env.get_float("PROPUSK_NOTIFY_RETRY_MIN_SECONDS", 10.0)
PROPUSK_NOTIFY_RETRY_MAX_SECONDS = env.get_float("PROPUSK_NOTIFY_RETRY_MAX_SECONDS", 3600.0)
PROPUSK_NOTIFY_MAX_ATTEMPTS = env.get_int("PROPUSK_NOTIFY_MAX_ATTEMPTS", 8)
# How long a worker holds a delivery it is sending before the sweep may take it again.
PROPUSK_NOTIFY_LEASE_SECONDS = env.get_float("PROPUSK_NOTIFY_LEASE_SECONDS", 120.0)
PROPUSK_NOTIFY_SWEEP_SECONDS = env.get_float("PROPUSK_NOTIFY_SWEEP_SECONDS", 30.0)
# Notifications name visitors: they are deleted this many days after they were made.
PROPUSK_NOTIFY_RETENTION_DAYS = env.get_float("PROPUSK_NOTIFY_RETENTION_DAYS", 90.0)
for _name, _number in (
    ("PROPUSK_TELEGRAM_TIMEOUT_SECONDS", PROPUSK_TELEGRAM_TIMEOUT_SECONDS),
    ("PROPUSK_WEBPUSH_TIMEOUT_SECONDS", PROPUSK_WEBPUSH_TIMEOUT_SECONDS),
    ("PROPUSK_NOTIFY_RETRY_MIN_SECONDS", PROPUSK_NOTIFY_RETRY_MIN_SECONDS),
    ("PROPUSK_NOTIFY_RETRY_MAX_SECONDS", PROPUSK_NOTIFY_RETRY_MAX_SECONDS),
    ("PROPUSK_NOTIFY_MAX_ATTEMPTS", PROPUSK_NOTIFY_MAX_ATTEMPTS),
    ("PROPUSK_NOTIFY_LEASE_SECONDS", PROPUSK_NOTIFY_LEASE_SECONDS),
    ("PROPUSK_NOTIFY_SWEEP_SECONDS", PROPUSK_NOTIFY_SWEEP_SECONDS),
    ("PROPUSK_NOTIFY_RETENTION_DAYS", PROPUSK_NOTIFY_RETENTION_DAYS),
):
    if not (math.isfinite(_number) and _number > 0):
        raise ImproperlyConfigured(f"{_name}={_number:g} must be more than 0 (and finite)")
if PROPUSK_NOTIFY_RETRY_MAX_SECONDS < PROPUSK_NOTIFY_RETRY_MIN_SECONDS:
    raise ImproperlyConfigured(
        "PROPUSK_NOTIFY_RETRY_MAX_SECONDS must not be below PROPUSK_NOTIFY_RETRY_MIN_SECONDS"
    )
if bool(PROPUSK_VAPID_PRIVATE_KEY) != bool(PROPUSK_VAPID_PUBLIC_KEY):
    raise ImproperlyConfigured(
        "set both PROPUSK_VAPID_PRIVATE_KEY and PROPUSK_VAPID_PUBLIC_KEY, or neither"
    )

# --- Personal data retention (see docs/privacy.md) ----------------------------------------
# Counted from the end of the visitor's last visit, and only once nothing of theirs is
# pending (no visit awaiting confirmation, expected or checked in, no open incident). The face
# (and the visitor's passage camera pictures) goes first: it is only needed while access may
# be granted, and a month leaves time to look into a complaint about a visit. Names, contacts
# and the ID number go later: a visitor coming back within a year is recognised by the ID
# number (no retyping, one HCP person); after that the visitor is anonymised and the visits
# stay (host, times, statuses) for the site's statistics and audit.
PROPUSK_FACE_RETENTION_DAYS = env.get_float("PROPUSK_FACE_RETENTION_DAYS", 30.0)
PROPUSK_VISITOR_DATA_RETENTION_DAYS = env.get_float("PROPUSK_VISITOR_DATA_RETENTION_DAYS", 365.0)
for _name, _number in (
    ("PROPUSK_FACE_RETENTION_DAYS", PROPUSK_FACE_RETENTION_DAYS),
    ("PROPUSK_VISITOR_DATA_RETENTION_DAYS", PROPUSK_VISITOR_DATA_RETENTION_DAYS),
):
    if not (math.isfinite(_number) and _number > 0):
        raise ImproperlyConfigured(f"{_name}={_number:g} must be more than 0 (and finite)")
if PROPUSK_FACE_RETENTION_DAYS > PROPUSK_VISITOR_DATA_RETENTION_DAYS:
    raise ImproperlyConfigured(
        "PROPUSK_FACE_RETENTION_DAYS must not be above PROPUSK_VISITOR_DATA_RETENTION_DAYS "
        "(anonymising a visitor deletes the face too)"
    )

# --- Passages and incidents (see docs/passages.md) ----------------------------------------
# Refusals at one door that make a burst worth escalating to security, and within how long.
PROPUSK_PASSAGE_FAILURE_THRESHOLD = env.get_int("PROPUSK_PASSAGE_FAILURE_THRESHOLD", 3)
PROPUSK_PASSAGE_FAILURE_WINDOW_MINUTES = env.get_float(
    "PROPUSK_PASSAGE_FAILURE_WINDOW_MINUTES", 5.0
)
# Still inside this long after the access window ended: an overstay incident.
PROPUSK_PASSAGE_OVERSTAY_MINUTES = env.get_float("PROPUSK_PASSAGE_OVERSTAY_MINUTES", 15.0)
# A face nobody recognised is shown with the visits expected within this margin of its time.
PROPUSK_PASSAGE_EXPECTED_MINUTES = env.get_float("PROPUSK_PASSAGE_EXPECTED_MINUTES", 30.0)
# Retries of a passage picture's fetch while HCP is unreachable, and the backoff between them
# (MIN seconds doubling to MAX, with jitter; passages/pictures.py).
PROPUSK_PASSAGE_PICTURE_RETRIES = env.get_int("PROPUSK_PASSAGE_PICTURE_RETRIES", 6)
PROPUSK_PASSAGE_PICTURE_RETRY_MIN_SECONDS = env.get_float(
    "PROPUSK_PASSAGE_PICTURE_RETRY_MIN_SECONDS", 5.0
)
PROPUSK_PASSAGE_PICTURE_RETRY_MAX_SECONDS = env.get_float(
    "PROPUSK_PASSAGE_PICTURE_RETRY_MAX_SECONDS", 300.0
)
if PROPUSK_PASSAGE_PICTURE_RETRY_MAX_SECONDS < PROPUSK_PASSAGE_PICTURE_RETRY_MIN_SECONDS:
    raise ImproperlyConfigured(
        "PROPUSK_PASSAGE_PICTURE_RETRY_MAX_SECONDS must be at least "
        "PROPUSK_PASSAGE_PICTURE_RETRY_MIN_SECONDS"
    )
# The sweep: re-entry graces that are over, overstays, a drain of pictures that are due and
# whose wake-up was lost.
PROPUSK_PASSAGE_SWEEP_SECONDS = env.get_float("PROPUSK_PASSAGE_SWEEP_SECONDS", 30.0)
# Camera pictures of passages (and incidents) are deleted this long after the passage.
PROPUSK_PASSAGE_PICTURE_RETENTION_DAYS = env.get_float(
    "PROPUSK_PASSAGE_PICTURE_RETENTION_DAYS", 30.0
)
for _name, _number in (
    ("PROPUSK_PASSAGE_PICTURE_RETENTION_DAYS", PROPUSK_PASSAGE_PICTURE_RETENTION_DAYS),
    ("PROPUSK_PASSAGE_FAILURE_WINDOW_MINUTES", PROPUSK_PASSAGE_FAILURE_WINDOW_MINUTES),
    ("PROPUSK_PASSAGE_SWEEP_SECONDS", PROPUSK_PASSAGE_SWEEP_SECONDS),
    ("PROPUSK_PASSAGE_PICTURE_RETRY_MIN_SECONDS", PROPUSK_PASSAGE_PICTURE_RETRY_MIN_SECONDS),
    ("PROPUSK_PASSAGE_PICTURE_RETRY_MAX_SECONDS", PROPUSK_PASSAGE_PICTURE_RETRY_MAX_SECONDS),
):
    if not (math.isfinite(_number) and _number > 0):
        raise ImproperlyConfigured(f"{_name}={_number:g} must be more than 0 (and finite)")
for _name, _number in (
    ("PROPUSK_PASSAGE_FAILURE_THRESHOLD", PROPUSK_PASSAGE_FAILURE_THRESHOLD),
    ("PROPUSK_PASSAGE_OVERSTAY_MINUTES", PROPUSK_PASSAGE_OVERSTAY_MINUTES),
    ("PROPUSK_PASSAGE_EXPECTED_MINUTES", PROPUSK_PASSAGE_EXPECTED_MINUTES),
    ("PROPUSK_PASSAGE_PICTURE_RETRIES", PROPUSK_PASSAGE_PICTURE_RETRIES),
):
    if not (math.isfinite(_number) and _number >= 0):
        raise ImproperlyConfigured(f"{_name}={_number:g} must not be negative")

# --- Celery -------------------------------------------------------------------------
# With no broker configured, kombu's filesystem transport needs no server (make run, tests).
# What each broker does with the task of a worker that dies: docs/architecture.md
# "Background work". In short, every periodic task is a sweep the next beat tick repeats, so
# no work depends on a message surviving a dead worker.
CELERY_BROKER_URL = env.get_str("CELERY_BROKER_URL", "filesystem://localhost/")
# A task is killed after this long (prefork pool; the solo pool of `make run` cannot kill).
CELERY_TASK_TIME_LIMIT = 10 * 60
# Redis gives an unacknowledged message to another worker after the visibility timeout: it
# must be longer than any task (TIME_LIMIT) plus its longest retry countdown (60 s,
# celery.PeriodicTask), or a slow task would run twice.
_REDIS_VISIBILITY_TIMEOUT = 60 * 60
_celery_fs_dir = VAR_DIR / "celery"
if CELERY_BROKER_URL.startswith("filesystem"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_fs_dir / "queue"),
        "data_folder_out": str(_celery_fs_dir / "queue"),
        "processed_folder": str(_celery_fs_dir / "processed"),
        "control_folder": str(_celery_fs_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis", "rediss")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _REDIS_VISIBILITY_TIMEOUT}
    # Redis serves a queue's priority 0 first (kombu's steps 0, 3, 6, 9): every task goes at
    # 3, and the access engine's wake-ups for revocations at 0 (PROPUSK_ACCESS_WAKE_PRIORITY)
    # so they are not queued behind a backlog of other tasks (docs/access-engine.md).
    CELERY_TASK_DEFAULT_PRIORITY = 3
    PROPUSK_ACCESS_WAKE_PRIORITY: int | None = 0
else:
    # RabbitMQ: its own consumer_timeout (30 min by default) plays that part, server-side.
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
if not CELERY_BROKER_URL.startswith(("redis", "rediss")):
    # The filesystem transport has no priorities; RabbitMQ only on a queue declared with
    # x-max-priority: the wake-ups go like any task.
    PROPUSK_ACCESS_WAKE_PRIORITY = None
CELERY_TASK_IGNORE_RESULT = True
# Acknowledged when finished: a task whose worker dies mid-way is delivered again where the
# broker can (RabbitMQ, Redis; a killed prefork child on any broker), not on the filesystem
# transport.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Lost the broker connection: stop the running late-acknowledged tasks, since the broker
# hands their messages to another worker (Celery 6's default; silences its warning).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    # HikCentral events: the polling backfill, and pending events whose wake-up was lost or
    # whose retry is due (docs/events.md).
    "poll-hcp-events": {
        "task": "propusk.events.tasks.poll_hcp_events",
        "schedule": PROPUSK_HCP_EVENTS_POLL_SECONDS,
    },
    "sweep-pending-events": {
        "task": "propusk.events.tasks.sweep_pending_events",
        "schedule": PROPUSK_EVENTS_SWEEP_SECONDS,
    },
    # HCP's push subscription made again if HCP lost or changed it (docs/events.md).
    "check-hcp-subscription": {
        "task": "propusk.events.tasks.check_hcp_subscription",
        "schedule": PROPUSK_HCP_EVENTS_SUBSCRIPTION_CHECK_SECONDS,
    },
    "close-expired-visits": {
        "task": "propusk.visits.tasks.close_expired_visits",
        "schedule": env.get_float("PROPUSK_CLOSE_EXPIRED_EVERY_SECONDS", 60.0),
    },
    # Faces kept for a form with errors live an hour at most (visitors/pending_photos.py).
    "sweep-pending-photos": {
        "task": "propusk.visitors.tasks.sweep_pending_photos",
        "schedule": 10 * 60.0,
    },
    # The access engine's sweep: work whose wake-up was lost, windows opening and closing on
    # time, retries that are due, and whether HCP applied its changes (docs/access-engine.md).
    "reconcile-access": {
        "task": "propusk.access.tasks.reconcile_due",
        "schedule": PROPUSK_ACCESS_SWEEP_SECONDS,
    },
    # The full sync: drift in HCP (persons or memberships changed by hand, an HCP restored or
    # wiped) found and queued for repair (docs/access-engine.md).
    "sync-access": {
        "task": "propusk.access.tasks.sync_with_hcp",
        "schedule": PROPUSK_ACCESS_SYNC_MINUTES * 60,
    },
    # Notifications whose wake-up was lost, and retries that are due (docs/notifications.md).
    "send-due-notifications": {
        "task": "propusk.notifications.tasks.send_due",
        "schedule": PROPUSK_NOTIFY_SWEEP_SECONDS,
    },
    # Notifications past their retention (PROPUSK_NOTIFY_RETENTION_DAYS) deleted.
    "purge-old-notifications": {
        "task": "propusk.notifications.tasks.purge_old",
        "schedule": 10 * 60.0,
    },
    # Passages: single-pass visits whose re-entry grace is over, overstays, a drain of due
    # pictures whose wake-up was lost (docs/passages.md).
    "sweep-passages": {
        "task": "propusk.passages.tasks.sweep",
        "schedule": PROPUSK_PASSAGE_SWEEP_SECONDS,
    },
    # Faces and then identities past their retention (PROPUSK_FACE_RETENTION_DAYS,
    # PROPUSK_VISITOR_DATA_RETENTION_DAYS) deleted and anonymised (docs/privacy.md).
    "purge-personal-data": {
        "task": "propusk.visitors.tasks.purge_personal_data",
        "schedule": 10 * 60.0,
    },
    # Passage pictures past PROPUSK_PASSAGE_PICTURE_RETENTION_DAYS deleted.
    "delete-expired-passage-pictures": {
        "task": "propusk.passages.tasks.delete_expired_pictures",
        "schedule": 10 * 60.0,
    },
}

# Every handler masks invitation tokens and ID numbers (propusk.core.logging), Django's own
# included: its default 'django' logger handlers (a console printing with DEBUG on, and
# mail_admins) are replaced here, since they had no mask.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {
        "mask_secrets": {"()": "propusk.core.logging.MaskSecretsFilter"},
        "mask_events_token": {"()": "propusk.events.logging.MaskEventsTokenFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_secrets", "mask_events_token"],
        },
        # Errors by mail to ADMINS (none by default), DEBUG off, as Django's default does.
        "mail_admins": {
            "level": "ERROR",
            "class": "django.utils.log.AdminEmailHandler",
            "filters": ["require_debug_false", "mask_secrets", "mask_events_token"],
        },
    },
    "root": {"handlers": ["console"], "level": env.get_str("PROPUSK_LOG_LEVEL", "INFO")},
    "loggers": {
        # Its lines reach the console through root.
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.db.backends": {"level": "WARNING"},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # The HCP client logs each call itself (path, code, duration), without secrets.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # django-axes: failures and lockouts (WARNING, usernames and addresses masked).
        "axes": {"level": "WARNING"},
        # redis-py gives this logger a bare (unmasked) handler of its own unless it is already
        # configured: configured here, its lines go through root's masked handler.
        "push_response": {"level": "INFO"},
    },
}
# Error reports (the DEBUG page, the mail to ADMINS) never show an ID number, a face or a
# secret: propusk.core.debug.
DEFAULT_EXCEPTION_REPORTER_FILTER = "propusk.core.debug.PersonalDataReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "propusk.core.debug.PersonalDataExceptionReporter"

# --- Metrics (see docs/metrics.md) ------------------------------------------------------------
# The bearer token Prometheus sends to /metrics (or *_FILE). Unset: only a signed-in
# administrator or security employee may read the metrics. URL-safe, at least 24 characters.
PROPUSK_METRICS_TOKEN = env.secret("PROPUSK_METRICS_TOKEN", required=False)
if PROPUSK_METRICS_TOKEN and not re.fullmatch(r"[A-Za-z0-9_.~+/=-]{24,200}", PROPUSK_METRICS_TOKEN):
    raise ImproperlyConfigured(
        "PROPUSK_METRICS_TOKEN must be 24 to 200 characters of A-Z a-z 0-9 - _ . ~ + / ="
    )
# How long one reading of the figures answers every scrape (per web process).
PROPUSK_METRICS_CACHE_SECONDS = env.get_float("PROPUSK_METRICS_CACHE_SECONDS", 2.0)
if not (math.isfinite(PROPUSK_METRICS_CACHE_SECONDS) and PROPUSK_METRICS_CACHE_SECONDS >= 0):
    raise ImproperlyConfigured("PROPUSK_METRICS_CACHE_SECONDS must be 0 or more (and finite)")
# A revocation HCP has not confirmed this long after the access should have ended is overdue.
PROPUSK_METRICS_REVOKE_OVERDUE_SECONDS = env.get_float(
    "PROPUSK_METRICS_REVOKE_OVERDUE_SECONDS", 30.0
)
if not (
    math.isfinite(PROPUSK_METRICS_REVOKE_OVERDUE_SECONDS)
    and PROPUSK_METRICS_REVOKE_OVERDUE_SECONDS >= 0
):
    raise ImproperlyConfigured(
        "PROPUSK_METRICS_REVOKE_OVERDUE_SECONDS must be 0 or more (and finite)"
    )
# The commit the deployment runs, shown by propusk_build_info (set by the deploy; optional).
PROPUSK_BUILD_COMMIT = env.get_str("PROPUSK_BUILD_COMMIT", "")

# --- REST API (propusk.api, docs/api.md) ------------------------------------------------
# Per token (or signed-in user), counted on the shared cache (CACHE_URL): every request, and
# registrations on top (each decodes a photo and runs the face check). "N/second|minute|hour
# |day"; 0 turns one off.
API_RATE = env.get_str("PROPUSK_API_RATE", "600/minute")
API_REGISTER_RATE = env.get_str("PROPUSK_API_REGISTER_RATE", "120/minute")
for _name, _rate in (
    ("PROPUSK_API_RATE", API_RATE),
    ("PROPUSK_API_REGISTER_RATE", API_REGISTER_RATE),
):
    if not re.fullmatch(r"\s*\d+\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*", _rate):
        raise ImproperlyConfigured(f"{_name}={_rate!r} must be a rate like 120/minute")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "propusk.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "propusk.api.throttling.TokenRateThrottle",
        "propusk.api.throttling.RegistrationRateThrottle",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "propusk.api.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "propusk.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Propusk API",
    "DESCRIPTION": "Visits, visitors, passages and invitations for the site's own systems "
    "(docs/api.md).",
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "propusk.api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "VisitKindEnum": "propusk.visits.models.VisitKind",
        "VisitStatusEnum": "propusk.visits.models.VisitStatus",
        "InvitationKindEnum": "propusk.invitations.models.InvitationKind",
    },
}
