"""The order's custom search attributes: how an operator finds orders in the
Temporal UI and CLI ("every order stuck in fulfilling for a customer").

Search attributes are stored unencrypted by the server (the payload codec does
not cover them), so none carries personal data: a state, the order number,
the customer's id, a band of the total, two flags, and when the order
entered its state. The client sets them at start; from then on the workflow
keeps them current. A run started without them (a deployment that has
not registered them: TEMPORAL_SEARCH_ATTRIBUTES=0) never upserts, so it
cannot fail on an unknown attribute.

Free of Django: the workflow sandbox imports it.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

ORDER_STATE = SearchAttributeKey.for_keyword("OrderState")
ORDER_NUMBER = SearchAttributeKey.for_keyword("OrderNumber")
CUSTOMER_ID = SearchAttributeKey.for_int("CustomerId")
TOTAL_BAND = SearchAttributeKey.for_keyword("TotalBand")
ESCALATED = SearchAttributeKey.for_bool("Escalated")
SLA_BREACHED = SearchAttributeKey.for_bool("SlaBreached")
STATE_ENTERED_AT = SearchAttributeKey.for_datetime("StateEnteredAt")

ALL = (ORDER_STATE, ORDER_NUMBER, CUSTOMER_ID, TOTAL_BAND, ESCALATED, SLA_BREACHED, STATE_ENTERED_AT)
# The names the CLI and the operator API use for each kind.
CLI_TYPES = {"KEYWORD": "Keyword", "INT": "Int", "BOOL": "Bool", "DATETIME": "Datetime"}

# Bands, not amounts: an operator filters "large orders" without the total leaving the codec.
BANDS = ((Decimal(1_000), "under 1k"), (Decimal(10_000), "1k-10k"), (Decimal(50_000), "10k-50k"))


def total_band(total: str) -> str:
    try:
        amount = Decimal(total)
    except (InvalidOperation, ValueError):
        return "unknown"
    return next((band for limit, band in BANDS if amount < limit), "50k and over")


def cli_flags() -> list[str]:
    """`temporal server start-dev` arguments registering every attribute."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={CLI_TYPES[key.indexed_value_type.name]}"]
    return flags


def at_start(*, state: str, number: str, customer_id: int | None, total: str, entered_at: datetime) -> TypedSearchAttributes:
    """What the client sets when it starts an order's workflow."""
    pairs: list[SearchAttributePair] = [
        SearchAttributePair(ORDER_STATE, state), SearchAttributePair(ORDER_NUMBER, number),
        SearchAttributePair(TOTAL_BAND, total_band(total)), SearchAttributePair(ESCALATED, False),
        SearchAttributePair(SLA_BREACHED, False), SearchAttributePair(STATE_ENTERED_AT, entered_at),
    ]
    if customer_id is not None:
        pairs.append(SearchAttributePair(CUSTOMER_ID, customer_id))
    return TypedSearchAttributes(pairs)


def visibility_query(*, state: str | None = None, number: str | None = None, customer_id: int | None = None,
                     entered_before: datetime | None = None) -> str:
    """A list filter for the Temporal UI and `temporal workflow list --query`."""
    clauses = ['WorkflowType="OrderWorkflow"']
    if state:
        clauses.append(f'{ORDER_STATE.name}="{state}"')
    if number:
        clauses.append(f'{ORDER_NUMBER.name}="{number}"')
    if customer_id is not None:
        clauses.append(f"{CUSTOMER_ID.name}={int(customer_id)}")
    if entered_before is not None:
        clauses.append(f'{STATE_ENTERED_AT.name}<"{entered_before.isoformat().replace("+00:00", "Z")}"')
    return " AND ".join(clauses)
