"""The schema, as SQLAlchemy 2.0 typed models. Money is integer minor units; times are UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.domain import limits


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every database (SQLite stores no zone; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    # Stable constraint names, so Alembic migrations can refer to them on every database.
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[int]: JSON()}


class CaseRow(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    playbook_id: Mapped[str] = mapped_column(String(limits.PLAYBOOK_ID))
    playbook_version: Mapped[str] = mapped_column(String(limits.PLAYBOOK_VERSION))
    playbook_hash: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(limits.SEVERITY_KEY))
    customer_name: Mapped[str] = mapped_column(String(limits.CUSTOMER_NAME))
    customer_contact: Mapped[str | None] = mapped_column(String(limits.CONTACT))
    # Normalised contact (or name) so repeat customers can be found with an index.
    customer_key: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    order_ref: Mapped[str | None] = mapped_column(String(limits.ORDER_REF))
    location: Mapped[str | None] = mapped_column(String(limits.LOCATION))
    purchase_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    opened_by: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime]
    manager: Mapped[str | None] = mapped_column(String(32))
    apology_given_at: Mapped[datetime | None]
    steps_done: Mapped[list[int]] = mapped_column(default=list)
    reaction: Mapped[str | None] = mapped_column(String(32))
    root_cause: Mapped[str | None] = mapped_column(String(200))  # >= limits.ROOT_CAUSE
    action_taken: Mapped[str | None] = mapped_column(Text)
    resolution_notes: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None]
    # Seconds from opened to resolved, kept as a number so percentiles are plain SQL.
    recovery_seconds: Mapped[int | None] = mapped_column(BigInteger)
    closed_at: Mapped[datetime | None]
    # Where the case lives in chat: the channel and the case message that heads its thread.
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    # When the staff member was nudged about the case still being open (once per case).
    nudged_at: Mapped[datetime | None]
    # The message a case was opened from (the "Open a recovery case" shortcut), and the
    # link back to it, asked of Slack once when the card is first posted.
    source_channel: Mapped[str | None] = mapped_column(String(32))
    source_ts: Mapped[str | None] = mapped_column(String(32))
    source_link: Mapped[str | None] = mapped_column(String(1000))
    # What created the case (the modal's view id): a form submitted twice opens one case.
    origin_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Optimistic locking: two processes saving the same case can't both win.
    version: Mapped[int] = mapped_column(default=1)

    events: Mapped[list[EventRow]] = relationship(
        back_populates="case", order_by="EventRow.id", cascade="all, delete-orphan")
    compensations: Mapped[list[CompensationRow]] = relationship(
        back_populates="case", order_by="CompensationRow.number", cascade="all, delete-orphan")
    follow_ups: Mapped[list[FollowUpRow]] = relationship(
        back_populates="case", order_by="FollowUpRow.number", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        # The digest's figures read a week's cases from these alone (covering indexes), not
        # from rows scattered over the table (bench/digest.py).
        Index("ix_cases_opened_at_figures", "opened_at", "playbook_id", "customer_key"),
        Index("ix_cases_resolved_at_figures", "resolved_at", "recovery_seconds", "reaction",
              "root_cause", "apology_given_at"),
        Index("ix_cases_state", "state"),
        Index("ix_cases_customer_key_opened_at", "customer_key", "opened_at"),
        Index("ix_cases_location_opened_at", "location", "opened_at"),
        Index("ix_cases_opened_by_state", "opened_by", "state"),
    )


class CaseMessageRow(Base):
    """The messages of a case's walkthrough (apology, fix, compensation), edited in place."""

    __tablename__ = "case_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    channel_id: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str] = mapped_column(String(32))

    __table_args__ = (UniqueConstraint("case_id", "kind"),)


class ShownRow(Base):
    """What Slack shows in a case's card and walkthrough messages, as a digest of the last
    content Amends put there and heard back about: an edit to the same content is skipped.
    NULL when not known (an edit failed and may or may not have landed)."""

    __tablename__ = "case_shown"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"),
                                         primary_key=True)
    part: Mapped[str] = mapped_column(String(20), primary_key=True)
    digest: Mapped[str | None] = mapped_column(String(32))


class EventRow(Base):
    """The append-only timeline: one row per transition, never updated."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    case: Mapped[CaseRow] = relationship(back_populates="events")
    __table_args__ = (Index("ix_case_events_case_id", "case_id", "id"),
                      Index("ix_case_events_kind_at", "kind", "at"))


class CompensationRow(Base):
    __tablename__ = "compensations"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    number: Mapped[int]
    type: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(limits.COMPENSATION_LABEL))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    option_key: Mapped[str | None] = mapped_column(String(limits.OPTION_KEY))
    status: Mapped[str] = mapped_column(String(16))
    auto_approved: Mapped[bool] = mapped_column(default=False)
    requested_by: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    # [{"by": user, "at": ISO time, "level": name}]: the approval ladder's chain.
    endorsements: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)

    case: Mapped[CaseRow] = relationship(back_populates="compensations")
    approval: Mapped[ApprovalRow | None] = relationship(
        back_populates="compensation", cascade="all, delete-orphan")
    __table_args__ = (UniqueConstraint("case_id", "number"),
                      Index("ix_compensations_requested_at", "requested_at"),
                      Index("ix_compensations_decided_at_figures", "decided_at", "status",
                            "type", "amount_minor", "auto_approved"),
                      Index("ix_compensations_status", "status"))


class ApprovalRow(Base):
    """A request for a manager's decision on a compensation above the staff limit."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    compensation_id: Mapped[int] = mapped_column(
        ForeignKey("compensations.id", ondelete="CASCADE"), unique=True)
    requested_at: Mapped[datetime]
    # The approval request message in the case thread, edited in place when decided.
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]

    compensation: Mapped[CompensationRow] = relationship(back_populates="approval")


class FollowUpRow(Base):
    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    number: Mapped[int]
    manager: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime]
    snoozed_until: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(32))
    reaction: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    # The due time the last reminder was sent for: a reminder is never sent twice for it.
    reminded_for: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    # The manager's direct message, edited in place when done.
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))

    case: Mapped[CaseRow] = relationship(back_populates="follow_ups")
    __table_args__ = (UniqueConstraint("case_id", "number"),
                      # Done and open follow-ups apart: an index led by done_at looks so
                      # selective for "done_at IS NULL" that SQLite chose it and read every
                      # open row from the table.
                      Index("ix_follow_ups_done_at_figures", "done_at", "due_at", "reaction",
                            "case_id", "number", sqlite_where=text("done_at IS NOT NULL"),
                            postgresql_where=text("done_at IS NOT NULL")),
                      Index("ix_follow_ups_open_manager_due_at", "manager", "due_at",
                            sqlite_where=text("done_at IS NULL"),
                            postgresql_where=text("done_at IS NULL")),
                      Index("ix_follow_ups_due_at_done_at", "due_at", "done_at"))


class SurveyRow(Base):
    """A survey sent to a customer: its link is signed over (id, nonce, expires_at), and it
    is answered at most once (the answer is written only where answered_at is still NULL)."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(32))  # random, so an id alone is no link
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    score: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_surveys_case_id", "case_id", "id"),
                      # the digest: surveys sent in a week, answers received in a week
                      Index("ix_surveys_created_at", "created_at", "answered_at"),
                      Index("ix_surveys_answered_at", "answered_at", "score"))


class SentDigestRow(Base):
    """One row per week and channel: the claim that makes the digest go out exactly once."""

    __tablename__ = "sent_digests"

    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[str] = mapped_column(String(8))  # ISO week, "2026-W47"
    channel: Mapped[str] = mapped_column(String(32))
    claimed_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    late: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (UniqueConstraint("week", "channel"),)


class OutboxRow(Base):
    """Something to tell Slack (or a webhook) after a change, written in the change's own
    transaction and delivered by the worker: retried with back-off, dead-lettered at last."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Deliveries for one case go out in order; None for messages about no case.
    case_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending, sent, dead
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]  # a worker's lease while it delivers
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]  # the change's transaction
    # When the request that caused the change reached Amends (a click's work runs after its
    # ack, or after a crash from the inbox): how long a person waited is sent_at minus this.
    # None when no request caused it (reminders, digests).
    requested_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    # Labels of the posts a failed attempt sent (landed, or lost on the way back): a retry
    # looks only for those before posting again. A claim clears it, so a worker that dies
    # mid-delivery leaves it unknown (NULL after a first attempt) and the retry looks for all.
    sent_labels: Mapped[list[str] | None] = mapped_column(JSON)
    # How many times Slack's Retry-After put this delivery off: its own 429s, and calls
    # refused here while a 429 another call met held their method in their channel (the
    # rest of its Retry-After). Each is a wait Slack asked for, which `attempts` leaves out.
    # The soak reads it to say why a delivery was late.
    rate_limited: Mapped[int] = mapped_column(default=0, server_default="0")

    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
                      Index("ix_outbox_status_case_id_id", "status", "case_id", "id"))


class AlertRow(Base):
    """A one-off alert, claimed by a unique key so it goes out once (e.g. a day's hotspot)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("kind", "key"),)


class RequestKeyRow(Base):
    """A request already acted on (a form's view id, a click's action_ts), written in the
    same transaction as its change: a second delivery of the same request changes nothing."""

    __tablename__ = "request_keys"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    case_id: Mapped[int | None]
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_request_keys_created_at", "created_at"),)


class InboxRow(Base):
    """A click acknowledged to Slack whose work has not finished yet. Written before the ack
    and deleted when the work is done: a process that dies in between leaves the row, and
    another process runs the work again (the request key keeps it to one effect)."""

    __tablename__ = "inbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending, dead
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    locked_until: Mapped[datetime]  # the first run's lease, then each recovery's

    __table_args__ = (Index("ix_inbox_status_locked_until", "status", "locked_until"),)
