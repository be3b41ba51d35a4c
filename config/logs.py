"""Structured logs: a JSON formatter and the order context every line carries.

Views bind the order they work on (`bind`); in a worker, the running activity
names its workflow (order-<pk>), and workflow.logger passes its own info; the
ContextFilter puts `order_number` and `workflow_id` on every record, so the
logs of one order can be found across the web and the worker processes.
LOG_FORMAT=json|plain picks the formatter (see settings.LOGGING).
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

from temporalio import activity

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("order_desk_log_context", default=None)
WORKFLOW_ID = re.compile(r"^order-(\d+)$")
# Attributes every LogRecord has; anything else was passed in `extra`.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "order_number", "workflow_id", "log_context"}


def bind(*, order_number: str | None = None, workflow_id: str | None = None) -> None:
    """Name the order the current request (or task) works on, for its log lines."""
    values = dict(_context.get() or {})
    if order_number:
        values["order_number"] = order_number
    if workflow_id:
        values["workflow_id"] = workflow_id
    _context.set(values)


def clear() -> contextvars.Token:
    return _context.set(None)


def current() -> dict[str, str]:
    """The order context of the code that is running now."""
    values = dict(_context.get() or {})
    if "workflow_id" not in values:
        workflow_id = _activity_workflow_id()
        if workflow_id:
            values["workflow_id"] = workflow_id
    if "order_number" not in values and "workflow_id" in values:
        number = order_number_from_workflow_id(values["workflow_id"])
        if number:
            values["order_number"] = number
    return values


def order_number_from_workflow_id(workflow_id: str) -> str | None:
    # Workflow ids are order-<pk> and numbers OD-<pk, six digits> (orders.services.order_submit).
    match = WORKFLOW_ID.match(workflow_id or "")
    return f"OD-{int(match.group(1)):06d}" if match else None


def _activity_workflow_id() -> str | None:
    try:
        if activity.in_activity():
            return activity.info().workflow_id
    except Exception:  # noqa: BLE001 - logging must never fail the code that logs
        return None
    return None


class ContextFilter(logging.Filter):
    """Adds `order_number` and `workflow_id` (empty when unknown) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        values = current()
        # workflow.logger / activity.logger of the SDK put their info in `extra`.
        for extra in ("temporal_workflow", "temporal_activity"):
            info = getattr(record, extra, None)
            if isinstance(info, dict) and info.get("workflow_id") and "workflow_id" not in values:
                values["workflow_id"] = info["workflow_id"]
                number = order_number_from_workflow_id(info["workflow_id"])
                if number:
                    values.setdefault("order_number", number)
        record.order_number = values.get("order_number", "")
        record.workflow_id = values.get("workflow_id", "")
        record.log_context = "".join(f" [{k}={v}]" for k, v in (("order", record.order_number), ("workflow", record.workflow_id)) if v)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, order context, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        body = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
            "thread": record.threadName,
        }
        for name in ("order_number", "workflow_id"):
            value = getattr(record, name, "")
            if value:
                body[name] = value
        for name, value in record.__dict__.items():
            if name not in _STANDARD and name not in body and not name.startswith("_"):
                body[name] = value
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            body["stack"] = self.formatStack(record.stack_info)
        return json.dumps(body, default=str, ensure_ascii=False)


class LogContextMiddleware:
    """Each request starts with an empty order context (threads are reused)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        token = clear()
        try:
            return self.get_response(request)
        finally:
            _context.reset(token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        # The order pages name their order by pk; its number and workflow id follow from it.
        match = request.resolver_match
        if match is not None and match.namespace == "orders" and isinstance(view_kwargs.get("pk"), int):
            pk = view_kwargs["pk"]
            bind(order_number=order_number_from_workflow_id(f"order-{pk}"), workflow_id=f"order-{pk}")
        return None


def logging_config(*, log_format: str, level: str) -> dict:
    """The LOGGING setting for LOG_FORMAT (json or plain) and LOG_LEVEL."""
    if log_format not in ("json", "plain"):
        raise ValueError(f"LOG_FORMAT must be json or plain, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"order_context": {"()": "config.logs.ContextFilter"}},
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s%(log_context)s %(message)s"},
            "json": {"()": "config.logs.JsonFormatter"},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["order_context"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }
