"""Settings for the test suite: the real settings, with throwaway secrets and fast hashing.

DATABASE_URL / CELERY_BROKER_URL from the environment are honoured, so the same suite runs on
SQLite + filesystem broker and on PostgreSQL + Redis.
"""

import os
import tempfile
from pathlib import Path

_var = Path(tempfile.mkdtemp(prefix="propusk-test-"))
os.environ.setdefault("PROPUSK_VAR_DIR", str(_var))
os.environ.setdefault("PROPUSK_ENV_FILE", os.devnull)
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
os.environ.setdefault(
    "PROPUSK_FIELD_ENCRYPTION_KEYS", "Z2l2ZS1tZS1hLXRlc3Qta2V5LW9mLTMyLWJ5dGVzISE="
)
os.environ.setdefault("PROPUSK_LOOKUP_HASH_KEY", "test-only-lookup-hash-key")

from propusk.settings import *  # noqa: E402,F403

# The shared HCP rate limit (integrations/hikcentral/limiter.py) at a rate no test reaches, so
# tests that talk to the simulator are not slowed by it; its own tests (tests/integrations) set
# theirs. Its state and the circuit breaker's are per test (tests/conftest.py).
HCP_RATE_LIMIT_PER_SECOND = 1000.0
HCP_RATE_LIMIT_BURST = 1000

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LANGUAGE_CODE = "en"

# One process-local cache for the suite: tests inspect the throttle's keys, and counters must not
# leak between runs through a shared server. The throttle itself only uses cache.add/incr, which
# every Django cache backend provides (checked once by hand against Redis: CACHE_URL=redis://...).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# SQLite: the test database is a file (in the throwaway var directory), like `make run`'s, not
# Django's default in-memory one. Threads and processes (the concurrency tests, a real worker)
# then each open their own connection and meet the same locking as under `make run`: WAL,
# IMMEDIATE transactions, busy timeout (core/env.py). It costs no measurable time.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(_var / "test.sqlite3")}  # noqa: F405

# The face check (visitors.faces) is off for the suite: most tests register visitors with plain
# coloured pictures, distinct by their bytes (the simulator recognises faces that way). The face
# check's own tests, a registration test per page and the browser tests turn it on with real
# portraits (tests/faces.py).
FACE_CHECK = False
# HCP's own faceCheck likewise (a photo is never sent to HCP from a form in the suite): its
# tests (tests/visitors/test_hcp_face_check.py) turn it on.
HCP_FACE_CHECK = "off"

# The access engine's revocation lane (a thread beside a run's batches of grants) only starts in
# a run that lingers on the real clock, which few tests make; its thread opens its own database
# connection, which cannot see a test's uncommitted rows. Its tests turn it on with
# transactional_db (tests/access/test_revocation_lane.py); the real workers keep the default.
PROPUSK_ACCESS_REVOCATION_LANE = False
# Likewise the lease keeper (a thread renewing a lingering run's short leases): off, the runs
# of the suite take the long lease; its tests turn it on.
PROPUSK_ACCESS_LEASE_RENEWED_SECONDS = 0.0
