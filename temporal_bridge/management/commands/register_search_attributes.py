"""manage.py register_search_attributes: register the orders' custom search
attributes (temporal_bridge/order/search_attributes.py) on the namespace.

`make run` registers them on the dev server when it starts it; a self-hosted
cluster needs this once (it is idempotent: attributes already there are
left alone). Temporal Cloud registers attributes in its console or with tcld
instead: the operator API is not open to namespace users there.
"""
from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest

from temporal_bridge.client.bridge import TemporalUnavailable, bridge, mapped_errors
from temporal_bridge.order import search_attributes as sa


class Command(BaseCommand):
    help = "Register the orders' custom search attributes on the namespace (idempotent)."

    def handle(self, *args, **options):
        namespace = settings.TEMPORAL_NAMESPACE

        async def register(client) -> list[str]:
            existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
            wanted = {key.name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{key.indexed_value_type.name}") for key in sa.ALL}
            missing = {name: kind for name, kind in wanted.items() if name not in existing.custom_attributes}
            if missing:
                await client.operator_service.add_search_attributes(
                    AddSearchAttributesRequest(namespace=namespace, search_attributes=missing))
            return sorted(missing)

        try:
            added = bridge.call(mapped_errors(register), timeout=30)
        except TemporalUnavailable as err:
            raise CommandError(f"Temporal is not reachable at {settings.TEMPORAL_ADDRESS}: {err}") from err
        except Exception as err:  # e.g. permission denied on a managed cluster
            raise CommandError(f"Could not register the search attributes on {namespace!r}: {err}") from err
        names = ", ".join(key.name for key in sa.ALL)
        self.stdout.write(f"Registered {', '.join(added)} on {namespace!r}." if added else f"All present on {namespace!r}: {names}.")
