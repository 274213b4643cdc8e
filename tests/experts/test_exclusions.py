"""Each automatic exclusion rule, decided before any randomness and recorded with its reason code."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from app.accounts.models import Organization
from app.core.clock import CST, clock
from app.core.db import db
from app.core.permissions import OrgKind
from app.experts import draws, services
from app.experts.draws import Slot
from app.experts.enums import ExclusionReason, ExpertStatus, SeatStatus
from app.experts.models import Expert, PanelSeat
from tests.experts.conftest import EVAL, T0, World, make_section
from tests.factories import make_org


def reasons(draw: draws.ExpertDraw, expert: Expert) -> set[str]:
    return set(draw.rounds[-1].exclusion_reasons().get(expert.id, []))


def eligible(draw: draws.ExpertDraw, expert: Expert) -> bool:
    import json

    pool = json.loads(draw.rounds[-1].pool)["specialties"]
    return any(item[0] == expert.id for lst in pool.values() for item in lst)


@pytest.fixture
def base(world: World) -> World:
    world.pool(8)
    return world


def request(world: World, **kw: Any) -> draws.ExpertDraw:
    return world.request([Slot("A0101", 5, 1)], **kw)


def test_employer_is_the_tenderer_the_agency_or_a_bidder(
    base: World, bidders_of: dict[int, set[int]]
) -> None:
    at_owner = base.expert(employer=base.owner)
    at_agency = base.expert(employer=base.agency)
    at_bidder = base.expert(employer=base.bidder_org)
    bidders_of[base.section.id] = {base.bidder_org.id}
    draw = request(base)
    assert reasons(draw, at_owner) == {ExclusionReason.EMPLOYER_TENDERER}
    assert reasons(draw, at_agency) == {ExclusionReason.EMPLOYER_AGENCY}
    assert reasons(draw, at_bidder) == {ExclusionReason.EMPLOYER_BIDDER}
    assert not eligible(draw, at_owner)


@pytest.mark.parametrize("kind", [OrgKind.TRADING_CENTER, OrgKind.MANAGEMENT_OFFICE, OrgKind.REGULATOR])
def test_employer_is_a_center_office_or_regulator(base: World, kind: OrgKind) -> None:
    expert = base.expert(employer=make_org(kind))
    draw = request(base)
    assert reasons(draw, expert) == {ExclusionReason.EMPLOYER_SUPERVISORY}


def test_declared_conflict_with_a_party(base: World, bidders_of: dict[int, set[int]]) -> None:
    with_owner = base.expert()
    with_bidder = base.expert()
    withdrawn = base.expert()
    unrelated = base.expert()
    bidders_of[base.section.id] = {base.bidder_org.id}
    services.declare_conflict(with_owner, base.owner, "relative", "妻子在该单位", actor=base.manager)
    services.declare_conflict(with_bidder, base.bidder_org, "economic_interest", "", actor=base.manager)
    c = services.declare_conflict(withdrawn, base.owner, "former_employer", "", actor=base.manager)
    services.withdraw_conflict(c, actor=base.manager)
    services.declare_conflict(unrelated, make_org(OrgKind.BIDDER), "relative", "", actor=base.manager)
    draw = request(base)
    assert reasons(draw, with_owner) == {ExclusionReason.DECLARED_CONFLICT}
    assert reasons(draw, with_bidder) == {ExclusionReason.DECLARED_CONFLICT}
    assert eligible(draw, withdrawn) and eligible(draw, unrelated)


@pytest.mark.parametrize("status", [ExpertStatus.APPLICANT, ExpertStatus.SUSPENDED])
def test_not_active(base: World, status: ExpertStatus) -> None:
    expert = base.expert(status=status)
    draw = request(base)
    assert reasons(draw, expert) == {ExclusionReason.NOT_ACTIVE}


def test_removed_experts_are_not_in_the_pool_at_all(base: World) -> None:
    expert = base.expert(status=ExpertStatus.REMOVED)
    draw = request(base)
    assert not reasons(draw, expert) and not eligible(draw, expert)


def test_on_leave_on_the_evaluation_date(base: World) -> None:
    day = EVAL.date()
    on_leave = base.expert()
    ends_before = base.expert()
    services.add_leave(on_leave, day, day, "年假", actor=base.manager)
    services.add_leave(ends_before, T0.date(), day - dt.timedelta(days=1), "", actor=base.manager)
    draw = request(base)
    assert reasons(draw, on_leave) == {ExclusionReason.ON_LEAVE}
    assert eligible(draw, ends_before)


def test_over_the_age_limit_on_the_evaluation_date(base: World, app: Any) -> None:
    day = EVAL.date()
    seventy = base.expert(birth=day.replace(year=day.year - 70))  # 70th birthday on the evaluation day
    almost = base.expert(birth=day.replace(year=day.year - 70) + dt.timedelta(days=1))
    draw = request(base)
    assert reasons(draw, seventy) == {ExclusionReason.OVER_AGE}
    assert eligible(draw, almost)


def test_age_limit_is_configurable(base: World, app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "EXPERT_MAX_AGE", 65)
    expert = base.expert(birth=dt.date(1960, 1, 1))
    draw = request(base)
    assert reasons(draw, expert) == {ExclusionReason.OVER_AGE}


def _seated_earlier(base: World, section: Any, expert: Any, evaluation_starts_at: dt.datetime) -> None:
    """A confirmed earlier draw for ``section``'s tenderer, with ``expert`` on its panel."""
    earlier = draws.ExpertDraw(
        section_id=section.id,
        tenderer_org_id=section.project.owner_org_id,
        requested_by=base.staff.id,
        evaluation_starts_at=evaluation_starts_at,
        panel_size=5,
        pool_seats=5,
        composition=[{"specialty": "A0101", "seats": 5, "backups": 0}],
        region_scope="local",
        region="南通市",
        status="confirmed",
    )
    db.session.add(earlier)
    db.session.flush()
    db.session.add(
        PanelSeat(
            draw_id=earlier.id,
            round_number=1,
            expert_id=expert.id,
            specialty_code="A0101",
            kind="seat",
            rank=0,
            status=SeatStatus.CONFIRMED.value,
        )
    )


# The window is on local (China Standard Time) days, whatever the hour: the first and last instants of the
# days N before and after the evaluation day are in it, the instants next to them are not.
@pytest.mark.parametrize(
    ("day_offset", "at", "excluded"),
    [
        (-30, dt.time(0, 0), True),
        (-31, dt.time(23, 59, 59, 999999), False),
        (30, dt.time(23, 59, 59, 999999), True),
        (31, dt.time(0, 0), False),
    ],
)
def test_the_recent_window_is_on_local_days(
    base: World, day_offset: int, at: dt.time, excluded: bool, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "EXPERT_RECENT_DAYS", 30)
    expert = base.expert()
    earlier = make_section(base.staff, owner=base.owner, regulator_org=base.regulator_org)
    eval_day = EVAL.astimezone(CST).date()
    starts = dt.datetime.combine(eval_day + dt.timedelta(days=day_offset), at, tzinfo=CST)
    _seated_earlier(base, earlier, expert, starts)
    db.session.flush()
    clock.freeze(EVAL - dt.timedelta(days=3))
    draw = request(base)
    assert (reasons(draw, expert) == {ExclusionReason.RECENT_SAME_TENDERER}) is excluded


@pytest.mark.parametrize(("days_before", "excluded"), [(30, True), (31, False), (0, True)])
def test_drawn_for_the_same_tenderer_within_n_days(
    base: World, days_before: int, excluded: bool, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "EXPERT_RECENT_DAYS", 30)
    expert = base.expert()
    other_tenderer = base.expert()
    earlier = make_section(base.staff, owner=base.owner, regulator_org=base.regulator_org)
    elsewhere = make_section(base.staff, owner=make_org(OrgKind.TENDERER), regulator_org=base.regulator_org)
    clock.freeze(EVAL - dt.timedelta(days=days_before + 3))
    for section, who in ((earlier, expert), (elsewhere, other_tenderer)):
        _seated_earlier(base, section, who, EVAL - dt.timedelta(days=days_before))
    db.session.flush()
    clock.freeze(EVAL - dt.timedelta(days=3))
    draw = request(base)
    assert (reasons(draw, expert) == {ExclusionReason.RECENT_SAME_TENDERER}) is excluded
    assert eligible(draw, other_tenderer)


def test_one_expert_per_employer_per_panel(world: World) -> None:
    """Three employers with three experts each: a 5-seat panel is impossible; with a sixth employer added
    for the rest the panel has five distinct employers, and a backup of an employer already seated is
    skipped at selection time."""
    shared = [make_org(OrgKind.EXPERT_EMPLOYER) for _ in range(3)]
    for org in shared:
        for _ in range(3):
            world.expert(employer=org)
    with pytest.raises(draws.ImpossibleComposition) as exc:
        request(world)
    assert exc.value.counts["A0101"] == {"needed": 5, "matching": 9, "eligible": 9, "employers": 3}
    world.pool(3)
    draw = request(world)
    draws.witness(draw, "witness 123456", actor=world.regulator)
    db.session.refresh(draw)
    employers = [s.expert.employer_org_id for s in draw.seats]
    assert len(employers) == 6 and len(set(employers)) == 6


def test_supplementary_round_excludes_the_drawn_and_their_employers(world: World) -> None:
    world.pool(7)
    draw = request(world)
    draws.witness(draw, "witness 654321", actor=world.regulator)
    db.session.refresh(draw)
    first, second = [s for s in draw.seats if s.status == SeatStatus.INVITED][:2]
    colleague = world.expert(employer=db.session.get(Organization, second.expert.employer_org_id))
    draws.respond(first, accept=False, reason="病假", actor=None)
    backup = next(s for s in draw.seats if s.kind == "backup" and s.status == SeatStatus.INVITED)
    draws.respond(backup, accept=False, reason="出差", actor=None)
    db.session.refresh(draw)
    assert draws.pending_round(draw) is not None
    assert reasons(draw, first.expert) == {ExclusionReason.ALREADY_ON_PANEL}
    assert reasons(draw, colleague) == {ExclusionReason.EMPLOYER_ON_PANEL}
