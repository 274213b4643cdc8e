"""Handling cases through the JSON API with the case page's services and rules: the regulator accepts,
investigates (suspending the section), stops the clock while the filer supplies materials, decides (step-up)
and publishes; the management office receives, assigns and answers a report that its reporter then reads by
code. Wrong roles get 403, another industry's regulator 403 from the service, a token limited to another
section 403, bad input 422; writing in the thread replays under its ``Idempotency-Key``; lists filter to a
limited token's sections instead of refusing it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask.testing import FlaskClient

from app.accounts import services as accounts
from app.complaints import services
from app.complaints.enums import CaseKind, Matter
from app.complaints.models import Case, CaseMessage
from app.core.clock import clock
from app.core.db import db
from tests.factories import current_code

from .conftest import CONTENT, World, cst

BASE = "/api/v1/complaints"


def _as(user: Any, *, sections: list[int] | None = None) -> dict[str, str]:
    refs = [str(i) for i in sections] if sections else None
    return {"Authorization": f"Bearer {accounts.create_api_token(user, name='api', sections=refs).raw}"}


def _complaint(world: World) -> Case:
    objection = services.save_draft(
        CaseKind.OBJECTION,
        services.CaseInput(section_id=world.section.id, matter=Matter.DOCUMENTS.value, content=dict(CONTENT)),
        actor=world.bidder,
    )
    services.submit_objection(objection, actor=world.bidder)
    clock.advance(dt.timedelta(days=2))
    services.answer_objection(objection, actor=world.tenderer, answer="不成立")
    case = services.save_draft(
        CaseKind.COMPLAINT,
        services.CaseInput(
            section_id=world.section.id,
            matter=Matter.DOCUMENTS.value,
            knew_at=cst(2026, 3, 3, 9),
            prior_objection_id=objection.id,
            content=dict(CONTENT),
        ),
        actor=world.bidder,
    )
    return services.submit_complaint(case, actor=world.bidder)


def test_regulator_handles_a_complaint_to_its_published_decision(client: FlaskClient, world: World) -> None:
    case = _complaint(world)
    url = f"{BASE}/cases/{case.id}/complaint"
    regulator = _as(world.regulator)

    assert client.post(f"{url}/accept", headers=_as(world.bidder)).status_code == 403  # wrong role
    assert client.post(f"{url}/accept", headers=_as(world.manager)).status_code == 403
    other = _as(world.regulator, sections=[world.gp_section.id])
    assert client.post(f"{url}/accept", headers=other).status_code == 403  # token for another section
    assert client.post(f"{url}/accept", headers=_as(world.regulator2)).status_code == 404  # cannot see it

    accepted = client.post(f"{url}/accept", headers=_as(world.regulator, sections=[world.section.id]))
    assert accepted.status_code == 200, accepted.json
    assert accepted.json["status"] == "accepted" and accepted.json["side"] == "handler"

    world.section.status = "evaluating"
    db.session.commit()
    bad = client.post(f"{url}/investigate", json={"suspend": "perhaps"}, headers=regulator)
    assert bad.status_code == 422 and "suspend" in bad.json["errors"]["json"]
    investigated = client.post(f"{url}/investigate", json={"suspend": True}, headers=regulator)
    assert investigated.status_code == 200, investigated.json
    assert world.section.suspended

    # Asking the filer for materials: a message to the filer. The time it takes (补正) still counts for a
    # works complaint (条例 Art. 61; only procurement excludes it, 采购条例 Art. 58); an expert review stops
    # the clock.
    ask = client.post(
        f"{BASE}/cases/{case.id}/messages",
        json={"body": "请补充第三章的证明材料。", "audience": "filer"},
        headers=regulator,
    )
    assert ask.status_code == 201, ask.json
    assert client.post(f"{url}/pause", json={"reason": "whenever"}, headers=regulator).status_code == 422
    refused = client.post(f"{url}/pause", json={"reason": "defect_fix"}, headers=regulator)
    assert refused.status_code == 422 and refused.json["code"] == "pause_not_excluded", refused.json
    paused = client.post(f"{url}/pause", json={"reason": "expert_review"}, headers=regulator)
    assert paused.status_code == 200 and paused.json["due_at"] is None
    assert client.post(f"{url}/unpause", headers=regulator).json["due_at"] is not None

    decision = {"outcome": "upheld", "decision": "资格条件违法，责令改正。", "remedy": "correction"}
    assert client.post(f"{url}/decision", json=decision, headers=regulator).status_code == 401  # step-up
    assert (
        client.post(f"{url}/decision", json={**decision, "remedy": "x"}, headers=regulator).status_code == 422
    )
    decided = client.post(
        f"{url}/decision", json=decision, headers=regulator | {"X-TOTP-Code": current_code(world.regulator)}
    )
    assert decided.status_code == 200, decided.json
    assert decided.json["status"] == "upheld" and decided.json["remedy"] == "correction"
    published = client.post(f"{url}/publish", headers=regulator)
    assert published.status_code == 200 and published.json["published_at"] is not None
    assert case.number in {d["number"] for d in client.get(f"{BASE}/decisions").json}


def test_refusal_needs_a_reason_and_another_industry_may_not_refuse(
    client: FlaskClient, world: World
) -> None:
    case = _complaint(world)
    url = f"{BASE}/cases/{case.id}/complaint/refuse"
    assert client.post(url, json={}, headers=_as(world.regulator)).status_code == 422
    assert client.post(url, json={"reason": "x", "extra": 1}, headers=_as(world.regulator)).status_code == 422
    reason = {"reason": "不属于本部门受理范围。"}
    assert client.post(url, json=reason, headers=_as(world.regulator2)).status_code == 404
    refused = client.post(url, json=reason, headers=_as(world.regulator))
    assert refused.status_code == 200 and refused.json["status"] == "not_accepted"


def test_office_receives_assigns_and_answers_a_report_read_by_code(client: FlaskClient, world: World) -> None:
    report, code = services.file_report(
        services.ReportInput(
            subject="围标线索", facts="多家投标文件由同一台电脑制作。", section_id=world.section.id
        )
    )
    db.session.commit()
    office = _as(world.manager)
    url = f"{BASE}/cases/{report.id}"
    write = f"{BASE}/track/messages"
    key = {"X-Tracking-Code": code, "Idempotency-Key": "k" * 32}
    assert (
        client.post(write, json={"body": "补充线索"}, headers={"X-Tracking-Code": "nope"}).status_code == 404
    )
    assert client.post(write, json={"body": ""}, headers=key).status_code == 422
    written = client.post(write, json={"body": "补充线索：两家报价仅差一元。"}, headers=key)
    assert written.status_code == 201, written.json
    replayed = client.post(write, json={"body": "补充线索：两家报价仅差一元。"}, headers=key)
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert db.session.query(CaseMessage).filter_by(case_id=report.id).count() == 1
    assert client.post(f"{url}/receive", headers=_as(world.bidder)).status_code == 403
    received = client.post(f"{url}/receive", headers=office)
    assert received.status_code == 200, received.json

    assert (
        client.post(f"{url}/assign", json={"primary_id": world.manager.id}, headers=office).status_code == 422
    )
    due = "2099-13-01"
    bad_day = {"primary_id": world.manager.id, "backup_id": world.manager2.id, "due_on": due}
    assert client.post(f"{url}/assign", json=bad_day, headers=office).status_code == 422
    wrong = {"primary_id": world.manager.id, "backup_id": world.bidder.id}
    refused = client.post(f"{url}/assign", json=wrong, headers=office)
    assert refused.status_code == 422 and "backup" in refused.json["errors"]
    assigned = client.post(
        f"{url}/assign",
        json={"primary_id": world.manager.id, "backup_id": world.manager2.id, "due_on": "2026-03-20"},
        headers=office,
    )
    assert assigned.status_code == 200, assigned.json

    answered = client.post(f"{url}/report-answer", json={"answer": "已立案调查。"}, headers=office)
    assert answered.status_code == 200, answered.json
    tracked = client.get(f"{BASE}/track", headers={"X-Tracking-Code": code})
    assert tracked.json["answer"] == "已立案调查。"
    assert client.post(write, json={"body": "还有"}, headers={"X-Tracking-Code": code}).status_code == 409


def test_a_message_replays_under_its_idempotency_key(client: FlaskClient, world: World) -> None:
    case = _complaint(world)
    headers = _as(world.bidder) | {"Idempotency-Key": "msg-1"}
    url = f"{BASE}/cases/{case.id}/messages"
    first = client.post(url, json={"body": "补充证据见附件。"}, headers=headers)
    assert first.status_code == 201, first.json
    again = client.post(url, json={"body": "补充证据见附件。"}, headers=headers)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json == first.json
    assert db.session.query(CaseMessage).filter_by(case_id=case.id).count() == 1
    other = client.post(url, json={"body": "另一条。"}, headers=headers)
    assert other.status_code == 422  # the same key for another body
    assert client.post(url, json={"body": ""}, headers=_as(world.bidder)).status_code == 422


def test_a_token_limited_to_sections_lists_their_cases_only(client: FlaskClient, world: World) -> None:
    case = _complaint(world)
    gp_draft = services.save_draft(
        CaseKind.OBJECTION,
        services.CaseInput(
            section_id=world.gp_section.id, matter=Matter.DOCUMENTS.value, content=dict(CONTENT)
        ),
        actor=world.bidder,
    )
    db.session.commit()
    everything = client.get(f"{BASE}/cases", headers=_as(world.bidder)).json["data"]
    assert {c["id"] for c in everything} == {case.id, case.prior_objection_id, gp_draft.id}
    mine = client.get(f"{BASE}/cases", headers=_as(world.bidder, sections=[world.section.id]))
    assert mine.status_code == 200
    assert {c["id"] for c in mine.json["data"]} == {case.id, case.prior_objection_id}
    elsewhere = client.get(f"{BASE}/cases", headers=_as(world.bidder, sections=[world.gp_section.id]))
    assert elsewhere.status_code == 200 and [c["id"] for c in elsewhere.json["data"]] == [gp_draft.id]
    detail = client.get(f"{BASE}/cases/{case.id}", headers=_as(world.bidder, sections=[world.gp_section.id]))
    assert detail.status_code == 403
