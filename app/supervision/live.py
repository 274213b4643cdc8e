"""Live monitoring: today's openings, draws and evaluations, active sections by state, and the live event
stream (Server-Sent Events) fed by the audit log.

Every committed audit leaf is published on the bus channel ``audit`` (see ``app.core.audit.record``), with
the leaf index as event id. A client that reconnects sends ``Last-Event-ID``; the stream first subscribes,
then replays the leaves it missed from the audit log (the system of record), then goes live, dropping live
events it has already replayed. A stream ends after ``SUPERVISION_SSE_SECONDS``; EventSource reconnects by
itself. Behind nginx the stream service serves it (``plan``, ``app.core.streams``); a worker of the embedded
default serves it itself (``stream``) on one of its few stream slots.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from app.core import audit, events, streams
from app.core.clock import now
from app.core.db import db
from app.core.models import AuditLeaf
from app.projects.enums import SectionStatus
from app.projects.models import CatalogueItem, Project, Section

CHANNEL = "audit"
LOCAL = ZoneInfo("Asia/Shanghai")
REPLAY_LIMIT = 1000
ACTIVE = [
    s.value
    for s in (
        SectionStatus.PUBLISHED,
        SectionStatus.BIDDING_CLOSED,
        SectionStatus.OPENING,
        SectionStatus.OPENED,
        SectionStatus.EVALUATING,
        SectionStatus.PUBLICITY,
    )
]


@dataclass(frozen=True)
class StreamFilter:
    """What a subscriber wants to see. ``sections`` None means every section (and leaves without one)."""

    sections: frozenset[str] | None = None
    action_prefix: str = ""

    def matches(self, data: dict[str, Any]) -> bool:
        if self.action_prefix and not str(data.get("action", "")).startswith(self.action_prefix):
            return False
        if self.sections is not None:
            return data.get("section_id") is not None and str(data["section_id"]) in self.sections
        return True


def section_ids(*, industry: str | None = None, project_id: int | None = None) -> frozenset[str] | None:
    """Sections of a project and/or an industry (through the catalogue item), or None for no restriction."""
    if not industry and not project_id:
        return None
    stmt = select(Section.id).join(Project, Project.id == Section.project_id)
    if project_id:
        stmt = stmt.where(Project.id == project_id)
    if industry:
        stmt = stmt.join(CatalogueItem, CatalogueItem.id == Project.catalogue_item_id).where(
            CatalogueItem.industry == industry
        )
    return frozenset(str(i) for i in db.session.scalars(stmt))


# ---------------------------------------------------------------------------------------------------------
# Dashboard data
# ---------------------------------------------------------------------------------------------------------


@dataclass
class TodayItem:
    kind: str  # opening | draw | evaluation
    section: Section | None
    at: dt.datetime | None
    stage: str


@dataclass
class Dashboard:
    today: list[TodayItem] = field(default_factory=list)
    by_state: dict[str, list[Section]] = field(default_factory=dict)
    recent: list[dict[str, Any]] = field(default_factory=list)
    last_idx: int = -1


def _today_bounds() -> tuple[dt.datetime, dt.datetime]:
    local = now().astimezone(LOCAL)
    start = dt.datetime.combine(local.date(), dt.time(), LOCAL)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


def _has_table(name: str) -> bool:
    from sqlalchemy import inspect

    return inspect(db.session.connection()).has_table(name)


def dashboard(sections: frozenset[str] | None) -> Dashboard:
    start, end = _today_bounds()

    def wanted(section_id: int | None) -> bool:
        return sections is None or str(section_id) in sections

    board = Dashboard()
    active = db.session.scalars(
        select(Section).where(Section.status.in_(ACTIVE)).order_by(Section.bid_deadline)
    )
    for section in active:
        if wanted(section.id):
            board.by_state.setdefault(section.status, []).append(section)
    cache: dict[int, Section | None] = {}

    def section_of(sid: int) -> Section | None:
        if sid not in cache:
            cache[sid] = db.session.get(Section, sid)
        return cache[sid]

    for section in db.session.scalars(
        select(Section)
        .where(Section.bid_deadline >= start, Section.bid_deadline < end)
        .order_by(Section.bid_deadline)
    ):
        if wanted(section.id):
            stage = "suspended" if section.suspended else section.status
            board.today.append(TodayItem("opening", section, section.bid_deadline, stage))
    if _has_table("expert_draw"):
        from app.experts.models import ExpertDraw

        for draw in db.session.scalars(
            select(ExpertDraw)
            .where(
                ((ExpertDraw.requested_at >= start) & (ExpertDraw.requested_at < end))
                | ((ExpertDraw.evaluation_starts_at >= start) & (ExpertDraw.evaluation_starts_at < end))
            )
            .order_by(ExpertDraw.evaluation_starts_at)
        ):
            if not wanted(draw.section_id):
                continue
            board.today.append(TodayItem("draw", section_of(draw.section_id), draw.requested_at, draw.status))
            if start <= draw.evaluation_starts_at < end and draw.status != "cancelled":
                sec = section_of(draw.section_id)
                board.today.append(
                    TodayItem("evaluation", sec, draw.evaluation_starts_at, sec.status if sec else "")
                )
    board.today.sort(key=lambda i: i.at or start)
    leaves = db.session.scalars(select(AuditLeaf).order_by(AuditLeaf.idx.desc()).limit(200))
    flt = StreamFilter(sections)
    for leaf in leaves:
        data = audit.live_event(leaf, _payload(leaf))
        if flt.matches(data):
            board.recent.append(data)
        if len(board.recent) >= 30:
            break
    board.last_idx = (db.session.scalar(select(func.max(AuditLeaf.idx))) or 0) if board.recent else -1
    return board


@dataclass
class Summary:
    """The dashboard's first line, in the regulator's words: what needs eyes today."""

    openings: int
    draws: int
    evaluations: int
    suspended: int
    open_alerts: int
    overdue_cases: int


def summary(board: Dashboard, sections: frozenset[str] | None, *, user: Any) -> Summary:
    """Counts for the tiles: today's openings, draws and evaluations (from ``board``), suspended sections,
    open alerts, and the complaint cases past their statutory due time that ``user`` may see."""
    from app.complaints.enums import CLOCKLESS_STATES
    from app.complaints.models import Case
    from app.complaints.permissions import visible_cases

    from .alerts import open_alert_counts

    def wanted(section_id: int | None) -> bool:
        return sections is None or str(section_id) in sections

    kinds = [item.kind for item in board.today]
    suspended = db.session.scalars(select(Section.id).where(Section.suspended.is_(True)))
    overdue = db.session.scalar(
        select(func.count(Case.id)).where(
            visible_cases(user),
            Case.due_at < now(),
            Case.status.not_in([s.value for s in CLOCKLESS_STATES]),
        )
    )
    return Summary(
        openings=kinds.count("opening"),
        draws=kinds.count("draw"),
        evaluations=kinds.count("evaluation"),
        suspended=sum(1 for sid in suspended if wanted(sid)),
        open_alerts=sum(n for sid, n in open_alert_counts().items() if wanted(sid)),
        overdue_cases=int(overdue or 0),
    )


def section_names(board: Dashboard) -> dict[str, str]:
    """Section id → "code name" for the live table (its rows name sections in words, not by number)."""
    ids = {int(d["section_id"]) for d in board.recent if str(d.get("section_id") or "").isdigit()}
    ids |= {s.id for group in board.by_state.values() for s in group}
    if not ids:
        return {}
    rows = db.session.execute(select(Section.id, Section.code, Section.name).where(Section.id.in_(ids)))
    return {str(sid): f"{code} {name}" for sid, code, name in rows}


def _payload(leaf: AuditLeaf) -> dict[str, Any]:
    try:
        value = json.loads(leaf.payload)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# ---------------------------------------------------------------------------------------------------------
# The stream
# ---------------------------------------------------------------------------------------------------------


def sse(data: dict[str, Any], event_id: str | None = None, event: str = "leaf") -> str:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def replay(after: int, flt: StreamFilter, *, limit: int = REPLAY_LIMIT) -> list[dict[str, Any]]:
    """The matching leaves after index ``after``, oldest first, as the live stream would have sent them."""
    leaves = db.session.scalars(
        select(AuditLeaf).where(AuditLeaf.idx > after).order_by(AuditLeaf.idx).limit(limit)
    )
    out = []
    for leaf in leaves:
        data = audit.live_event(leaf, _payload(leaf))
        if flt.matches(data):
            out.append(data)
    return out


def stream(
    flt: StreamFilter,
    *,
    last_event_id: int | None,
    seconds: float,
    poll: float = 0.5,
    keepalive: float = 15.0,
    release_db: bool = True,
) -> Iterator[str]:
    """The SSE body. Subscribes before reading the log, so nothing committed in between is lost.
    ``release_db`` ends the request's read transaction once the replay is done (False: the caller holds no
    transaction of its own, e.g. a background thread)."""
    subscription = events.bus().subscribe([CHANNEL], timeout=poll)
    deadline = time.monotonic() + seconds
    yield "retry: 2000\n\n"
    buffered: list[events.Event] = []
    first = next(subscription)  # registers the subscription (and waits up to ``poll`` for an event)
    if first is not None:
        buffered.append(first)
    sent = -1  # the highest leaf index sent; live events at or below it were replayed already
    if last_event_id is not None:
        sent = last_event_id
        for data in replay(last_event_id, flt):
            sent = int(data["idx"])
            yield sse(data, str(sent))
    # End the read transaction so the pooled connection goes back: a stream lives for minutes and needs the
    # database no more (only reads happened since the request wrapper committed).
    if release_db:
        db.session.rollback()
    last_write = time.monotonic()

    def emit(ev: events.Event) -> str | None:
        nonlocal sent
        try:
            idx = int(ev.id) if ev.id is not None else None
        except ValueError:
            idx = None
        if idx is not None and idx <= sent:
            return None  # already replayed from the log
        if not flt.matches(ev.data):
            return None
        if idx is not None:
            sent = idx
        return sse(ev.data, ev.id)

    try:
        for ev in buffered:
            text = emit(ev)
            if text:
                yield text
                last_write = time.monotonic()
        while time.monotonic() < deadline:
            live_ev = next(subscription)
            if live_ev is not None:
                text = emit(live_ev)
                if text:
                    yield text
                    last_write = time.monotonic()
                    continue
            if time.monotonic() - last_write >= keepalive:
                yield ": keep-alive\n\n"
                last_write = time.monotonic()
        yield sse({"reason": "timeout"}, None, event="bye")
    finally:
        close = getattr(subscription, "close", None)
        if close is not None:
            close()


def plan(flt: StreamFilter, *, last_event_id: int | None, seconds: float, keepalive: float) -> streams.Plan:
    """The same stream for the stream service (``app.core.streams``): the replay is read here, during the
    handshake; the service then sends every live leaf after it. It took its place in the event sequence
    before the handshake started, so a leaf committed meanwhile is sent live (or dropped as replayed)."""
    sent = -1 if last_event_id is None else last_event_id
    prelude = ["retry: 2000\n\n"]
    if last_event_id is not None:
        for data in replay(last_event_id, flt):
            sent = int(data["idx"])
            prelude.append(sse(data, str(sent)))

    def live_leaf(ev: events.Event) -> str | None:
        nonlocal sent
        try:
            idx = int(ev.id) if ev.id is not None else None
        except ValueError:
            idx = None
        if (idx is not None and idx <= sent) or not flt.matches(ev.data):
            return None
        if idx is not None:
            sent = idx
        return sse(ev.data, ev.id)

    return streams.Plan(
        channels=(CHANNEL,),
        prelude="".join(prelude),
        format=live_leaf,
        seconds=seconds,
        keepalive=keepalive,
        closing=sse({"reason": "timeout"}, None, event="bye"),
    )


def stream_seconds(requested: str | None) -> float:
    """How long one stream lasts: the configured bound (5 min), far shorter when testing or asked."""
    bound = float(current_app.config.get("SUPERVISION_SSE_SECONDS") or 300)
    if current_app.config.get("TESTING"):
        bound = min(bound, float(current_app.config.get("SUPERVISION_SSE_TEST_SECONDS") or 0))
    if requested:
        with contextlib.suppress(ValueError):
            bound = min(bound, max(0.0, float(requested)))
    return bound
