"""Issue 15 item 8: the endings the law defines.

Before the fix: a panel that rejected every bid closed a report with no candidate and the section sat in
``evaluating`` with an empty candidate publicity to publish; the award had no written report to the
regulator and no reminder of the contract's 30 days; the publicity listed names, prices and scores only;
the archive held no bid file and had no retention period. Now each ending is the one the statute defines,
through the real pages, the alert job and the cleanup command."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.core.clock import clock
from app.core.models import OutboxMessage
from app.evaluation import archive, endings, services
from app.evaluation.verify import verify_archive
from app.projects.models import Section
from app.supervision.models import SupervisionAlert
from tests.evaluation.conftest import (
    Trade,
    award_after_publicity,
    close_report,
    open_trade,
    publicity_form,
    publish,
    score_lowest,
    sign_in_all,
)
from tests.factories import csrf_token, login
from tests.projects.conftest import World


def _inbox(db_session: Any, user_id: int) -> list[OutboxMessage]:
    return list(
        db_session.scalars(
            select(OutboxMessage).where(OutboxMessage.channel == "inbox", OutboxMessage.user_id == user_id)
        )
    )


def _alerts(app: Flask, section: Section) -> dict[str, list[str]]:
    result = app.test_cli_runner().invoke(args=["supervision", "alerts", "--section", str(section.id)])
    assert result.exit_code == 0, result.output
    rows = select(SupervisionAlert).where(SupervisionAlert.section_id == section.id)
    out: dict[str, list[str]] = {}
    from app.core.db import db

    for alert in db.session.scalars(rows):
        out.setdefault(alert.rule, []).append(alert.evidence.get("state", ""))
    return out


def _awarded(app: Flask, client: FlaskClient, world: World) -> Trade:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    users = sign_in_all(trade)
    score_lowest(trade, users)
    close_report(trade, users)
    publish(trade)
    award_after_publicity(trade)
    return trade


def test_every_bid_rejected_fails_the_section_with_public_reasons_and_a_re_tender(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    users = sign_in_all(trade)
    reasons = {b.org.id: f"资格不符：{b.org.name}无市政资质" for b in trade.tender.bidders}
    score_lowest(trade, users, fail=reasons)
    ev = close_report(trade, users)

    assert ev.status == "failed" and ev.failed_at is not None and ev.round_candidates == []
    section = trade.section
    assert section.status == "failed"
    assert "招标投标法第42条" in (section.failed_reason or "")
    assert all(r in (section.failed_reason or "") for r in reasons.values())

    # the reasons are public; no candidate publicity can be published
    page = app.test_client().get(f"/evaluation/public/{section.id}").get_data(as_text=True)
    assert 'id="failure-notice"' in page and all(r in page for r in reasons.values())
    assert "failure-notice.html" in [f.filename for f in ev.files]
    agent = app.test_client()
    login(agent, world.agent)
    manage = agent.get(f"/evaluation/manage/{section.id}").get_data(as_text=True)
    assert 'id="all-rejected"' in manage and 'id="publish-candidates"' not in manage

    # every bidder is told; the tenderer is offered the re-tender and takes it from the section page
    for bidder in trade.tender.bidders:
        assert any(section.code in m.subject for m in _inbox(db_session, bidder.user.id))
    assert any(
        "re-tender" in m.subject or "重新招标" in m.subject for m in _inbox(db_session, world.agent.id)
    )
    url = f"/projects/sections/{section.id}"
    assert agent.post(f"{url}/retender", data={"csrf_token": csrf_token(agent, url)}).status_code == 302
    again = db_session.scalar(select(Section).where(Section.retender_of_id == section.id))
    assert again is not None and again.status == "draft"


def test_candidate_publicity_states_what_order_10_article_6_lists(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000", "9200000"])
    users = sign_in_all(trade)
    cheapest = trade.tender.bidders[3]
    score_lowest(trade, users, fail={cheapest.org.id: "投标报价低于成本"})
    ev = close_report(trade, users)
    section = trade.section
    agent = app.test_client()
    login(agent, world.agent)
    manage = f"/evaluation/manage/{section.id}"

    # without the project managers' certificates and the qualifications, the publicity is refused
    refused = agent.post(
        f"{manage}/publish", data={"csrf_token": csrf_token(agent, manage)}, follow_redirects=True
    ).get_data(as_text=True)
    assert "国家发展改革委令第10号第6条" in refused and ev.status == "reported"

    # the project manager comes from the declared opening items unless the tenderer states it
    form = {k: v for k, v in publicity_form(ev).items() if not k.startswith("project_manager_")}
    resp = agent.post(f"{manage}/publish", data={"csrf_token": csrf_token(agent, manage), **form})
    assert resp.status_code == 302 and ev.status == "publicity"
    first = ev.candidates[0]
    assert first.project_manager == "王工"  # declared in the summary envelope, kept
    notice = next(f for f in ev.files if f.kind == "publicity")
    stored = (Path(app.config["BLOB_DIR"]) / notice.blob_path).read_text(encoding="utf-8")
    public = app.test_client().get(f"/evaluation/public/{section.id}").get_data(as_text=True)
    for text in (stored, public):
        for cand in ev.candidates:
            assert cand.bidder_name in text and str(cand.price) in text
            assert cand.pm_certificate and cand.pm_certificate in text
            assert cand.qualifications and cand.qualifications in text
        assert "365" in text  # the declared duration
        assert cheapest.org.name in text and "投标报价低于成本" in text  # the rejected bid, with its reason
        assert 'id="how-to-object"' in text


def test_written_report_to_the_regulator_is_due_in_15_days_alerted_and_filed(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = _awarded(app, client, world)
    ev = trade.evaluation()
    report = ev.written_report
    assert report is not None and report.filed_at is None
    assert ev.awarded_at is not None and report.due_at - ev.awarded_at >= dt.timedelta(days=15)

    # nothing yet; three days before it is due the tenderer side is reminded and the regulator sees it
    assert "written_report_due" not in _alerts(app, trade.section)
    clock.freeze(report.due_at - dt.timedelta(days=2))
    assert _alerts(app, trade.section)["written_report_due"] == ["due_soon"]
    assert any("招标投标法第47条" in m.body for m in _inbox(db_session, world.agent.id))
    clock.freeze(report.due_at + dt.timedelta(hours=1))
    assert sorted(_alerts(app, trade.section)["written_report_due"]) == ["due_soon", "overdue"]

    # the tenderer files it through the page; incomplete contents are refused with the article
    agent = app.test_client()
    login(agent, world.agent)
    manage = f"/evaluation/manage/{trade.section.id}"
    shown = agent.post(
        f"{manage}/written-report",
        data={"csrf_token": csrf_token(agent, manage), "scope": "道路改造施工"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "第65条" in shown and report.filed_at is None
    agent.post(
        f"{manage}/written-report",
        data={
            "csrf_token": csrf_token(agent, manage),
            "scope": "道路改造施工",
            "method_and_media": "公开招标；南通市公共资源交易平台",
            "documents_summary": "投标人须知、技术条款、经评审的最低投标价法、合同主要条款",
        },
    )
    assert report.filed_at is not None and report.late and report.sha256
    regulator = app.test_client()
    login(regulator, world.regulator)
    document = regulator.get(f"/evaluation/sections/{trade.section.id}/written-report")
    assert document.status_code == 200 and document.headers["X-Report-SHA256"] == report.sha256
    body = document.get_data(as_text=True)
    assert "公开招标；南通市公共资源交易平台" in body and ev.report_sha256 in body
    winner = next(c for c in ev.candidates if c.org_id == ev.winner_org_id)
    assert winner.bidder_name in body
    assert any(trade.section.code in m.subject for m in _inbox(db_session, world.regulator.id))
    monitor = regulator.get(f"/evaluation/monitor/{trade.section.id}").get_data(as_text=True)
    assert 'id="written-report-state"' in monitor
    # filed: no new alert
    clock.advance(dt.timedelta(days=1))
    assert sorted(_alerts(app, trade.section)["written_report_due"]) == ["due_soon", "overdue"]


def test_the_contract_is_alerted_before_its_30_days_lapse(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    app.config["EVALUATION_CONTRACT_DAYS"] = 60  # configuration cannot lengthen the statute (法 Art. 46)
    try:
        trade = _awarded(app, client, world)
    finally:
        app.config["EVALUATION_CONTRACT_DAYS"] = 30
    ev = trade.evaluation()
    assert ev.contract_due_at is not None and ev.awarded_at is not None
    assert ev.contract_due_at - ev.awarded_at <= dt.timedelta(days=31)
    winner = next(b for b in trade.tender.bidders if b.org.id == ev.winner_org_id)
    clock.freeze(ev.contract_due_at - dt.timedelta(days=4))
    assert _alerts(app, trade.section)["contract_due"] == ["due_soon"]
    for user_id in (world.agent.id, winner.user.id):
        assert any("招标投标法第46条" in m.body for m in _inbox(db_session, user_id))
    clock.freeze(ev.contract_due_at + dt.timedelta(minutes=1))
    assert sorted(_alerts(app, trade.section)["contract_due"]) == ["due_soon", "overdue"]


def test_publicity_lasts_3_days_whatever_the_configuration(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    app.config["EVALUATION_PUBLICITY_DAYS"] = 1  # 实施条例 Art. 54: not less than 3 days
    try:
        trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
        users = sign_in_all(trade)
        score_lowest(trade, users)
        close_report(trade, users)
        ev = publish(trade)
    finally:
        app.config["EVALUATION_PUBLICITY_DAYS"] = 3
    assert ev.publicity_ends_at is not None and ev.publicity_starts_at is not None
    assert ev.publicity_ends_at - ev.publicity_starts_at >= dt.timedelta(days=3)


def test_the_archive_keeps_the_bids_for_its_retention_and_cleanup_honours_it(
    app: Flask, client: FlaskClient, world: World, db_session: Any, tmp_path: Path
) -> None:
    trade = _awarded(app, client, world)
    ev = trade.evaluation()
    with app.test_request_context():
        services.record_contract(ev, actor=world.agent)
        archive.archive(ev, actor=world.staff)
    assert ev.retain_until is not None and ev.archived_at is not None
    assert ev.retain_until.year - ev.archived_at.year == 15 and "十五年" in (ev.retention_basis or "")
    bundle = Path(app.config["BLOB_DIR"]) / (ev.archive_path or "")
    copy = tmp_path / "archive.zip"
    copy.write_bytes(bundle.read_bytes())
    assert verify_archive(str(copy)).ok
    with zipfile.ZipFile(copy) as zf:
        listing = json.loads(zf.read("bids.json"))
        assert {row["org_id"] for row in listing} == {b.org.id for b in trade.tender.bidders}
        for row in listing:
            plain = zf.read(row["file"])
            assert plain == f"technical proposal of {row['bidder']}".encode() * 100
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["retention"]["years"] == 15

    # the cleanup keeps everything under retention, and disposes of it only once the period has ended
    runner = app.test_cli_runner()
    opened = [Path(app.config["BLOB_DIR"]) / str(e) for e in _plaintexts(db_session, ev.section_id)]
    assert opened and all(p.exists() for p in opened)
    clock.freeze(ev.retain_until - dt.timedelta(days=1))
    result = runner.invoke(args=["bidding", "cleanup", "--dispose-expired"])
    assert result.exit_code == 0, result.output
    assert "0 archive(s) past retention disposed" in result.output
    assert bundle.exists() and all(p.exists() for p in opened) and ev.disposed_at is None
    clock.freeze(ev.retain_until + dt.timedelta(days=1))
    result = runner.invoke(args=["bidding", "cleanup", "--dispose-expired"])
    assert "1 archive(s) past retention disposed" in result.output, result.output
    assert not bundle.exists() and not any(p.exists() for p in opened)
    assert ev.disposed_at is not None and ev.archive_path is None
    with app.test_request_context():
        from app.bidding import storage

        assert storage.check().ok  # receipts keep their (sealed) envelope files
    assert app.test_client().get("/").status_code in {200, 302}


def _plaintexts(db_session: Any, section_id: int) -> list[str]:
    from app.bidding.models import SealedEnvelope

    return [
        str(p)
        for p in db_session.scalars(
            select(SealedEnvelope.plaintext_path).where(
                SealedEnvelope.section_id == section_id, SealedEnvelope.plaintext_path.is_not(None)
            )
        )
    ]


def test_retention_follows_the_category() -> None:
    assert "政府采购法第42条" in archive.retention_basis("government_procurement")
    assert "十五年" in archive.retention_basis("engineering_construction")
    at = dt.datetime(2028, 2, 29, 8, 0, tzinfo=dt.UTC)
    assert archive.add_years(at, 15) == dt.datetime(2043, 2, 28, 8, 0, tzinfo=dt.UTC)


def test_rejected_bids_stay_private_while_the_scores_are_open(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    """The reasons a member gave are published with the closed report, not while the panel still works."""
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    users = sign_in_all(trade)
    score_lowest(trade, users, fail={trade.tender.bidders[0].org.id: "业绩不符"})
    ev = trade.evaluation()
    assert ev.status == "scoring"
    with app.test_request_context():
        assert endings.rejected_bids(ev) == []
    close_report(trade, users)
    with app.test_request_context():
        assert [r.reasons for r in endings.rejected_bids(ev)] == [("业绩不符",)]
