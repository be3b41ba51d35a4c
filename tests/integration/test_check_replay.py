"""manage.py check_replay against a real server's histories."""
from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from orders.privacy.models import CustomerDataKey
from temporal_bridge.order import messages as m
from tests.integration.test_lifecycle import finished, submit

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_check_replay_replays_the_servers_recent_histories_against_the_current_code(stack, clerk, customer, widget):
    for _ in range(2):
        finished(submit(clerk, customer, widget, 1).pk)
    out = io.StringIO()
    call_command("check_replay", address=stack.address, limit=50, stdout=out)
    summary = out.getvalue()
    replayed = int(summary.split("Replayed ")[1].split(" ")[0])
    assert replayed >= 2
    assert f"{replayed} ok, 0 failed" in summary


def test_a_history_under_a_customer_key_this_database_lacks_is_reported_apart_not_as_non_determinism(stack, clerk, customer,
                                                                                                    widget):
    order = submit(clerk, customer, widget, 1)
    finished(order.pk)
    CustomerDataKey.objects.filter(customer=customer).delete()  # as in a database restored from before the order
    out, err = io.StringIO(), io.StringIO()
    call_command("check_replay", address=stack.address, query=f"TaskQueue = '{stack.task_queue}'", stdout=out, stderr=err)
    assert "Replayed 0 histories: 0 ok, 0 failed" in out.getvalue()
    assert "Could not read 1 histories" in err.getvalue() and m.workflow_id_for(order.pk) in err.getvalue()
