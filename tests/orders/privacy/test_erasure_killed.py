"""An erasure killed between its steps (a real SIGKILL of the process doing it) leaves nothing erased:
the key usable, the mirror intact, no record; erasing again then completes. Killed after, all of it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from orders.models import Customer, Order
from orders.privacy.keys import customer_key_ensure, unwrap
from orders.privacy.models import CustomerDataKey, CustomerErasure
from orders.privacy.services import customer_erase

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def database_for_another_process():
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite" and ("memory" in name or name == ":memory:"):
        pytest.skip("an in-memory SQLite test database is not reachable from another process")
    return name


def erase_in_a_process(customer_id: int, step: str, database: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "ORDER_DESK_TEST_DATABASE": database}
    return subprocess.run([sys.executable, "-m", "tests.orders.privacy.erase_and_die", str(customer_id), "dpo", step],
                          cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("step", ["key_destroyed", "mirror_rewritten"])
def test_killed_between_steps_nothing_is_erased_and_a_retry_erases_everything(protector, customer, closed_order, step,
                                                                               database_for_another_process):
    key_before = customer_key_ensure(customer_id=customer.pk)

    died = erase_in_a_process(customer.pk, step, database_for_another_process)

    assert died.returncode == -signal.SIGKILL, died.stderr[-2000:]
    assert "key destroyed=True" in died.stdout  # it was killed mid-way, its transaction holding the destroyed key
    customer.refresh_from_db()
    closed_order.refresh_from_db()
    key = CustomerDataKey.objects.get(customer=customer)
    assert customer.name == "Acme Corporation" and "Larkspur" in closed_order.shipping_address
    assert key.destroyed_at is None and unwrap(key) == unwrap(key_before)  # the key still opens their payloads
    assert not CustomerErasure.objects.exists()

    outcome = customer_erase(customer_id=customer.pk, actor=protector, reason="Request DPR-2026-17")
    assert outcome.erased_now
    assert CustomerDataKey.objects.get(customer=customer).destroyed_at is not None
    assert Order.objects.get(pk=closed_order.pk).shipping_address == f"Erased customer {customer.pk}"


def test_killed_after_the_commit_everything_is_erased_and_again_is_a_no_op(protector, customer, closed_order,
                                                                          database_for_another_process):
    customer_key_ensure(customer_id=customer.pk)

    finished = erase_in_a_process(customer.pk, "never", database_for_another_process)

    assert finished.returncode == 0, finished.stderr[-2000:]
    assert Customer.objects.get(pk=customer.pk).name == f"Erased customer {customer.pk}"
    assert CustomerDataKey.objects.get(customer=customer).destroyed_at is not None and CustomerErasure.objects.count() == 1
    assert not customer_erase(customer_id=customer.pk, actor=protector, reason="again").erased_now
