"""The audit trail: who did what, to which object, when and from where."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.core.database import Base, OrgScoped, bound_organisation, utcnow


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: `user:ana`, `key:union app`, `cli`; and from where."""

    name: str
    remote_addr: str | None = None
    request_id: str | None = None


CLI_ACTOR = Actor("cli")


class AuditEvent(OrgScoped, Base):
    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_org_occurred", "organisation_id", "occurred_at"),)

    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(120), comment="user:<name>, key:<name> or cli")
    action: Mapped[str] = mapped_column(String(64), comment="e.g. journal.post, user.create")
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction (it commits with the change it records)."""
    org = bound_organisation(session)
    if org is None:
        raise RuntimeError("audit events need a session bound to an organisation")
    event = AuditEvent(
        organisation_id=org,
        actor=actor.name,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=details,
        remote_addr=actor.remote_addr,
        request_id=actor.request_id,
    )
    session.add(event)
    return event
