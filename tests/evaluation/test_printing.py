"""Issue 17: the evaluation report, the written report and the award notice as signed PDFs."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app.core.permissions import OrgKind, Role
from tests import printed
from tests.evaluation.conftest import (
    award_after_publicity,
    close_report,
    open_trade,
    publish,
    score_lowest,
    sign_in_all,
)
from tests.factories import csrf_token, login, make_org, make_user
from tests.projects.conftest import World


def _client(app: Flask, user: Any) -> FlaskClient:
    c = app.test_client()
    login(c, user)
    return c


def _verify_path(link: str) -> str:
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


def test_report_award_notice_and_written_report_print_as_signed_pdfs(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    users = sign_in_all(trade)
    score_lowest(trade, users)
    ev = close_report(trade, users)
    sid = trade.section.id
    base = f"/evaluation/sections/{sid}"
    agent = _client(app, world.agent)
    expert = _client(app, users[0])
    bidder = _client(app, trade.tender.bidders[0].user)
    stranger = _client(app, make_user(Role.TENDERER, make_org(OrgKind.TENDERER, "另一招标人有限公司")))

    # the report: a panel member reads it, as on the page; the award notice does not exist yet
    resp = expert.get(f"{base}/report.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    pdf = printed.read(resp.data)
    assert "评标报告" in pdf.text and ev.report_sha256 in pdf.text
    assert pdf.params == {
        "kind": "evaluation_report",
        "id": str(sid),
        "sha256": ev.report_sha256,
        "sig": pdf.params["sig"],
    }
    assert pdf.qr == printed.segno_modules(pdf.link)
    workspace = expert.get(f"/evaluation/sections/{sid}").get_data(as_text=True)
    assert f"{base}/report.pdf" in workspace
    assert agent.get(f"{base}/award_notice.pdf").status_code == 404
    assert bidder.get(f"{base}/report.pdf").status_code == 403
    assert stranger.get(f"{base}/report.pdf").status_code == 404

    # English on request
    english = printed.read(expert.get(f"{base}/report.pdf?lang=en").data)
    assert "Verificationofthisprintedrecord" in english.text and ev.report_sha256 in english.text

    # the verification page: genuine, then a tampered hash and a tampered signature
    genuine = app.test_client().get(_verify_path(pdf.link)).get_data(as_text=True)
    assert 'id="verdict-genuine"' in genuine and "真实有效" in genuine
    forged_hash = pdf.link.replace(ev.report_sha256, "0" * 64)
    page = app.test_client().get(_verify_path(forged_hash)).get_data(as_text=True)
    assert 'id="verdict-signature"' in page and 'id="verdict-outdated"' in page
    sig = pdf.params["sig"]
    forged_sig = pdf.link.replace(sig, ("A" if sig[0] != "A" else "B") + sig[1:])
    page = app.test_client().get(_verify_path(forged_sig)).get_data(as_text=True)
    assert 'id="verdict-signature"' in page and 'id="verdict-genuine"' not in page
    other_kind = pdf.link.replace("kind=evaluation_report", "kind=opening_record")
    page = app.test_client().get(_verify_path(other_kind)).get_data(as_text=True)
    assert 'id="verdict-genuine"' not in page

    # the award notice (中标通知书): the tenderer side and the supervisors
    publish(trade)
    award_after_publicity(trade)
    resp = agent.get(f"{base}/award_notice.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    notice = printed.read(resp.data)
    winner = next(c for c in ev.candidates if c.org_id == ev.winner_org_id)
    assert "中标结果公告" in notice.text and winner.bidder_name in notice.text
    assert notice.params["sha256"] in notice.text and notice.qr == printed.segno_modules(notice.link)
    assert 'id="verdict-genuine"' in app.test_client().get(_verify_path(notice.link)).get_data(as_text=True)
    manage = agent.get(f"/evaluation/manage/{sid}").get_data(as_text=True)
    assert f"{base}/award_notice.pdf" in manage and "下载PDF" in manage
    regulator = _client(app, world.regulator)
    assert regulator.get(f"{base}/award_notice.pdf").mimetype == "application/pdf"
    for denied in (expert, stranger):
        assert denied.get(f"{base}/award_notice.pdf").status_code == 404
    assert bidder.get(f"{base}/award_notice.pdf").status_code == 403

    # the written report, once filed
    assert regulator.get(f"{base}/written_report.pdf").status_code == 404
    page = f"/evaluation/manage/{sid}"
    agent.post(
        f"{page}/written-report",
        data={
            "csrf_token": csrf_token(agent, page),
            "scope": "道路改造施工",
            "method_and_media": "公开招标；南通市公共资源交易平台",
            "documents_summary": "投标人须知、技术条款、经评审的最低投标价法、合同主要条款",
        },
    )
    resp = regulator.get(f"{base}/written_report.pdf")
    assert resp.status_code == 200
    written = printed.read(resp.data)
    assert "公开招标；南通市公共资源交易平台" in written.text and ev.written_report.sha256 in written.text
    assert stranger.get(f"{base}/written_report.pdf").status_code == 404
