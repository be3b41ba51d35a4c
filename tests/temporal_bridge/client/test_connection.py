"""Reaching a remote Temporal cluster or Temporal Cloud: the TLS and API key
settings become the same `Client.connect` arguments for the web process and
every worker."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from temporalio.service import TLSConfig

from temporal_bridge.client.bridge import bridge
from temporal_bridge.client.codec import EncryptionCodec
from temporal_bridge.client.connection import connect_kwargs as connect_kwargs_with_converter


def connect_kwargs(**kwargs) -> dict:
    """The transport arguments; the data converter is the codec tests' subject (test_codec.py, and below)."""
    return {k: v for k, v in connect_kwargs_with_converter(**kwargs).items() if k != "data_converter"}

# No database here (activities are mocked or no order is run): CI runs it once.
pytestmark = pytest.mark.database_agnostic


@pytest.fixture
def remote(settings):
    """Settings of a plain local server, as the defaults give."""
    settings.TEMPORAL_NAMESPACE = "default"
    settings.TEMPORAL_TLS = None
    settings.TEMPORAL_TLS_CERT = settings.TEMPORAL_TLS_KEY = settings.TEMPORAL_TLS_CA = ""
    settings.TEMPORAL_TLS_SERVER_NAME = settings.TEMPORAL_API_KEY = ""
    return settings


@pytest.fixture
def pem_files(tmp_path):
    files = {}
    for name in ("client.pem", "client.key", "ca.pem"):
        path = tmp_path / name
        path.write_bytes(f"-----BEGIN {name}-----\n".encode())
        files[name] = path
    return files


def test_a_local_dev_server_is_reached_without_tls_or_credentials(remote):
    assert connect_kwargs() == {"namespace": "default"}


def test_every_client_encrypts_its_payloads_with_the_configured_keys(remote):
    converter = connect_kwargs_with_converter()["data_converter"]
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert converter.payload_codec.ring.encrypting_id == remote.ORDER_DESK_PAYLOAD_KEYS.split(":")[0]


def test_without_payload_keys_no_client_is_built(remote):
    remote.ORDER_DESK_PAYLOAD_KEYS = ""
    with pytest.raises(ImproperlyConfigured, match="Set ORDER_DESK_PAYLOAD_KEYS"):
        connect_kwargs_with_converter()


def test_malformed_payload_keys_are_refused_with_the_reason(remote):
    remote.ORDER_DESK_PAYLOAD_KEYS = "k1:c2hvcnQ="
    with pytest.raises(ImproperlyConfigured, match="has 5 bytes; AES-256 needs 32"):
        connect_kwargs_with_converter()


def test_runworker_namespace_flag_wins_over_the_setting(remote):
    remote.TEMPORAL_NAMESPACE = "orders-prod"
    assert connect_kwargs()["namespace"] == "orders-prod"
    assert connect_kwargs(namespace="orders-staging")["namespace"] == "orders-staging"


def test_mutual_tls_reads_the_client_certificate_key_and_private_ca(remote, pem_files):
    remote.TEMPORAL_TLS_CERT = str(pem_files["client.pem"])
    remote.TEMPORAL_TLS_KEY = str(pem_files["client.key"])
    remote.TEMPORAL_TLS_CA = str(pem_files["ca.pem"])
    remote.TEMPORAL_TLS_SERVER_NAME = "temporal.internal"

    tls = connect_kwargs()["tls"]

    assert tls == TLSConfig(
        client_cert=pem_files["client.pem"].read_bytes(),
        client_private_key=pem_files["client.key"].read_bytes(),
        server_root_ca_cert=pem_files["ca.pem"].read_bytes(),
        domain="temporal.internal",
    )


def test_mutual_tls_without_a_private_ca_trusts_the_system_roots(remote, pem_files):
    remote.TEMPORAL_TLS_CERT = str(pem_files["client.pem"])
    remote.TEMPORAL_TLS_KEY = str(pem_files["client.key"])

    tls = connect_kwargs()["tls"]

    assert tls.server_root_ca_cert is None and tls.domain is None
    assert tls.client_cert == pem_files["client.pem"].read_bytes()


def test_temporal_cloud_api_key_is_sent_and_tls_is_left_on_by_default(remote):
    remote.TEMPORAL_NAMESPACE = "orders.a1b2c"
    remote.TEMPORAL_API_KEY = "secret-api-key"

    kwargs = connect_kwargs()

    # No explicit `tls`: the SDK turns TLS on (system roots) whenever an API key is given.
    assert kwargs == {"namespace": "orders.a1b2c", "api_key": "secret-api-key"}


def test_tls_can_be_forced_on_or_off_explicitly(remote):
    remote.TEMPORAL_TLS = True
    assert connect_kwargs()["tls"] is True
    remote.TEMPORAL_API_KEY = "key-for-a-plaintext-proxy"
    remote.TEMPORAL_TLS = False
    assert connect_kwargs() == {"namespace": "default", "api_key": "key-for-a-plaintext-proxy", "tls": False}


def test_a_certificate_without_its_key_is_refused_with_a_clear_message(remote, pem_files):
    remote.TEMPORAL_TLS_CERT = str(pem_files["client.pem"])
    with pytest.raises(ImproperlyConfigured, match="TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together"):
        connect_kwargs()


def test_an_unreadable_certificate_file_names_the_variable_and_the_path(remote, pem_files, tmp_path):
    remote.TEMPORAL_TLS_CERT = str(tmp_path / "missing.pem")
    remote.TEMPORAL_TLS_KEY = str(pem_files["client.key"])
    with pytest.raises(ImproperlyConfigured, match=r"TEMPORAL_TLS_CERT: cannot read .*missing\.pem"):
        connect_kwargs()


def test_tls_off_together_with_certificates_is_a_contradiction(remote, pem_files):
    remote.TEMPORAL_TLS = False
    remote.TEMPORAL_TLS_CA = str(pem_files["ca.pem"])
    with pytest.raises(ImproperlyConfigured, match="contradicts"):
        connect_kwargs()


def test_the_web_bridge_connects_with_these_settings(remote, pem_files):
    remote.TEMPORAL_TLS_CERT = str(pem_files["client.pem"])  # key missing: the bridge must refuse, not connect in plaintext
    bridge.reset()
    try:
        with pytest.raises(ImproperlyConfigured, match="go together"):
            bridge.call(lambda client: client.count_workflows(), timeout=3)
    finally:
        bridge.reset()


def test_runworker_connects_with_these_settings_and_explains_a_bad_one(pem_files):
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "TEMPORAL_TLS_CERT": str(pem_files["client.pem"]), "TEMPORAL_TLS_KEY": "",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "runworker"], cwd=django_settings.BASE_DIR, env=env,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "Cannot connect to Temporal: TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together" in result.stderr
    assert "Traceback" not in result.stderr
