"""Messages of the discussion before deciding: comments, a question to the
requester and its answer, and the notices they send.

Free of Django: the workflow sandbox imports it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from temporal_bridge.contract.payload_types import resolve_annotations
from temporal_bridge.order.records import StepRecord, TimelineEntry

SIGNAL_COMMENT = "comment"
SIGNAL_ASK_REQUESTER = "ask_requester"
SIGNAL_ANSWER = "answer"
ACT_NOTIFY_DISCUSSION = "notify_discussion"


@dataclass
class CommentSignal:
    actor: str
    request_id: str
    text: str


@dataclass
class QuestionSignal:
    """An approver sends the order back to its requester with a question."""

    actor: str
    request_id: str
    question: str


@dataclass
class AnswerSignal:
    """The requester's answer; edits restart the approval under the order's rule."""

    actor: str
    request_id: str
    answer: str
    priority: str | None = None
    shipping_address: str | None = None
    note: str | None = None


@dataclass
class DiscussionNotice:
    """Email the people involved in an order about a comment, a question or an answer.

    `kind` is "comment", "question" or "answer"; the entry is written by the
    same activity (its key in `record`), so the email and the timeline agree.
    """

    order_id: int
    kind: str
    actor: str
    text: str
    record: StepRecord | None = None


def discussion_text(kind: str, actor: str, text: str) -> str:
    """The timeline's words for a comment, a question or an answer."""
    if kind == "question":
        return f"Question from {actor} for the requester: {text}"
    if kind == "answer":
        return f"Answer from {actor}: {text}"
    return f"Comment by {actor}: {text}"


@dataclass
class DiscussionResult:
    # Who was emailed, and the timeline entry as written (under record.key).
    recipients: list[str] = field(default_factory=list)
    recorded: list[TimelineEntry] = field(default_factory=list)


# Bounds on what an outsider's message may carry.
MAX_QUESTION = 1000


resolve_annotations(globals())  # after the last class: see temporal_bridge.contract.payload_types
