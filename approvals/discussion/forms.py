"""The discussion's forms on the order page: a comment, a question to the requester, the answer."""
from __future__ import annotations

from django import forms

from orders.forms import request_id_field
from orders.models import Order, Priority
from orders.services import new_request_id
from temporal_bridge.order import discussion
from temporal_bridge.order import messages as m


def _text(label: str, required_message: str, max_length: int = m.MAX_COMMENT) -> forms.CharField:
    return forms.CharField(max_length=max_length, label=label, widget=forms.Textarea(attrs={"rows": 2}),
                           error_messages={"required": required_message})


class CommentForm(forms.Form):
    text = _text("Comment", "A comment cannot be empty.")
    request_id = request_id_field()


class AskForm(forms.Form):
    question = _text("Question", "Write the question for the requester.", discussion.MAX_QUESTION)
    request_id = request_id_field()


class AnswerForm(forms.Form):
    """The answer, and optionally what it changes. Fields left as they were change nothing."""

    answer = _text("Answer", "Write your answer.", discussion.MAX_QUESTION)
    priority = forms.ChoiceField(choices=Priority.choices, required=False)
    shipping_address = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=m.MAX_ADDRESS, required=False)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=m.MAX_NOTE, required=False)
    request_id = request_id_field()

    def edits(self, order: Order) -> dict[str, str | None]:
        """What the answer changes (None: left as is). A field not sent, or
        sent as it is on the order, is no change; an emptied address neither
        (an order always has one)."""
        data = self.cleaned_data
        sent = {name for name in ("priority", "shipping_address", "note") if self.add_prefix(name) in self.data}
        priority = data["priority"] if "priority" in sent and data["priority"] and data["priority"] != order.priority else None
        address = data["shipping_address"].strip() if "shipping_address" in sent else ""
        note = data["note"].strip() if "note" in sent else None
        return {
            "priority": priority,
            "shipping_address": address if address and address != order.shipping_address else None,
            "note": note if note is not None and note != order.note else None,
        }


def discussion_forms(snapshot: m.OrderSnapshot) -> dict[str, forms.Form]:
    """Fresh forms, each with its own request id; the answer's edits prefilled with the order as it stands."""
    return {
        "comment_form": CommentForm(initial={"request_id": new_request_id()}, prefix="comment"),
        "ask_form": AskForm(initial={"request_id": new_request_id()}, prefix="ask"),
        "answer_form": AnswerForm(initial={
            "request_id": new_request_id(), "priority": snapshot.priority, "shipping_address": snapshot.shipping_address,
            "note": snapshot.note,
        }, prefix="answer"),
    }
