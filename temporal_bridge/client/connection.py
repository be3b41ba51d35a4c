"""How this deployment connects to Temporal: namespace, TLS and API key.

The one place that turns the TEMPORAL_* settings into `Client.connect`
arguments, used by the web process's bridge (bridge.py) and by every
`manage.py runworker`, so a web server and its workers can never disagree on
how to reach a remote cluster or Temporal Cloud:

- plain TCP to a local dev server (no TLS settings: the default);
- mutual TLS: TEMPORAL_TLS_CERT + TEMPORAL_TLS_KEY (PEM files), with
  TEMPORAL_TLS_CA for a private CA and TEMPORAL_TLS_SERVER_NAME when the
  certificate's name differs from the address;
- an API key (Temporal Cloud): TEMPORAL_API_KEY, which implies TLS with the
  system's roots unless TEMPORAL_TLS=0 says otherwise.

It also sets the data converter: every payload is encrypted with the desk's
keys (codec.py), a customer's under that customer's own data key
(orders/privacy/keys.py), so no client or worker of the desk can write
customer data to the server in clear. Workers inherit the converter from their client.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from temporalio.converter import DataConverter
from temporalio.service import TLSConfig

from orders.privacy.keys import customer_keys
from temporal_bridge.client.codec import DEV_KEY_ID, PayloadKeysInvalid, data_converter
from temporal_bridge.client.tracing import tracing_interceptors


def connect_kwargs(*, namespace: str | None = None) -> dict[str, Any]:
    """Keyword arguments for `temporalio.client.Client.connect(address, **kwargs)`."""
    kwargs: dict[str, Any] = {"namespace": namespace or settings.TEMPORAL_NAMESPACE, "data_converter": payload_converter()}
    if settings.TEMPORAL_API_KEY:
        kwargs["api_key"] = settings.TEMPORAL_API_KEY
    tls = _tls()
    if tls is not None:
        kwargs["tls"] = tls
    # OpenTelemetry tracing (OTEL_ENABLED): on the client, so workers built on it trace too.
    interceptors = tracing_interceptors()
    if interceptors:
        kwargs["interceptors"] = interceptors
    return kwargs


def payload_converter() -> DataConverter:
    """The encrypting data converter, for clients and for what builds its own (Replayer, test environments)."""
    if not settings.ORDER_DESK_PAYLOAD_KEYS:
        raise ImproperlyConfigured("Set ORDER_DESK_PAYLOAD_KEYS (docs/deployment.md): "
                                   "the desk sends no customer data to Temporal unencrypted.")
    try:
        return data_converter(settings.ORDER_DESK_PAYLOAD_KEYS, customer_keys)
    except PayloadKeysInvalid as err:
        raise ImproperlyConfigured(str(err)) from err


def desk_converter() -> DataConverter:
    """The desk key alone, no customer keys: for what must run without the desk's database (replaying the stored
    test histories, workflow tests with mocked activities). Never for a client that writes a customer's data."""
    payload_converter()  # the same refusals
    return data_converter(settings.ORDER_DESK_PAYLOAD_KEYS)


def check_payload_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Refuse at start (runserver, migrate, runworker, check --deploy), not at the first workflow call."""
    try:
        ring = payload_converter().payload_codec.ring
    except ImproperlyConfigured as err:
        return [checks.Error(str(err), id="order_desk.E010")]
    if ring.encrypting_id == DEV_KEY_ID and not settings.PAYLOAD_DEV_KEY_ALLOWED:
        return [checks.Error("ORDER_DESK_PAYLOAD_KEYS encrypts with the public development key: generate a real one (docs/deployment.md).",
                             id="order_desk.E011")]
    return []


def _tls() -> TLSConfig | bool | None:
    cert, key, ca = settings.TEMPORAL_TLS_CERT, settings.TEMPORAL_TLS_KEY, settings.TEMPORAL_TLS_CA
    server_name = settings.TEMPORAL_TLS_SERVER_NAME
    wanted = settings.TEMPORAL_TLS  # True / False when set, None when left to the defaults
    if bool(cert) != bool(key):
        raise ImproperlyConfigured("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both (mutual TLS) or neither.")
    if not (cert or ca or server_name):
        # None lets the SDK decide: TLS with the system's roots when an API key is set, none otherwise.
        return wanted
    if wanted is False:
        raise ImproperlyConfigured("TEMPORAL_TLS=0 contradicts TEMPORAL_TLS_CERT/KEY/CA/SERVER_NAME: drop one or the other.")
    return TLSConfig(
        client_cert=_read("TEMPORAL_TLS_CERT", cert),
        client_private_key=_read("TEMPORAL_TLS_KEY", key),
        server_root_ca_cert=_read("TEMPORAL_TLS_CA", ca),
        domain=server_name or None,
    )


def _read(variable: str, path: str) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ImproperlyConfigured(f"{variable}: cannot read {path}: {err.strerror or err}") from err
