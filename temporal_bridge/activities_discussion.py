"""The discussion activity: a comment, a question or an answer the workflow
accepted, written to the timeline with the emails to the people involved
(approvals.discussion.notices)."""
from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from approvals.discussion import notices as discussion_notices
from temporal_bridge import messages as m
from temporal_bridge.activities import db_activity

ERR_BAD_NOTICE = "BadDiscussionNotice"


@activity.defn(name=m.ACT_NOTIFY_DISCUSSION)
@db_activity
def notify_discussion(notice: m.DiscussionNotice) -> m.DiscussionResult:
    if notice.kind not in discussion_notices.KINDS:
        # Retrying cannot make an unknown kind known.
        raise ApplicationError(f"{notice.kind!r} is not a kind of discussion entry", type=ERR_BAD_NOTICE, non_retryable=True)
    return discussion_notices.discussion_record(notice)


DISCUSSION_ACTIVITIES = [notify_discussion]
