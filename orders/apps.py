from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        from orders.roles import ensure_roles

        # After every app, not just this one: the roles include other apps' permissions.
        post_migrate.connect(ensure_roles, dispatch_uid="orders.ensure_roles")
