"""What the public may read: published announcements, their documents and history, the trading catalogue,
results lists and the open-data crawl. Read-only; nothing here writes.

A draft never leaves this module: every query starts from :func:`_public_sections` (status ≠ draft) or from
the audit leaf that the publication wrote. Who obtained the documents (获取招标文件) and anything about bids
is never read here, so no page or API built on this module can disclose it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import contains_eager, defaultload, selectinload

from app.core.clock import CST
from app.core.db import db
from app.core.errors import DomainError, NotFound
from app.core.models import AuditCheckpoint, AuditLeaf
from app.core.web import MAX_ROW_ID
from app.projects.enums import CatalogueStatus, SectionStatus
from app.projects.models import (
    Amendment,
    CatalogueItem,
    CatalogueVersion,
    Project,
    Section,
    SectionDocument,
)

S = SectionStatus

#: The audit action and object type ``app.projects.services.publish_section`` writes (one leaf per section).
PUBLICATION_ACTION = "projects:section:publish"
PUBLICATION_OBJECT_TYPE = "section"

PER_PAGE = 20
MAX_PER_PAGE = 100


# -- results lists ----------------------------------------------------------------------------------------

#: Results pages and the states whose sections they list. Later domains (opening, evaluation, awards) move
#: sections into these states; the pages fill up as they do.
RESULT_STATES: dict[str, tuple[SectionStatus, ...]] = {
    "openings": (S.OPENED, S.EVALUATING, S.PUBLICITY, S.AWARDED),
    "candidates": (S.PUBLICITY,),
    "awards": (S.AWARDED,),
    "failed": (S.FAILED,),
    "cancelled": (S.CANCELLED,),
}


@dataclass
class AnnouncementQuery:
    """Search and filters of the announcements list (all optional)."""

    q: str = ""
    category: str | None = None
    status: str | None = None
    region: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    statuses: Sequence[str] = field(default_factory=tuple)


@dataclass
class Page:
    items: list[Section]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _local_day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=CST).astimezone(dt.UTC)


def _public_sections() -> Select[Section]:
    """Sections the public may see (never drafts), with project and catalogue item loaded in the join."""
    return (
        select(Section)
        .join(Section.project)
        .join(Project.catalogue_item)
        .options(contains_eager(Section.project).contains_eager(Project.catalogue_item))
        .where(Section.status != S.DRAFT.value, Section.published_at.is_not(None))
    )


def _filtered(query: AnnouncementQuery) -> Select[Section]:
    stmt = _public_sections()
    term = (query.q or "").strip()
    if term:
        for word in term.split()[:5]:
            pattern = _like(word)
            stmt = stmt.where(
                or_(
                    Section.name.ilike(pattern, escape="\\"),
                    Section.code.ilike(pattern, escape="\\"),
                    Project.name.ilike(pattern, escape="\\"),
                    Project.code.ilike(pattern, escape="\\"),
                )
            )
    if query.category:
        stmt = stmt.where(CatalogueItem.category == query.category)
    if query.status:
        stmt = stmt.where(Section.status == query.status)
    if query.statuses:
        stmt = stmt.where(Section.status.in_(list(query.statuses)))
    if query.region:
        stmt = stmt.where(Project.region == query.region)
    if query.date_from:
        stmt = stmt.where(Section.published_at >= _local_day_start(query.date_from))
    if query.date_to:
        stmt = stmt.where(Section.published_at < _local_day_start(query.date_to + dt.timedelta(days=1)))
    return stmt


def search_announcements(query: AnnouncementQuery, *, page: int = 1, per_page: int = PER_PAGE) -> Page:
    """Published announcements matching ``query``, newest first (ties by id, so pages are stable)."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    stmt = _filtered(query)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    ordered = stmt.order_by(Section.published_at.desc(), Section.id.desc())
    rows = db.session.scalars(ordered.limit(per_page).offset((page - 1) * per_page))
    return Page(list(rows.unique()), int(total), page, per_page)


def latest_announcements(limit: int = 10) -> list[Section]:
    return search_announcements(AnnouncementQuery(), per_page=limit).items


def results(kind: str, *, page: int = 1) -> Page:
    if kind not in RESULT_STATES:
        raise NotFound(_("No such results list."))
    statuses = [s.value for s in RESULT_STATES[kind]]
    return search_announcements(AnnouncementQuery(statuses=statuses), page=page)


def regions() -> list[str]:
    """Regions that have at least one published announcement (for the filter)."""
    stmt = (
        select(Project.region)
        .join(Section, Section.project_id == Project.id)
        .where(Section.status != S.DRAFT.value, Project.region != "")
        .distinct()
        .order_by(Project.region)
    )
    return [r for r in db.session.scalars(stmt) if r]


def public_section(section_id: int) -> Section:
    """A published (or later) section with what its public page shows; drafts are 404 like missing ones."""
    section = db.session.scalar(
        _public_sections()
        .where(Section.id == section_id)
        .options(
            selectinload(Section.documents),
            selectinload(Section.amendments),
            selectinload(Section.history),
            selectinload(Section.suspensions),
            defaultload(Section.project).selectinload(Project.owner_org),
            defaultload(Section.project).selectinload(Project.agency_org),
            selectinload(Section.room),
        )
    )
    if section is None:
        raise NotFound(_("No such announcement."))
    return section


def published_documents(section: Section) -> list[SectionDocument]:
    """Every published version (newest version of each name first); unpublished uploads never."""
    docs = [d for d in section.documents if d.published_at is not None]
    return sorted(docs, key=lambda d: (d.name, -d.version))


def public_document(section_id: int, document_id: int) -> SectionDocument:
    section = public_section(section_id)
    for doc in section.documents:
        if doc.id == document_id and doc.published_at is not None:
            return doc
    raise NotFound(_("No such document."))


def amendments(section: Section) -> list[Amendment]:
    return sorted(section.amendments, key=lambda a: a.number)


# -- trading catalogue ------------------------------------------------------------------------------------


def catalogue_in_force() -> CatalogueVersion | None:
    return db.session.scalar(
        select(CatalogueVersion)
        .where(CatalogueVersion.status == CatalogueStatus.PUBLISHED.value)
        .options(selectinload(CatalogueVersion.items))
    )


def catalogue_history() -> list[CatalogueVersion]:
    """Every version the public has seen: open for comment, in force, superseded (drafts are internal)."""
    stmt = (
        select(CatalogueVersion)
        .where(CatalogueVersion.status != CatalogueStatus.DRAFT.value)
        .order_by(CatalogueVersion.number.desc())
    )
    return list(db.session.scalars(stmt))


def catalogue_version(number: int) -> CatalogueVersion:
    version = db.session.scalar(
        select(CatalogueVersion)
        .where(CatalogueVersion.number == number, CatalogueVersion.status != CatalogueStatus.DRAFT.value)
        .options(selectinload(CatalogueVersion.items))
    )
    if version is None:
        raise NotFound(_("No such catalogue version."))
    return version


# -- the open-data crawl ----------------------------------------------------------------------------------


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The publication sequence a cursor stands for (-1: from the beginning)."""
    if not cursor:
        return -1
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _sep, seq = raw.partition(":")
        value = int(seq)
        if version != "v1" or not -1 <= value <= MAX_ROW_ID:
            raise ValueError(raw)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise DomainError(
            _("Invalid cursor."), errors={"cursor": [_("Not a cursor this API issued.")]}
        ) from None
    return value


@dataclass
class CrawlPage:
    items: list[tuple[int, Section]]  # (publication sequence, section)
    next_cursor: str
    has_more: bool


def crawl_sections(cursor: str | None, *, limit: int = 50) -> CrawlPage:
    """Published sections in publication order, ``limit`` at a time, resuming after ``cursor``.

    The guarantee — a crawler that follows ``next_cursor`` sees every published section exactly once, even
    while new sections are being published — rests on the audit log:

    * publishing a section appends its audit leaf (``projects:section:publish``) in the publishing
      transaction, and :func:`app.core.audit.record` takes the log head row lock (``SELECT … FOR UPDATE``
      on PostgreSQL; SQLite writers serialise on ``BEGIN IMMEDIATE``) and keeps it until that transaction
      commits;
    * so a later publication cannot even read the head, let alone take the next leaf index, before the earlier
      one has committed: leaf indexes are handed out in commit order, and the committed leaves are always a
      prefix ``0 … n-1`` of the log, never a set with holes that a later commit could fill;
    * the cursor is the leaf index of the last section returned; the next page asks for publication leaves
      with a larger index. An index below the cursor can never appear later (no holes), and an index above it
      is never skipped (ordered, ``>``), and a section has exactly one publication leaf
      (``publish_section`` is idempotent and writes its leaf once, under the draft→published row update).

    Auto-increment ids or ``published_at`` would not give this: ids are taken at INSERT (drafts created long
    before), and timestamps are taken before commit, so a slow transaction can commit a smaller value after
    the crawler has passed it. The cursor is also returned when a page is empty or short, so a crawler can
    poll with it for sections published later.
    """
    after = decode_cursor(cursor)
    limit = max(1, min(limit, MAX_PER_PAGE))
    leaves = db.session.execute(
        select(AuditLeaf.idx, AuditLeaf.object_id)
        .where(
            AuditLeaf.action == PUBLICATION_ACTION,
            AuditLeaf.object_type == PUBLICATION_OBJECT_TYPE,
            AuditLeaf.idx > after,
        )
        .order_by(AuditLeaf.idx)
        .limit(limit + 1)
    ).all()
    has_more = len(leaves) > limit
    leaves = leaves[:limit]
    ids = [int(object_id) for _, object_id in leaves if object_id is not None and object_id.isdigit()]
    by_id = {
        s.id: s
        for s in db.session.scalars(
            _public_sections()
            .where(Section.id.in_(ids))
            .options(defaultload(Section.project).selectinload(Project.owner_org))
        ).unique()
    }
    items = [(idx, by_id[int(oid)]) for idx, oid in leaves if oid and oid.isdigit() and int(oid) in by_id]
    last = leaves[-1][0] if leaves else after
    return CrawlPage(items, encode_cursor(last), has_more)


def publication_sequence(section: Section) -> int | None:
    """The audit leaf index of the section's publication (its place in the crawl order)."""
    return db.session.scalar(
        select(func.min(AuditLeaf.idx)).where(
            AuditLeaf.action == PUBLICATION_ACTION,
            AuditLeaf.object_type == PUBLICATION_OBJECT_TYPE,
            AuditLeaf.object_id == str(section.id),
        )
    )


def feed_sections(limit: int = 50) -> list[Section]:
    """The most recently published or changed announcements, for the Atom feed."""
    stmt = (
        _public_sections()
        .options(selectinload(Section.amendments))
        .order_by(Section.updated_at.desc(), Section.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt).unique())


def section_updated(section: Section) -> dt.datetime:
    """When the public announcement last changed (publication, amendment or state change)."""
    candidates = [section.published_at, section.updated_at] + [a.published_at for a in section.amendments]
    return max(c for c in candidates if c is not None)


def latest_checkpoint() -> AuditCheckpoint | None:
    """The newest signed tree head of the audit log (what the "how to verify" page shows)."""
    return db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1))


def recent_draws(limit: int = 20) -> list[Any]:
    """The latest expert draws (id, requested at, section code) for the links to their public records."""
    from app.experts.models import ExpertDraw

    return list(
        db.session.execute(
            select(ExpertDraw.id, ExpertDraw.requested_at, Section.code)
            .join(Section, Section.id == ExpertDraw.section_id)
            .order_by(ExpertDraw.id.desc())
            .limit(limit)
        ).all()
    )
