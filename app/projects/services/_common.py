"""Helpers every projects service shares: the audit leaf, the public status timeline, the suspension guard."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from app.accounts.models import User
from app.core import audit
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict

from ..enums import (
    SectionStatus,
)
from ..models import (
    Section,
    SectionStatusChange,
)

# -- section state machine --------------------------------------------------------------------------------

S = SectionStatus


def _audit(action: str, actor: User | None, obj: Any, payload: dict[str, Any]) -> None:
    audit.record(action, actor=actor, object_type=obj.__tablename__, object_id=obj.id, payload=payload)


def _timeline(section: Section, from_status: str | None, to: str, actor: User | None, reason: str) -> None:
    db.session.add(
        SectionStatusChange(
            section_id=section.id,
            from_status=from_status,
            to_status=to,
            reason=reason,
            actor_id=actor.id if actor else None,
            at=now(),
        )
    )


def _ensure_not_suspended(section: Section) -> None:
    if section.suspended:
        raise Conflict(_("The section is suspended; every step waits until it is resumed."), code="suspended")
