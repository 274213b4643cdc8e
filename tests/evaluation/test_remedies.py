"""Remedies of upheld complaints acting on the evaluation, through the real services of the complaints,
projects and evaluation domains: re-evaluation (重新评审) and void award (中标无效)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.complaints.enums import Remedy
from app.core.clock import clock
from app.core.errors import Conflict, DomainError
from app.core.models import AuditLeaf, OutboxMessage
from app.evaluation import archive, services
from app.evaluation.models import Score
from app.evaluation.verify import verify_archive
from tests.evaluation.conftest import (
    Trade,
    award_after_publicity,
    close_report,
    open_trade,
    publicity_details,
    publish,
    score_lowest,
    sign_in_all,
    to_publicity,
    uphold,
)
from tests.factories import login
from tests.projects.conftest import World

PRICES = ["9500000", "9400000", "9300000"]


def _leaves(db_session: Any, action: str) -> list[AuditLeaf]:
    return list(db_session.scalars(select(AuditLeaf).where(AuditLeaf.action == action)))


def _last_message(db_session: Any) -> int:
    return int(db_session.scalar(select(func.max(OutboxMessage.id))) or 0)


def _told(db_session: Any, *, since: int) -> set[int]:
    """Users messaged (inbox) after message ``since``."""
    return set(
        db_session.scalars(
            select(OutboxMessage.user_id).where(OutboxMessage.id > since, OutboxMessage.channel == "inbox")
        )
    )


def _ocds(app: Flask, trade: Trade) -> dict[str, Any]:
    from app.portal import ocds
    from tests.portal.test_open_data import _errors, build_validators

    with app.test_request_context():
        package = ocds.release_package(trade.section)
    assert _errors(build_validators()["release-package"], package) == []
    release: dict[str, Any] = package["releases"][0]
    return release


def test_re_evaluation_during_publicity_voids_the_round_and_the_same_panel_scores_again(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade, users = to_publicity(app, client, world, PRICES)
    section, ev = trade.section, trade.evaluation()
    first_report, first_window = ev.report_sha256, services.publicity_window(section)
    scores_before = len(db_session.scalars(select(Score)).all())
    assert scores_before > 0
    outbox_before = _last_message(db_session)

    case = uphold(trade, Remedy.RE_EVALUATION, by=0, decision="评标委员会未按招标文件评审，责令重新评审。")

    # both state machines moved: the section is under evaluation again, the evaluation is back in scoring
    assert section.status == "evaluating" and ev.status == "scoring" and ev.round == 2
    assert ev.report_sha256 is None and ev.publicity_starts_at is None
    assert services.publicity_window(section) is None
    # nothing deleted: the round's scores, candidates, report and publicity are kept, marked void
    scores = db_session.scalars(select(Score)).all()
    assert len(scores) == scores_before
    assert all(s.voided_at and case.number in (s.void_reason or "") for s in scores)
    assert len(ev.all_candidates) == 3 and ev.candidates == [] and ev.round_candidates == []
    assert all(c.voided_at and c.round == 1 for c in ev.all_candidates)
    assert {f.kind for f in ev.files if f.voided_at} == {"report", "publicity"}
    [restart] = ev.restarts
    assert restart.round == 1 and restart.from_status == "publicity" and case.number in restart.reason
    assert restart.report_sha256 == first_report
    assert first_window == (restart.publicity_starts_at, restart.publicity_ends_at)
    assert len(restart.decisions) == 5 and all(d["decision"] == "signed" for d in restart.decisions)
    # the members are unlocked; every change is audited with the case number
    assert all(m.submitted_at is None and m.decision is None for m in ev.counted)
    [leaf] = _leaves(db_session, "evaluation:evaluation:restart")
    assert case.number in leaf.payload
    assert any("publicity" in x.payload for x in _leaves(db_session, "evaluation:evaluation:transition"))
    # bidders and panel are told
    told = _told(db_session, since=outbox_before)
    assert {u.id for u in users} <= told
    assert {b.user.id for b in trade.tender.bidders} <= told

    # no award before a new report and a new publicity, even after the old publicity would have ended
    assert restart.publicity_ends_at is not None
    clock.freeze(restart.publicity_ends_at + dt.timedelta(days=1))
    with app.test_request_context(), pytest.raises(Conflict):
        services.award(ev, actor=world.agent)
    with app.test_request_context(), pytest.raises(Conflict):
        services.publish_candidates(ev, actor=world.agent, details=publicity_details(ev))
    assert section.status == "evaluating"

    # the pages say what happened
    login(client, world.agent)
    manage = client.get(f"/evaluation/manage/{section.id}").get_data(as_text=True)
    assert 'id="restarted"' in manage and case.number in manage
    public = app.test_client().get(f"/evaluation/public/{section.id}")
    assert public.status_code == 200 and 'id="restarted"' in public.get_data(as_text=True)
    expert = app.test_client()
    login(expert, users[1])
    assert 'id="restarted"' in expert.get(f"/evaluation/sections/{section.id}").get_data(as_text=True)
    # the voided publicity shows as cancelled in the OCDS release
    awards = _ocds(app, trade).get("awards", [])
    assert [(a["id"], a["status"]) for a in awards] == [(f"{section.id}-candidates", "cancelled")]

    # the same panel scores again; a new report, a new publicity, then the award
    score_lowest(trade, users)
    close_report(trade, users)
    assert ev.status == "reported" and ev.report_sha256 and ev.report_sha256 != first_report
    assert [c.round for c in ev.candidates] == [2, 2, 2]
    publish(trade)
    with app.test_request_context(), pytest.raises(Conflict):
        services.award(ev, actor=world.agent)  # inside the new publicity
    award_after_publicity(trade)
    assert section.status == "awarded" and ev.winner_rank == 1
    statuses = [(a["id"], a["status"]) for a in _ocds(app, trade)["awards"]]
    assert statuses == [(f"{section.id}-candidates", "cancelled"), (f"{section.id}-award", "active")]


def test_re_evaluation_during_scoring_unlocks_the_submitted_scores(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, PRICES)
    users = sign_in_all(trade)
    score_lowest(trade, users[:2])
    ev = trade.evaluation()
    locked = [trade.member(u) for u in users[:2]]
    assert all(m.submitted_at for m in locked)

    uphold(trade, Remedy.RE_EVALUATION)

    assert trade.section.status == "evaluating" and ev.status == "scoring" and ev.round == 2
    assert all(m.submitted_at is None and m.scores == [] for m in locked)
    assert all(s.voided_at for m in locked for s in m.all_scores)
    assert len(_leaves(db_session, "evaluation:evaluation:restart")) == 1
    score_lowest(trade, users)  # the unique (member, round, bidder, criterion) lets the new round in
    assert all(len(trade.member(u).scores) == 3 for u in users)


def test_void_award_re_selects_the_next_candidate(
    app: Flask, client: FlaskClient, world: World, db_session: Any, tmp_path: Path
) -> None:
    trade, _users = to_publicity(app, client, world, PRICES)
    section = trade.section
    first, second = trade.tender.bidders[2], trade.tender.bidders[1]  # cheapest, then the middle price
    ev = award_after_publicity(trade)
    assert ev.winner_org_id == first.org.id and len(ev.refunds) == 3
    awarded_at = ev.awarded_at
    outbox_before = _last_message(db_session)

    case = uphold(trade, Remedy.VOID_AWARD, by=0, decision="中标人弄虚作假，中标无效。")

    # the section and the evaluation are back in the served publicity; the award is kept, marked void
    assert section.status == "publicity" and ev.status == "publicity"
    assert section.ended_at is None  # the trade goes on
    assert ev.awarded_at is None and ev.winner_org_id is None
    [voided] = ev.voided_awards
    assert voided.org_id == first.org.id and voided.rank == 1 and voided.awarded_at == awarded_at
    assert case.number in voided.reason
    assert voided.candidate.voided_at is not None
    assert [c.rank for c in ev.candidates] == [2, 3]
    assert sorted(f.kind for f in ev.files if f.voided_at) == [
        "award_letter",
        "award_notice",
        "result_letter",
        "result_letter",
    ]
    [leaf] = _leaves(db_session, "evaluation:award:void")
    assert case.number in leaf.payload
    assert any('"to":"publicity"' in x.payload for x in _leaves(db_session, "projects:section:transition"))
    assert {b.user.id for b in trade.tender.bidders} <= _told(db_session, since=outbox_before)

    # the voided candidate can never be chosen again
    with app.test_request_context(), pytest.raises(DomainError):
        services.award(ev, actor=world.agent, rank=1, reason="再选一次")
    # the next one, on a state-funded project, with the voided award as the recorded legal reason
    assert services.is_state_funded(section)
    with app.test_request_context():
        services.award(ev, actor=world.agent, rank=2)
    assert section.status == "awarded" and ev.winner_org_id == second.org.id and ev.winner_rank == 2
    assert ev.award_reason and case.number in ev.award_reason
    # refunds are owed once per bidder; the new letters are issued, the old ones stay void
    assert len(ev.refunds) == 3
    live = sorted(f.kind for f in ev.files if f.voided_at is None and f.kind != "report")
    assert live == ["award_letter", "award_notice", "publicity", "result_letter", "result_letter"]
    assert next(f for f in ev.files if f.kind == "award_letter" and not f.voided_at).org_id == second.org.id

    # OCDS: the voided award cancelled, the new one active
    release = _ocds(app, trade)
    assert [(a["id"], a["status"]) for a in release["awards"]] == [
        (f"{section.id}-award", "cancelled"),
        (f"{section.id}-award-2", "active"),
    ]
    suppliers = [a["suppliers"][0]["name"] for a in release["awards"]]
    assert suppliers == [first.org.name, second.org.name]

    # the pages show the voided award
    login(client, world.agent)
    manage = client.get(f"/evaluation/manage/{section.id}").get_data(as_text=True)
    assert "voided-award" in manage and case.number in manage
    public = app.test_client().get(f"/evaluation/public/{section.id}").get_data(as_text=True)
    assert "voided-award" in public and second.org.name in public

    # the archive keeps the void letters apart and verifies; it waits for the contract
    clock.advance(dt.timedelta(days=1))
    with app.test_request_context():
        with pytest.raises(Conflict, match=r"合同|contract"):
            archive.archive(ev, actor=world.staff)
        services.record_contract(ev, actor=world.agent)
        archive.archive(ev, actor=world.staff)
    bundle = tmp_path / "archive.zip"
    bundle.write_bytes((Path(app.config["BLOB_DIR"]) / (ev.archive_path or "")).read_bytes())
    assert verify_archive(str(bundle)).ok
    names = zipfile.ZipFile(io.BytesIO(bundle.read_bytes())).namelist()
    assert "evaluation/remedies.json" in names and sum(n.startswith("void/") for n in names) == 4


def test_void_award_with_no_candidate_left_ends_the_section_failed(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    fail = {}
    trade = open_trade(app, client, world, PRICES)
    for bidder in trade.tender.bidders[:2]:
        fail[bidder.org.id] = "资格不符"
    users = sign_in_all(trade)
    score_lowest(trade, users, fail=fail)
    close_report(trade, users)
    publish(trade)
    ev = award_after_publicity(trade)
    assert [c.rank for c in ev.candidates] == [1]

    case = uphold(trade, Remedy.VOID_AWARD)

    section = trade.section
    assert section.status == "failed" and case.number in (section.failed_reason or "")
    assert ev.status == "publicity" and ev.awarded_at is None and ev.candidates == []
    with app.test_request_context(), pytest.raises(Conflict):
        services.award(ev, actor=world.agent)
    awards = _ocds(app, trade)["awards"]
    assert [(a["id"], a["status"]) for a in awards] == [(f"{section.id}-award", "cancelled")]
    public = app.test_client().get(f"/evaluation/public/{section.id}").get_data(as_text=True)
    assert "voided-award" in public


def test_re_tender_on_an_awarded_section_voids_the_award_and_fails_the_section(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade, _users = to_publicity(app, client, world, PRICES)
    ev = award_after_publicity(trade)
    with app.test_request_context():
        services.record_contract(ev, actor=world.agent)
    case = uphold(trade, Remedy.RE_TENDER)
    assert trade.section.status == "failed" and case.number in (trade.section.failed_reason or "")
    [voided] = ev.voided_awards
    assert voided.contract_signed_at is not None and ev.contract_signed_at is None
    assert ev.status == "publicity"
