"""Business errors raised by the order services.

Views turn them into 4xx answers with the message shown to the user;
activities turn OutOfStock and PaymentDeclined into non-retryable failures.
"""


class OrderError(Exception):
    """A rule of the business refused the request. The message is for users."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ActionNotAllowed(OrderError):
    """The order is not in a state that accepts this action."""

    status_code = 409


class OrderNotFound(OrderError):
    status_code = 404


class OutOfStock(OrderError):
    status_code = 409


class PaymentDeclined(OrderError):
    status_code = 402


class PaymentMismatch(OrderError):
    """A provider's confirmation names a payment the ledger does not hold for the order."""

    status_code = 409


class WorkflowUnavailable(OrderError):
    """Temporal could not be reached; nothing was changed."""

    status_code = 503
