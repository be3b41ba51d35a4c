"""manage.py rewrap_customer_keys: after a rotation of ORDER_DESK_PAYLOAD_KEYS, rewrap every customer key.

The customer keys stay the same (no history is re-encrypted); only their
wrapping moves to the desk key that now encrypts. Run it after putting the
new desk key first, and before dropping the old one (docs/deployment.md).
"""
from __future__ import annotations

from django.core.management.base import BaseCommand

from orders.privacy.keys import customer_keys_rewrap


class Command(BaseCommand):
    help = "Rewrap every customer data key under the desk's current encrypting key (after a key rotation)."

    def handle(self, *args, **options):
        self.stdout.write(f"Rewrapped {customer_keys_rewrap()} customer key(s) under the current desk key.")
