"""A process that erases a customer and is SIGKILLed between two steps of the erasure.

    python -m tests.orders.privacy.erase_and_die CUSTOMER_ID USERNAME STEP

STEP is where it dies: "key_destroyed" (the key is destroyed in its
transaction, the mirror not yet rewritten), "mirror_rewritten" (the record
not yet written) or "never" (it finishes). Before dying it prints what its own
transaction holds at that moment, so the test knows the kill came mid-way.
"""
from __future__ import annotations

import os
import signal
import sys

import django


def main(customer_id: int, username: str, step: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    django.setup()
    from django.contrib.auth import get_user_model

    from orders.models import Customer
    from orders.privacy import services
    from orders.privacy.models import CustomerDataKey

    def die_before(name: str):
        real = getattr(services, name)

        def dying(*args, **kwargs):
            key = CustomerDataKey.objects.get(customer_id=customer_id)
            name_now = Customer.objects.get(pk=customer_id).name
            print(f"in transaction: key destroyed={key.destroyed_at is not None}, name={name_now!r}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)  # never reached

        setattr(services, name, dying)

    if step == "key_destroyed":
        die_before("_rewrite_mirror")
    elif step == "mirror_rewritten":
        die_before("_record")
    user = get_user_model().objects.get(username=username)
    print(services.customer_erase(customer_id=customer_id, actor=user, reason="Request DPR-2026-17").message, flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
