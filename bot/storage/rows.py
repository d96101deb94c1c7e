"""The row dataclasses the repositories return, and how a database row becomes one."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.storage.engine import Row

PostState = Literal["open", "answered", "deleted", "crisis"]
"""A tracked support post: waiting for a reply, answered, or no longer watched."""
AlertState = Literal["open", "claimed", "resolved"]
"""An alert: waiting for a moderator, claimed by one, or resolved."""
JobState = Literal["pending", "done", "failed", "cancelled"]
"""A persisted job: due (or retrying), finished, given up after its retries, or cancelled."""


@dataclass(frozen=True)
class MemberRow:
    """What Haven knows about a member."""

    community_id: str
    user_id: str
    name: str
    first_seen: float
    welcomed_at: float | None
    first_post_at: float | None
    greeted_at: float | None
    posts: int
    replies: int


@dataclass(frozen=True)
class TrackedPost:
    """A support post watched for a reply."""

    id: int
    community_id: str
    channel_id: str
    channel_name: str
    message_id: str
    thread_id: str | None
    author_id: str
    posted_at: float
    link: str
    excerpt: str | None
    state: PostState
    answered_at: float | None
    answered_by: str | None
    reminded_at: float | None
    escalated_at: float | None


@dataclass(frozen=True)
class Alert:
    """A crisis or safety alert for moderators."""

    id: int
    community_id: str
    kind: str
    member_id: str
    member_name: str
    channel_id: str
    channel_name: str
    message_id: str
    link: str
    excerpt: str | None
    rule_id: str
    severity: str
    state: AlertState
    count: int
    created_at: float
    updated_at: float
    claimed_by: str | None
    claimed_at: float | None
    resolved_by: str | None
    resolved_at: float | None
    note: str | None
    escalations: int
    messages: str
    places: str = "[]"
    urgency: str = "now"
    number: int = 0
    """The alert's number in its community (#1, #2 ...): what moderators see and type."""
    reason: str | None = None
    """Why the semantic stage raised it (score, closest labelled examples); ``None`` for a rule."""

    def places_list(self) -> list[dict[str, Any]]:
        """Where each post behind this alert was made, oldest first: ``channel_id``,
        ``channel_name``, ``link``, ``message_id`` and ``private`` (a message to Haven)."""
        return list(json.loads(self.places or "[]"))

    @property
    def private(self) -> bool:
        """Whether the first post behind this alert was a private message to Haven."""
        places = self.places_list()
        return bool(places and places[0].get("private"))

    def message_refs(self) -> list[dict[str, Any]]:
        """The alert messages sent so far (to edit them when the state changes)."""
        return list(json.loads(self.messages or "[]"))


@dataclass(frozen=True)
class Job:
    """A persisted timer or delivery: runs once when due, retried on failure."""

    id: int
    community_id: str
    kind: str
    key: str
    due_at: float
    payload: dict[str, Any]
    attempts: int
    last_error: str | None
    state: JobState
    created_at: float
    done_at: float | None
    claimed_by: str | None = None
    """The process holding the job's lease (``None``: free to claim once due)."""
    lease_until: float | None = None
    """When the lease runs out; after that another process may take the job over."""


@dataclass(frozen=True)
class Case:
    """A recorded moderation action."""

    id: int
    community_id: str
    action: str
    rule_id: str | None
    reason: str
    actor_id: str
    actor_name: str
    target_id: str
    target_name: str
    channel_id: str | None
    message_id: str | None
    excerpt: str | None
    created_at: float
    number: int = 0
    """The case's number in its community (#1, #2 ...): what moderators see and type."""


@dataclass(frozen=True)
class DutyRow:
    """A moderator's duty status and quiet hours."""

    community_id: str
    user_id: str
    name: str
    on_duty: bool
    since: float | None
    quiet_start: int | None
    quiet_end: int | None
    last_alerted_at: float
    excerpts: str | None = None
    """How much alert text this moderator sees: ``on``, ``spoiler`` or ``off`` (``None``:
    the community default)."""


@dataclass(frozen=True)
class HandoverEntry:
    """One entry of the shift logbook."""

    id: int
    community_id: str
    author_id: str
    author_name: str
    text: str
    created_at: float


def place_of(channel_id: str, channel_name: str, message_id: str, link: str,
             private: bool) -> dict[str, Any]:
    """Where one post behind an alert was made (no link for a private message to Haven)."""
    return {"channel_id": channel_id, "channel_name": channel_name, "message_id": message_id,
            "link": "" if private else link, "private": private}


def from_row(cls: type, row: Row | None) -> Any:
    """A row as its dataclass (``None`` stays ``None``)."""
    if row is None:
        return None
    data = dict(row)
    if cls is Job:
        data["payload"] = json.loads(data["payload"])
    if cls is DutyRow:
        data["on_duty"] = bool(data["on_duty"])
    return cls(**data)


@dataclass(frozen=True)
class NewJob:
    """A job to schedule (for :meth:`JobsRepository.finish_and_schedule`)."""

    community_id: str
    kind: str
    key: str
    due_at: float
    payload: dict[str, Any] = field(default_factory=dict)
