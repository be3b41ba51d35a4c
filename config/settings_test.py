"""Settings for the test suite: the real settings with fast, local pieces."""
import os

os.environ.setdefault("ORDER_DESK_TESTING", "1")
os.environ.setdefault("ORDER_DESK_VAR_DIR", str(__import__("pathlib").Path(__file__).resolve().parent.parent / "var" / "test"))

from config.settings import *  # noqa: E402,F403

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ORDER_FULFILMENT_STEPS = 4
ORDER_FULFILMENT_STEP_SECONDS = 0.05
# Tests that need a live Temporal point these at their own server.
TEMPORAL_QUERY_TIMEOUT = 2.0
# The snapshot cache outlives a test (and SQLite reuses primary keys after a
# rollback): off by default, on in the tests that are about it.
ORDER_SNAPSHOT_CACHE_SECONDS = 0
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The test client and the browser tests' live server speak plain HTTP; the
# production redirect to HTTPS is covered by tests/deploy against gunicorn.
SECURE_SSL_REDIRECT = False
# No collectstatic before tests: WhiteNoise finds files in the app folders, as with DEBUG.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

# Worker threads in the integration tests must not keep connections open past
# an activity, or the test database cannot be dropped at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

# One SQLite test database per test process, so two runs (a developer's and a
# helper's, or xdist workers) never share a file.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test_db_{os.getpid()}.sqlite3")}  # noqa: F405

# `manage.py runworker` processes that an integration test starts work on that
# test's database (the test run passes its name), not on the development one.
if os.environ.get("ORDER_DESK_TEST_DATABASE"):
    DATABASES["default"]["NAME"] = os.environ["ORDER_DESK_TEST_DATABASE"]  # noqa: F405
# Payments confirmed later by webhook are switched on by the tests about them
# (a large order's workflow would otherwise wait for a provider no test runs).
PAYMENT_CONFIRMATION_ABOVE = __import__("decimal").Decimal("0")
