"""The Temporal UI, as `make run` starts it (--ui-codec-endpoint at the desk),
shows an order's input decoded to a logged-in staff manager and ciphertext to
a clerk: the browser's own Django session is what the codec endpoint checks."""
from __future__ import annotations

import base64
import json
import urllib.request
from decimal import Decimal

import pytest

from orders import roles, services
from orders.models import Customer, Product
from temporal_bridge.client.bridge import bridge
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from temporal_bridge.runtime import devserver
from tests.conftest import make_user
from tests.integration.stack import free_port, live_stack
from tests.integration.test_lifecycle import snapshot_state, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ADDRESS = "77 Larkspur Mews, Hollowell"


@pytest.fixture
def ui_with_codec(live_server, settings):
    """A dev server whose UI decodes through this test's live server, as devstack starts it; yields the UI's base URL."""
    port, ui_port = free_port(), free_port()
    process = devserver.start_dev_server(host="127.0.0.1", port=port, ui_port=ui_port, db_file=None,
                                         ui_codec_endpoint=f"{live_server.url}/temporal-codec")
    # The live server is reached as localhost: the UI too, so both share a site and the session cookie may travel.
    ui = f"http://localhost:{ui_port}"
    settings.TEMPORAL_UI_ORIGINS = [ui]
    try:
        devserver.wait_for_port("127.0.0.1", port, timeout=60, process=process)
        devserver.wait_for_port("127.0.0.1", ui_port, timeout=60, process=process)
        # What the UI server tells the browser: our endpoint, and (no flag for it on the dev server) no credentials.
        codec_settings = json.loads(urllib.request.urlopen(f"{ui}/api/v1/settings", timeout=10).read())["Codec"]
        assert codec_settings["Endpoint"] == f"{live_server.url}/temporal-codec" and codec_settings["IncludeCredentials"] is False
        with live_stack(f"127.0.0.1:{port}", settings):
            yield ui
    finally:
        process.terminate()
        process.wait(timeout=10)


def include_credentials(page, ui: str, endpoint: str) -> None:
    """The one-time setting docs/operations.md, "The Temporal UI", asks of staff: the UI's codec settings with
    "Include cross-origin credentials" (the dev server's UI has no flag for it)."""
    page.goto(ui + "/")
    page.evaluate("""endpoint => {
        localStorage.setItem('overrideRemoteCodecConfiguration', 'true');
        localStorage.setItem('endpoint', JSON.stringify(endpoint));
        localStorage.setItem('includeCredentials', 'true');
    }""", endpoint)


def workflow_page(ui: str, order_id: int) -> str:
    async def run_id(client):
        return (await client.get_workflow_handle(m.workflow_id_for(order_id)).describe()).run_id

    return f"{ui}/namespaces/default/workflows/{m.workflow_id_for(order_id)}/{bridge.call(run_id)}/history"


def test_staff_see_the_order_decoded_in_the_temporal_ui_and_a_clerk_does_not(ui_with_codec, live_server, log_in, policies):
    endpoint = f"{live_server.url}/temporal-codec"
    clerk = make_user("clerk", roles.CLERKS)
    manager = make_user("manager", roles.MANAGERS, is_staff=True)
    customer = Customer.objects.create(name="Quintessa Brightwater Ltd", email="q@larkspur.example", credit_limit=Decimal("100000"))
    product = Product.objects.create(sku="SRV-UI", name="Server", price=Decimal("1000.00"), stock_on_hand=5)
    order = services.order_submit(customer=customer, lines=[services.LineRequest(product, 2)], created_by=clerk,
                                  shipping_address=ADDRESS)
    wait_for(lambda: snapshot_state(order.pk, states.PENDING_APPROVAL), what="pending approval")
    url = workflow_page(ui_with_codec, order.pk)

    staff = log_in(manager)
    include_credentials(staff, ui_with_codec, endpoint)
    staff_answers = codec_answers(staff, endpoint)
    staff.goto(url)
    # The UI renders the decoded input (the editor draws only its first lines: the policy, not yet the address)...
    staff.get_by_text('"Standard orders"').first.wait_for(timeout=40_000)
    # ...which the endpoint decoded for this session, the address included.
    assert staff_answers and all(response.status == 200 for response in staff_answers)
    assert any(ADDRESS in decoded_text(response.json()) for response in staff_answers)

    other = log_in(clerk)
    include_credentials(other, ui_with_codec, endpoint)
    other_answers = codec_answers(other, endpoint)
    other.goto(url)
    # The UI says so and shows the ciphertext as stored.
    other.locator(":text('Codec Server could not connect'):visible").first.wait_for(timeout=40_000)
    assert other_answers and all(response.status == 403 for response in other_answers)
    assert "Standard orders" not in other.content() and "Larkspur" not in other.content()


def codec_answers(page, endpoint: str) -> list:
    """The codec endpoint's answers to this page's POSTs, as they arrive."""
    answers: list = []
    page.on("response", lambda r: answers.append(r) if r.url.startswith(endpoint) and r.request.method == "POST" else None)
    return answers


def decoded_text(body: dict) -> str:
    return "".join(base64.b64decode(p.get("data", "")).decode() for p in body["payloads"])
