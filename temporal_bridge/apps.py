from django.apps import AppConfig


class TemporalBridgeConfig(AppConfig):
    name = "temporal_bridge"
    verbose_name = "Temporal bridge"

    def ready(self) -> None:
        from temporal_bridge.client.tracing import check_tracing_available

        # OTEL_ENABLED without the packages: say what to install when the
        # process starts, not with an ImportError at the first workflow call.
        check_tracing_available()

        from django.core import checks

        from temporal_bridge.client.connection import check_payload_keys

        checks.register(check_payload_keys)
