"""API tokens restricted to some sections (``ApiToken.section_ids``): such a token reaches only the objects
of those sections, on top of what its owner's role and the object checks allow.

Deny by default: a scoped token is let through an authenticated API route only when every argument of the
route's path names an object whose section is in scope. Each domain registers, per path argument name,
how to find the section(s) of the object it names (:func:`register`); a route with an argument nobody
registered (an expert's pool record, a webhook), or with no argument at all (searches, filings that name
their section in the body), is refused. Public routes and the caller's own account are not scoped.

Lists are the exception: a route marked :func:`filters_lists` is let through, and it narrows what it lists to
the token's sections with :func:`restrict` (a query) or :func:`reaches` (a row), so a scoped token lists the
objects of its sections instead of being refused. Rows that belong to no section are left out."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask_login import current_user

from app.core.permissions import Permission

# path argument name → the sections of the object it names: no entry for a missing object (the view then
# answers 404 as usual), ``None`` for an object that belongs to no section (refused).
Resolver = Callable[[Any], Iterable[int | None]]
RESOLVERS: dict[str, Resolver] = {}

# Routes about the caller itself: a scoped token still reads its own account.
UNSCOPED_PERMISSIONS = frozenset({Permission.ACCOUNT_SELF})


def register(argument: str, resolver: Resolver) -> None:
    RESOLVERS[argument] = resolver


def filters_lists(view: Any) -> Any:
    """Declare that this list route narrows its rows to a scoped token's sections (:func:`restrict`,
    :func:`reaches`): such a token may then call it. Put it next to ``@require``."""
    view._section_filtered = True
    return view


def allows(
    scope: frozenset[int],
    view_args: dict[str, Any],
    permissions: frozenset[Permission],
    *,
    filters: bool = False,
) -> bool:
    """Whether a token limited to the sections ``scope`` may use this route with these path arguments;
    ``filters``: the route narrows its list to the scope itself (:func:`filters_lists`)."""
    if permissions and permissions <= UNSCOPED_PERMISSIONS:
        return True
    if not view_args:
        return filters
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


def current() -> frozenset[int] | None:
    """The sections the calling token is limited to; None when it is not (or the caller is a session)."""
    if not current_user or not current_user.is_authenticated:
        return None
    scope: frozenset[int] | None = getattr(current_user, "section_scope", None)
    return scope


def restrict(stmt: Any, column: Any) -> Any:
    """``stmt`` narrowed to the calling token's sections (``column`` holds a row's section id)."""
    scope = current()
    if scope is None:
        return stmt
    return stmt.where(column.in_(sorted(scope)))


def reaches(section_id: int | None) -> bool:
    """Whether the calling token may see a row of section ``section_id`` (always, when not limited)."""
    scope = current()
    return scope is None or (section_id is not None and section_id in scope)
