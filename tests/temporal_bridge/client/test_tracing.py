"""Tracing switched on without the OpenTelemetry packages: a clear error at startup."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from temporal_bridge.client.tracing import check_tracing_available, tracing_interceptors

# No database here (activities are mocked or no order is run): CI runs it once.
pytestmark = pytest.mark.database_agnostic


def test_tracing_off_needs_nothing(settings):
    settings.OTEL_ENABLED = False
    assert tracing_interceptors() == []


def test_tracing_on_without_the_packages_says_what_to_install(settings, monkeypatch):
    settings.OTEL_ENABLED = True
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "opentelemetry.trace", raising=False)
    with pytest.raises(ImproperlyConfigured, match="pip install opentelemetry-api opentelemetry-sdk"):
        check_tracing_available()


def test_a_process_started_with_tracing_but_without_the_packages_stops_with_that_message():
    hide_opentelemetry = (
        "import sys; sys.modules['opentelemetry'] = None; "
        "from django.core.management import execute_from_command_line; execute_from_command_line(['manage.py', 'check'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide_opentelemetry], cwd=django_settings.BASE_DIR, capture_output=True, text=True, timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "OTEL_ENABLED": "1"},
    )
    assert result.returncode != 0
    assert "OTEL_ENABLED=1 needs the OpenTelemetry packages" in result.stderr
    assert "ModuleNotFoundError" not in result.stderr.splitlines()[-1]
