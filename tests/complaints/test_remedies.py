"""What each remedy of an upheld complaint does to the section, state by state (app/complaints/sections.py
dispatching to app/evaluation/remedies.py once the evaluation has begun)."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from app.complaints import sections
from app.complaints.enums import Remedy
from app.complaints.models import Case
from tests.evaluation.conftest import _own_blob_dir as _own_blob_dir
from tests.evaluation.conftest import (
    award_after_publicity,
    open_trade,
    to_publicity,
    uphold,
)
from tests.projects.conftest import World
from tests.projects.conftest import world as world

PRICES = ["9500000", "9400000", "9300000"]


def _remedy_note(case: Case) -> str:
    return next(e.note for e in case.events if e.action == "remedy")


def test_correction_leaves_an_awarded_section_and_its_award_alone(
    app: Flask, client: FlaskClient, world: World
) -> None:
    trade, _users = to_publicity(app, client, world, PRICES)
    ev = award_after_publicity(trade)
    case = uphold(trade, Remedy.CORRECTION)
    assert case.status == "upheld" and case.remedy == "correction"
    assert trade.section.status == "awarded" and ev.status == "awarded" and ev.voided_awards == []
    assert _remedy_note(case).startswith("correction")


def test_remedies_before_the_evaluation_fall_back_to_section_moves(
    app: Flask, client: FlaskClient, world: World
) -> None:
    trade = open_trade(app, client, world, PRICES)
    section = trade.section
    assert section.status == "opened"
    # nothing evaluated yet: a re-evaluation changes nothing (it no longer fakes an evaluation)
    case = uphold(trade, Remedy.RE_EVALUATION)
    assert section.status == "opened" and "re_evaluation" in _remedy_note(case)
    # 中标无效 with no winner yet: the trade ends (re-procurement), as before
    case = uphold(trade, Remedy.VOID_AWARD, by=1)
    assert section.status == "cancelled" and case.number in (section.cancel_reason or "")


def test_re_evaluation_while_the_panel_signs_in_has_nothing_to_undo(
    app: Flask, client: FlaskClient, world: World
) -> None:
    trade = open_trade(app, client, world, PRICES)
    users = trade.panel_users()
    with app.test_request_context():
        from app.evaluation import services

        services.sign_in(trade.section, actor=users[0], conflict=False)
    ev = trade.evaluation()
    assert ev.status == "sign_in"
    uphold(trade, Remedy.RE_EVALUATION)
    assert trade.section.status == "evaluating" and ev.status == "sign_in" and ev.round == 1


def test_re_tender_during_publicity_fails_the_section(app: Flask, client: FlaskClient, world: World) -> None:
    trade, _users = to_publicity(app, client, world, PRICES)
    case = uphold(trade, Remedy.RE_TENDER)
    assert trade.section.status == "failed" and case.number in (trade.section.failed_reason or "")
    from app.evaluation.services import ocds_awards

    assert [a["status"] for a in ocds_awards(trade.section)] == ["cancelled"]


def test_a_remedy_refused_while_another_case_suspends_the_section_changes_nothing(
    app: Flask, client: FlaskClient, world: World
) -> None:
    trade, _users = to_publicity(app, client, world, PRICES)
    ev = trade.evaluation()
    with app.test_request_context():
        from app.projects import services as projects

        projects.suspend_section(trade.section, actor=world.regulator, reason="监督检查")
    case = uphold(trade, Remedy.RE_EVALUATION)
    assert "re_evaluation" in _remedy_note(case)
    assert trade.section.status == "publicity" and ev.status == "publicity" and ev.round == 1
    assert ev.restarts == [] and all(c.voided_at is None for c in ev.all_candidates)


def test_only_correction_has_no_section_move() -> None:
    assert sections.REMEDY_TARGETS[Remedy.CORRECTION] == ()
    assert sections.REMEDY_TARGETS[Remedy.RE_EVALUATION] == ()
