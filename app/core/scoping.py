"""API tokens restricted to some sections (``ApiToken.section_ids``): such a token reaches only the objects
of those sections, on top of what its owner's role and the object checks allow.

Deny by default: a scoped token is let through an authenticated API route only when every argument of the
route's path names an object whose section is in scope. Each domain registers, per path argument name,
how to find the section(s) of the object it names (:func:`register`); a route with an argument nobody
registered (an expert's pool record, a webhook), or with no argument at all (lists, searches, filings that
name their section in the body), is refused. Public routes and the caller's own account are not scoped."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from app.core.permissions import Permission

# path argument name → the sections of the object it names: no entry for a missing object (the view then
# answers 404 as usual), ``None`` for an object that belongs to no section (refused).
Resolver = Callable[[Any], Iterable[int | None]]
RESOLVERS: dict[str, Resolver] = {}

# Routes about the caller itself: a scoped token still reads its own account.
UNSCOPED_PERMISSIONS = frozenset({Permission.ACCOUNT_SELF})


def register(argument: str, resolver: Resolver) -> None:
    RESOLVERS[argument] = resolver


def allows(scope: frozenset[int], view_args: dict[str, Any], permissions: frozenset[Permission]) -> bool:
    """Whether a token limited to the sections ``scope`` may use this route with these path arguments."""
    if permissions and permissions <= UNSCOPED_PERMISSIONS:
        return True
    if not view_args:
        return False
    for name, value in view_args.items():
        resolver = RESOLVERS.get(name)
        if resolver is None:
            return False
        if any(section_id is None or section_id not in scope for section_id in resolver(value)):
            return False
    return True


def by_column(column: Any) -> Resolver:
    """A resolver reading the section id from ``column`` of the row whose ``id`` is the argument."""
    from sqlalchemy import select

    from app.core.db import db

    table = column.class_

    def resolve(value: Any) -> list[int | None]:
        rows = db.session.execute(select(column).where(table.id == value)).all()
        return [row[0] for row in rows]

    return resolve
