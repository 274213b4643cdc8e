"""The whole trade, from publication to the archive bundle, on the injected clock, through the real
services of projects, bidding (sealed bids, k-of-n opening), experts (witnessed draw), complaints and
evaluation."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.complaints import sections as complaint_sections
from app.complaints import services as complaints
from app.complaints.enums import CaseKind
from app.core.clock import clock, now
from app.core.errors import Conflict, DomainError
from app.core.models import OutboxMessage
from app.evaluation import archive, services
from app.evaluation.verify import main as verify_main
from app.evaluation.verify import verify_archive
from app.experts.permissions import can_view_panel
from tests.evaluation.conftest import close_report, open_trade, publicity_details, score_lowest, sign_in_all
from tests.factories import login
from tests.projects.conftest import World


def _tamper(src: Path, dest: Path, victim: str) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == victim:
                data = data + b" " if data else b"x"
            zout.writestr(info, data)


def test_publication_to_verified_archive(
    app: Flask, client: FlaskClient, world: World, db_session: Any, tmp_path: Path
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    section = trade.section
    cheapest, middle, dearest = trade.tender.bidders[2], trade.tender.bidders[1], trade.tender.bidders[0]

    # 1. panel sign-in: the leader is the lowest seat order; the section is under evaluation
    users = sign_in_all(trade)
    ev = trade.evaluation()
    assert section.status == "evaluating" and ev.status == "scoring"
    assert ev.leader_member_id == trade.member(users[0]).id

    # 2–4. independent scoring, locked on submit; the report with ≤ 3 ranked candidates, signed
    score_lowest(trade, users)
    with pytest.raises(Conflict), app.test_request_context():
        services.save_scores(trade.member(users[1]), actor=users[1], qualification={})
    close_report(trade, users)
    assert ev.status == "reported" and ev.report_sha256
    assert [c.org_id for c in ev.candidates] == [cheapest.org.id, middle.org.id, dearest.org.id]
    assert all(m.decision == "signed" and m.signature for m in ev.counted)

    # 5. candidate publicity by the tenderer's agency, ≥ 3 days by the calendar
    with app.test_request_context():
        services.publish_candidates(ev, actor=world.agent, details=publicity_details(ev))
    start, end = services.publicity_window(section) or (None, None)
    assert start == now() and end is not None and end - start >= dt.timedelta(days=3)
    assert complaint_sections.publicity_window(section) == (start, end)  # installed for the complaints domain
    assert services.is_in_publicity(section, start)
    assert services.is_in_publicity(section, end - dt.timedelta(microseconds=1))
    assert not services.is_in_publicity(section, end)
    assert not services.is_in_publicity(section, start - dt.timedelta(microseconds=1))
    assert client.get("/evaluation/public").status_code == 200
    assert cheapest.org.name in client.get(f"/evaluation/public/{section.id}").get_data(as_text=True)
    assert services.ocds_awards(section)[0]["status"] == "pending"

    # award refused during the publicity
    with app.test_request_context(), pytest.raises(Conflict) as during:
        services.award(ev, actor=world.agent)
    assert during.value.code == "in_publicity"

    # an objection to the results inside the window suspends the section; the award waits for its answer
    clock.advance(dt.timedelta(days=1))
    with app.test_request_context():
        case = complaints.save_draft(
            CaseKind.OBJECTION,
            complaints.CaseInput(
                section_id=section.id,
                matter="results",
                content={"subject": "评标结果异议", "facts": "报价计算有误", "claims": "重新评审"},
            ),
            actor=dearest.user,
        )
        complaints.submit_objection(case, actor=dearest.user)
    assert section.suspended
    clock.freeze(end + dt.timedelta(minutes=1))
    with app.test_request_context(), pytest.raises(Conflict) as pending:
        services.award(ev, actor=world.agent)
    assert pending.value.code == "pending"
    with app.test_request_context():
        complaints.answer_objection(case, actor=world.agent, answer="经复核，评标结果无误。")
    assert not section.suspended
    assert services.award_blockers(section) == []

    # 6. award: state-funded → the first-ranked unless a legal reason is recorded
    assert services.is_state_funded(section)
    with app.test_request_context(), pytest.raises(DomainError):
        services.award(ev, actor=world.agent, rank=2)
    with app.test_request_context():
        services.award(ev, actor=world.agent, rank=1)
    assert section.status == "awarded" and ev.winner_org_id == cheapest.org.id
    assert ev.contract_due_at is not None and ev.contract_due_at - ev.awarded_at >= dt.timedelta(days=30)
    kinds = sorted(f.kind for f in ev.files)
    assert kinds.count("award_letter") == 1 and kinds.count("result_letter") == 2
    assert (
        db_session.query(OutboxMessage).filter(OutboxMessage.recipient == str(cheapest.user.id)).count() >= 1
    )
    assert services.ocds_awards(section)[0]["status"] == "active"
    # the award reaches the section's OCDS release, which stays valid against the OCDS 1.1 schema
    from app.portal import ocds
    from tests.portal.test_open_data import _errors, build_validators

    with app.test_request_context():
        package = ocds.release_package(section)
    release = package["releases"][0]
    assert release["awards"][0]["status"] == "active"
    supplier_id = release["awards"][0]["suppliers"][0]["id"]
    assert any(p["id"] == supplier_id and "supplier" in p["roles"] for p in release["parties"])
    assert _errors(build_validators()["release-package"], package) == []
    # the panel is no longer secret
    assert len(services.panel_public(ev)) == 5
    assert can_view_panel(world.tenderer, trade.draw)

    # contract and refunds within 5 days of signing
    clock.advance(dt.timedelta(days=2))
    with app.test_request_context():
        services.record_contract(ev, actor=world.agent)
        assert all(r.due_at is not None for r in ev.refunds)
        for refund in ev.refunds:
            services.record_refund(refund, actor=world.agent)

    # 7. the archive bundle verifies offline, and fails after tampering with any file inside it
    with app.test_request_context():
        archive.archive(ev, actor=world.staff)
    assert section.status == "archived" and ev.status == "archived"
    bundle = tmp_path / "archive.zip"
    bundle.write_bytes((Path(app.config["BLOB_DIR"]) / (ev.archive_path or "")).read_bytes())
    runner = app.test_cli_runner()
    result = runner.invoke(args=["evaluation", "verify-archive", str(bundle)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
    assert verify_main([str(bundle)]) == 0  # the standalone entry: python -m app.evaluation.verify FILE
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        assert {"manifest.json", "manifest.sig", "opening_record.json", "draw_record.json"} <= set(names)
        assert "evaluation/report.html" in names and "audit/leaves.json" in names
        assert any(n.startswith("documents/") for n in names)
    for victim in names:
        broken = tmp_path / "broken.zip"
        _tamper(bundle, broken, victim)
        assert not verify_archive(str(broken)).ok, victim
    result = runner.invoke(args=["evaluation", "verify-archive", str(broken)])
    assert result.exit_code == 1

    # the staff archive download and the tenderer's page
    login(client, world.agent)
    page = client.get(f"/evaluation/manage/{section.id}")
    assert page.status_code == 200
    download = client.get(f"/evaluation/sections/{section.id}/archive.zip")
    assert download.status_code == 200 and zipfile.ZipFile(io.BytesIO(download.data)).namelist() == names
    staff = app.test_client()
    login(staff, world.staff)
    assert staff.get("/evaluation/monitor").status_code == 200
    monitor = staff.get(f"/evaluation/monitor/{section.id}")
    assert monitor.status_code == 200 and (ev.archive_sha256 or "") in monitor.get_data(as_text=True)
    assert staff.get(f"/evaluation/sections/{section.id}/report").status_code == 200
