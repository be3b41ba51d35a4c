from django.apps import AppConfig


class TemporalBridgeConfig(AppConfig):
    name = "temporal_bridge"
    verbose_name = "Temporal bridge"
