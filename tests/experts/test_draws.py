"""The verifiable draw: request rules, commit–witness–reveal, verification and tampering, one active draw
per section, confirmations, backups and supplementary rounds."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from app.core.clock import clock
from app.core.db import db
from app.core.errors import Conflict, DomainError
from app.core.models import AuditLeaf, OutboxMessage
from app.experts import draws
from app.experts.draws import Slot
from app.experts.enums import DrawStatus, RoundStatus, SeatKind, SeatStatus
from app.experts.models import DrawRound, ExpertDraw, PanelSeat
from tests.experts.conftest import EVAL, World


def drawn(world: World, n: int = 12, slots: list[Slot] | None = None) -> ExpertDraw:
    world.pool(n)
    draw = world.request(slots or [Slot("A0101", 5, 2)])
    draws.witness(draw, "dice 3 6 1 4 2 5", actor=world.regulator)
    return draw


def seats(draw: ExpertDraw, *statuses: SeatStatus) -> list[PanelSeat]:
    db.session.refresh(draw)
    return [s for s in draw.seats if not statuses or s.status in statuses]


# --- request rules ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("panel", "slots", "field"),
    [
        (4, [Slot("A0101", 4, 0)], "panel_size"),
        (6, [Slot("A0101", 6, 0)], "panel_size"),
        (7, [Slot("A0101", 4, 0)], "composition"),  # 4/7 < 2/3
        (5, [Slot("Z99", 5, 0)], "composition"),
    ],
)
def test_panel_rules_refuse_the_request(world: World, panel: int, slots: list[Slot], field: str) -> None:
    world.pool(8)
    with pytest.raises(DomainError) as exc:
        world.request(slots, panel_size=panel)
    assert field in exc.value.errors


def test_seven_with_five_from_the_pool_is_allowed(world: World) -> None:
    world.pool(8)
    draw = world.request([Slot("A0101", 5, 1)], panel_size=7)
    assert draw.status == DrawStatus.AWAITING_WITNESS and draw.pool_seats == 5


def test_impossible_composition_is_refused_before_any_randomness(world: World) -> None:
    world.pool(6, codes=("A010101",))
    world.pool(1, codes=("A0601",))
    before = db.session.scalar(select(func.count()).select_from(DrawRound))
    with pytest.raises(draws.ImpossibleComposition) as exc:
        world.request([Slot("A0101", 4, 1), Slot("A0601", 2, 0)], panel_size=7)
    assert "A0601" in exc.value.errors and "A0101" not in exc.value.errors
    assert exc.value.counts == {"A0601": {"needed": 2, "matching": 1, "eligible": 1, "employers": 1}}
    assert db.session.scalar(select(func.count()).select_from(DrawRound)) == before


# --- the draw and its verification ---------------------------------------------------------------------


def test_draw_commits_before_the_witness_and_verifies(world: World) -> None:
    world.pool(12)
    draw = world.request()
    rnd = draw.rounds[0]
    assert rnd.status == RoundStatus.COMMITTED and rnd.server_random is None and rnd.seed is None
    actions = db.session.scalars(
        select(AuditLeaf.action).where(AuditLeaf.object_type == "expert_draw_round").order_by(AuditLeaf.idx)
    ).all()
    assert actions == ["experts:draw:freeze", "experts:draw:commit"]
    draws.witness(draw, "dice 3 6 1 4 2 5", actor=world.regulator)
    assert rnd.status == RoundStatus.REVEALED
    panel = seats(draw, SeatStatus.INVITED)
    assert len(panel) == 5 and all(s.kind == SeatKind.SEAT for s in panel)
    assert len(seats(draw, SeatStatus.STANDBY)) == 2
    assert draw.status == DrawStatus.DRAWN
    report = draws.verify_draw(draw)
    assert report.ok, [c for r in report.rounds for c in r.checks if not c.ok]
    # The server's randomness matches what it committed to, and the seed is recomputable.
    assert draws.sha256_hex(bytes.fromhex(rnd.server_random or "")) == rnd.commitment


def test_selection_is_deterministic_given_the_inputs(world: World) -> None:
    draw = drawn(world)
    rnd = draw.rounds[0]
    again = draws.select_panel(json.loads(rnd.pool), rnd.wanted, rnd.seed or "", hash_name="sha256")
    assert draws.canonical(again) == rnd.result


def test_witness_is_required_and_only_once(world: World) -> None:
    world.pool(12)
    draw = world.request()
    with pytest.raises(DomainError):
        draws.witness(draw, "  ", actor=world.regulator)
    draws.witness(draw, "lottery 0315", actor=world.regulator)
    with pytest.raises(Conflict):
        draws.witness(draw, "again and again", actor=world.regulator)


@pytest.mark.parametrize("target", ["pool", "exclusions", "witness", "server_random", "seat"])
def test_tampering_with_a_stored_input_fails_verification(world: World, target: str) -> None:
    world.pool(12)
    excluded = world.expert(employer=world.owner)  # employer is the tenderer: one exclusion row
    draw = world.request()
    draws.witness(draw, "dice 3 6 1 4 2 5", actor=world.regulator)
    rnd = draw.rounds[0]
    assert draws.verify_draw(draw).ok
    conn = db.session
    if target == "pool":
        pool = json.loads(rnd.pool)
        pool["specialties"]["A0101"] = pool["specialties"]["A0101"][1:]  # drop one eligible expert
        conn.execute(update(DrawRound).where(DrawRound.id == rnd.id).values(pool=draws.canonical(pool)))
    elif target == "exclusions":
        before = json.loads(rnd.exclusions)
        kept = [[e, r] for e, r in before if e != excluded.id]  # drop one exclusion
        assert len(kept) == len(before) - 1
        conn.execute(update(DrawRound).where(DrawRound.id == rnd.id).values(exclusions=draws.canonical(kept)))
    elif target == "witness":
        conn.execute(
            update(DrawRound).where(DrawRound.id == rnd.id).values(witness_entropy="dice 1 1 1 1 1 1")
        )
    elif target == "server_random":
        conn.execute(update(DrawRound).where(DrawRound.id == rnd.id).values(server_random="00" * 32))
    else:
        seat = seats(draw, SeatStatus.INVITED)[0]
        conn.execute(update(PanelSeat).where(PanelSeat.id == seat.id).values(expert_id=excluded.id))
    db.session.expire_all()
    draw = db.session.get(ExpertDraw, draw.id)
    report = draws.verify_draw(draw)
    assert not report.ok
    assert any(not c.ok for r in report.rounds for c in r.checks)


def test_verify_cli_reports_match_and_mismatch(world: World, app: Any) -> None:
    draw = drawn(world)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["experts", "verify-draw", str(draw.id)])
    assert result.exit_code == 0 and "MATCH" in result.output
    db.session.execute(
        update(DrawRound).where(DrawRound.draw_id == draw.id).values(witness_entropy="forged entropy")
    )
    result = runner.invoke(args=["experts", "verify-draw", "--all", "-v"])
    assert result.exit_code == 1 and "MISMATCH" in result.output and "witness entropy" in result.output


# --- one active draw per section ---------------------------------------------------------------------------


def test_second_request_for_a_section_is_refused(world: World) -> None:
    world.pool(12)
    world.request()
    with pytest.raises(Conflict):
        world.request()


def test_database_keeps_one_active_draw_per_section(world: World) -> None:
    """Two requests that both passed the service check race to the insert: the partial unique index
    lets exactly one win (on both engines)."""
    world.pool(12)
    first = world.request()
    clone = {
        c: getattr(first, c)
        for c in (
            "section_id",
            "requested_by",
            "evaluation_starts_at",
            "panel_size",
            "pool_seats",
            "composition",
            "region_scope",
            "region",
        )
    }
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(ExpertDraw(status=DrawStatus.AWAITING_WITNESS.value, **clone))
        db.session.flush()
    draws.cancel(first, reason="section re-tendered", actor=world.staff)
    again = world.request()  # a cancelled draw no longer blocks the section
    assert again.id != first.id


def test_concurrent_requests_one_wins(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate the race: the second request passes the pre-check (as if it read before the first
    committed) and is stopped by the index, as a Conflict."""
    world.pool(12)
    world.request()
    monkeypatch.setattr(draws, "_active_draw_id", lambda section_id: None)
    with pytest.raises(Conflict):
        world.request()
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(ExpertDraw)
            .where(ExpertDraw.section_id == world.section.id, ExpertDraw.status != "cancelled")
        )
        == 1
    )


# --- answers, backups, supplementary rounds ---------------------------------------------------------------


def test_invitations_go_through_the_outbox_with_a_one_time_link(world: World) -> None:
    draw = drawn(world)
    invited = seats(draw, SeatStatus.INVITED)
    msgs = db.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "sms")).all()
    assert len(msgs) == 5 and all("/experts/answer/" in m.body for m in msgs)
    token = msgs[0].body.rsplit("/experts/answer/", 1)[1].split()[0]
    seat = draws.seat_for_token(token)
    assert seat is not None and seat in invited
    assert seat.token_hash is not None and token.encode() not in seat.token_hash


def test_confirming_all_seats_confirms_the_draw(world: World) -> None:
    draw = drawn(world)
    for seat in seats(draw, SeatStatus.INVITED):
        draws.respond(seat, accept=True, actor=None)
    assert draw.status == DrawStatus.CONFIRMED
    with pytest.raises(Conflict):
        draws.respond(seats(draw, SeatStatus.CONFIRMED)[0], accept=True, actor=None)


def test_decline_needs_a_reason_and_promotes_the_next_backup_once(world: World) -> None:
    draw = drawn(world)
    seat = seats(draw, SeatStatus.INVITED)[0]
    first_backup = min(seats(draw, SeatStatus.STANDBY), key=lambda s: s.rank)
    with pytest.raises(DomainError):
        draws.respond(seat, accept=False, reason="", actor=None)
    draws.respond(seat, accept=False, reason="生病住院", actor=None)
    assert first_backup.status == SeatStatus.INVITED
    assert len(seats(draw, SeatStatus.INVITED)) == 5
    assert len(seats(draw, SeatStatus.STANDBY)) == 1
    # The same decline arriving again (a second tab, the link and the workbench) changes nothing.
    with pytest.raises(Conflict):
        draws.respond(seat, accept=False, reason="again", actor=None)
    draws.fill_vacancies(draw, actor=None)
    assert len(seats(draw, SeatStatus.INVITED)) == 5 and len(seats(draw, SeatStatus.STANDBY)) == 1


def test_racing_decline_and_deadline_promote_exactly_one_backup(world: World) -> None:
    """The expert declines in the same moment the deadline sweep runs: only one of the two conditional
    updates of the seat succeeds, so exactly one backup is called."""
    draw = drawn(world)
    seat = seats(draw, SeatStatus.INVITED)[0]
    clock.freeze((seat.respond_by or EVAL) + dt.timedelta(minutes=1))
    assert draws.expire_overdue() == 5  # every invitation ran out; 2 backups called, then a new round
    with pytest.raises(Conflict):
        draws.respond(seat, accept=False, reason="too late", actor=None)
    invited = seats(draw, SeatStatus.INVITED)
    assert len(invited) == 2 and all(s.kind == SeatKind.BACKUP for s in invited)
    assert draw.status == DrawStatus.AWAITING_WITNESS
    assert draws.expire_overdue() == 0


def test_exhausted_backups_start_a_fresh_round_for_the_missing_seats(world: World) -> None:
    draw = drawn(world, n=14)
    first_seed = draw.rounds[0].seed
    for seat in seats(draw, SeatStatus.INVITED)[:3]:
        draws.respond(seat, accept=False, reason="出差", actor=None)
    db.session.refresh(draw)
    assert draw.status == DrawStatus.AWAITING_WITNESS
    new_round = draws.pending_round(draw)
    assert new_round is not None and new_round.number == 2
    assert new_round.wanted == [{"specialty": "A0101", "seats": 1, "backups": 2}]
    pool = json.loads(new_round.pool)["specialties"]["A0101"]
    already = {s.expert_id for s in seats(draw)}
    assert not already & {i for i, _e in pool}  # everyone drawn before is excluded from the new round
    draws.witness(draw, "second witness 7741", actor=world.regulator)
    assert draw.rounds[1].seed != first_seed
    assert len(seats(draw, SeatStatus.INVITED)) == 5
    assert draws.verify_draw(draw).ok


def test_cancel_releases_everyone(world: World) -> None:
    draw = drawn(world)
    draws.cancel(draw, reason="终止招标", actor=world.staff)
    assert draw.status == DrawStatus.CANCELLED
    assert {s.status for s in seats(draw)} == {SeatStatus.RELEASED}


def test_every_step_is_audited(world: World) -> None:
    draw = drawn(world)
    seat = seats(draw, SeatStatus.INVITED)[0]
    draws.respond(seat, accept=False, reason="回避", actor=None)
    actions = set(
        db.session.scalars(
            text("SELECT action FROM audit_leaf WHERE action LIKE 'experts:%'")  # type: ignore[call-overload]
        )
    )
    assert {
        "experts:draw:request",
        "experts:draw:freeze",
        "experts:draw:commit",
        "experts:draw:witness",
        "experts:draw:reveal",
        "experts:seat:invite",
        "experts:seat:decline",
    } <= actions


def test_no_draw_step_while_the_section_is_suspended(world: World) -> None:
    """A suspension (regulator or pending case) blocks requesting a draw and witnessing it."""
    from app.projects import services as projects

    world.pool(12)
    draw = world.request()
    projects.suspend_section(world.section, actor=world.regulator, reason="投诉处理期间暂停")
    with pytest.raises(Conflict) as refused:
        draws.witness(draw, "dice 3 6 1 4 2 5", actor=world.regulator)
    assert refused.value.code == "suspended"
    projects.resume_section(world.section, actor=world.regulator)
    draws.witness(draw, "dice 3 6 1 4 2 5", actor=world.regulator)
    assert draw.status == DrawStatus.DRAWN
