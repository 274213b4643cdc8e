"""The pages: object-level 404s, drafts that survive validation errors, the public report and tracking
pages (identity never revealed by the code), the desk and the published decisions."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.complaints import routing, services
from app.complaints.enums import Matter
from app.complaints.models import Case, Report
from app.core.clock import clock, security_clock
from app.core.db import db
from app.core.errors import DomainError
from tests.factories import csrf_token, login, make_user

from .conftest import CONTENT, World, cst
from .test_cases import complaint_draft, filed_gp_complaint, objection


def test_other_parties_get_404(client: FlaskClient, world: World) -> None:
    case = objection(world)
    login(client, world.bidder2)
    assert client.get(f"/complaints/cases/{case.id}").status_code == 404
    assert (
        client.post(
            f"/complaints/cases/{case.id}/withdraw", data={"csrf_token": csrf_token(client, "/complaints/")}
        ).status_code
        == 404
    )
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/complaints/")})
    other_tenderer = make_user("tenderer")
    login(client, other_tenderer)
    assert client.get(f"/complaints/cases/{case.id}").status_code == 404


def test_filer_and_respondent_see_the_case(client: FlaskClient, world: World) -> None:
    case = objection(world)
    login(client, world.tenderer)
    page = client.get(f"/complaints/cases/{case.id}").get_data(as_text=True)
    assert case.number in page and 'id="answer-objection"' in page
    token = csrf_token(client, f"/complaints/cases/{case.id}")
    resp = client.post(
        f"/complaints/cases/{case.id}/answer-objection", data={"answer": "不成立", "csrf_token": token}
    )
    assert resp.status_code == 302 and case.status == "answered" and not world.section.suspended


def test_a_draft_survives_a_validation_error(client: FlaskClient, world: World, db_session: Any) -> None:
    login(client, world.bidder)
    token = csrf_token(client, "/complaints/new/complaint")
    data = {
        **CONTENT,
        "section_id": str(world.section.id),
        "matter": "documents",
        "knew_at": "2026-03-02T09:00",
        "action": "submit",
        "csrf_token": token,
    }
    resp = client.post("/complaints/new/complaint", data=data)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "条例第60条" in html
    assert "Your draft is saved." in html or "草稿已保存" in html
    draft = db_session.scalar(select(Case).where(Case.filer_id == world.bidder.id))
    assert draft is not None and draft.status == "draft" and draft.facts == CONTENT["facts"]
    # missing fields are listed one by one
    token = csrf_token(client, f"/complaints/drafts/{draft.id}")
    resp = client.post(
        f"/complaints/drafts/{draft.id}",
        data={**data, "matter": "other", "evidence": "", "respondent_contact": "", "csrf_token": token},
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    # each missing field is named in words (never its code)
    errors = html[html.index('id="form-error"') : html.index("</div>", html.index('id="form-error"'))]
    assert "<strong>证据材料</strong>" in errors and "<strong>被投诉人联系方式</strong>" in errors
    assert "evidence" not in errors and "respondent_contact" not in errors


def test_objection_form_warns_that_filing_suspends_the_tender(client: FlaskClient, world: World) -> None:
    login(client, world.bidder)
    page = client.get("/complaints/new/objection").get_data(as_text=True)
    assert 'id="suspension-warning"' in page and "暂停" in page
    token = csrf_token(client, "/complaints/new/objection")
    data = {**CONTENT, "section_id": str(world.section.id), "matter": "documents", "action": "submit"}
    resp = client.post("/complaints/new/objection", data={**data, "csrf_token": token}, follow_redirects=True)
    assert resp.status_code == 200 and world.section.suspended
    assert "在您的异议得到答复前，招标投标活动已暂停。" in resp.get_data(as_text=True)


def test_anonymous_report_tracking_never_reveals_identity(
    client: FlaskClient, world: World, db_session: Any
) -> None:
    token = csrf_token(client, "/complaints/report")
    resp = client.post(
        "/complaints/report",
        data={
            "subject": "评标专家收受好处",
            "facts": "评标前私下接触。",
            "reporter_name": "王先生",
            "reporter_contact": "13900000000",
            "csrf_token": token,
        },
    )
    assert resp.status_code == 200
    found = re.search(r'id="tracking-code">([^<]+)<', resp.get_data(as_text=True))
    assert found is not None
    code = found.group(1)
    report = db_session.scalar(select(Report))
    assert len(code) >= 24 and report.tracking_hash != code and code not in str(report.__dict__)
    assert report.reporter_name == "王先生"

    token = csrf_token(client, "/complaints/track")
    page = client.post("/complaints/track", data={"code": code, "csrf_token": token}).get_data(as_text=True)
    assert "评标专家收受好处" in page and "王先生" not in page and "13900000000" not in page
    typo = code[:-1] + ("x" if code[-1] != "x" else "y")  # never the code itself
    wrong = client.post("/complaints/track", data={"code": typo, "csrf_token": token})
    assert wrong.status_code == 404

    # identity: the handling department only
    routing.forward(report, actor=world.manager, to_org=world.housing)
    login(client, world.manager)  # the office coordinates but no longer handles it
    page = client.get(f"/complaints/cases/{report.id}").get_data(as_text=True)
    assert "王先生" not in page
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/complaints/board")})
    login(client, world.regulator)
    page = client.get(f"/complaints/cases/{report.id}").get_data(as_text=True)
    assert "王先生" in page
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/complaints/desk")})
    login(client, world.regulator2)
    assert client.get(f"/complaints/cases/{report.id}").status_code == 404


def test_desk_shows_due_dates_and_overdue(client: FlaskClient, world: World) -> None:
    case = complaint_draft(world, matter=Matter.OTHER)
    services.submit_complaint(case, actor=world.bidder)
    clock.freeze(cst(2026, 3, 6, 9))  # accept due 24:00 Thu 03-05
    login(client, world.regulator)
    html = client.get("/complaints/desk").get_data(as_text=True)
    assert case.number in html and 'id="overdue-count">1<' in html and "2026-03-06 00:00" in html


def test_deciding_needs_step_up_and_the_decision_is_published_redacted(
    client: FlaskClient, world: World
) -> None:
    case = complaint_draft(world, matter=Matter.OTHER)
    services.submit_complaint(case, actor=world.bidder)
    services.accept_complaint(case, actor=world.regulator)
    login(client, world.regulator)
    security_clock.advance(dt.timedelta(minutes=10))  # signing in counts as a step-up for a few minutes
    token = csrf_token(client, f"/complaints/cases/{case.id}")
    resp = client.post(
        f"/complaints/cases/{case.id}/decide",
        data={"outcome": "rejected", "decision": "x", "csrf_token": token},
    )
    assert resp.status_code == 302 and "/auth/step-up" in resp.headers["Location"]
    services.decide_complaint(
        case,
        services.DecisionInput(upheld=False, decision="驳回。投诉人电话13800000000。"),
        actor=world.regulator,
    )
    services.publish_decision(case, actor=world.regulator)
    html = client.get("/complaints/decisions").get_data(as_text=True)
    assert case.number in html and "13800000000" not in html and "[手机号]" in html
    assert CONTENT["complainant_address"] not in html


def test_every_page_renders_for_its_audience(app: Any, world: World) -> None:
    obj = objection(world)
    comp = complaint_draft(world, matter=Matter.OTHER)
    services.submit_complaint(comp, actor=world.bidder)
    services.accept_complaint(comp, actor=world.regulator)
    services.post_message(comp, actor=world.bidder, body="补充说明")
    rep, _code = services.file_report(services.ReportInput(subject="s", facts="f"))
    routing.assign(rep, actor=world.manager, primary=world.manager, backup=world.manager2)
    pages = {
        world.bidder: [
            "/complaints/",
            f"/complaints/cases/{obj.id}",
            f"/complaints/cases/{comp.id}",
            "/complaints/new/objection",
            "/complaints/new/complaint",
        ],
        world.tenderer: ["/complaints/", f"/complaints/cases/{obj.id}", f"/complaints/cases/{comp.id}"],
        world.regulator: [
            "/complaints/desk",
            "/complaints/board",
            f"/complaints/cases/{comp.id}",
            f"/complaints/cases/{obj.id}",
        ],
        world.manager: ["/complaints/board", f"/complaints/cases/{rep.id}", f"/complaints/cases/{comp.id}"],
    }
    for user, urls in pages.items():
        client = app.test_client()
        login(client, user)
        for url in urls:
            resp = client.get(url)
            assert resp.status_code == 200, (user.role, url, resp.status_code)
    public = app.test_client()
    for url in ("/complaints/report", "/complaints/track", "/complaints/decisions"):
        assert public.get(url).status_code == 200


def test_anonymous_report_filing_is_rate_limited_per_address(
    app: Any, client: FlaskClient, world: World
) -> None:
    """ASVS 2.4.1: the one unauthenticated write of the platform cannot be flooded from one address. The
    counter is shared by all workers and keyed: it holds no address."""
    from sqlalchemy import select

    from app.core.models import AuditLeaf, Throttle

    app.config["REPORT_RATE_LIMIT"] = "2 per hour"
    try:
        codes = []
        for _ in range(3):
            token = csrf_token(client, "/complaints/report")
            data = {
                "subject": "围标串标",
                "facts": "同一IP投标。",
                "anonymous": "1",
                "csrf_token": token,
            }
            resp = client.post("/complaints/report", data=data, environ_base={"REMOTE_ADDR": "203.0.113.50"})
            codes.append(resp.status_code)
    finally:
        app.config.pop("REPORT_RATE_LIMIT", None)
    assert codes == [200, 200, 429]
    # nothing the platform keeps links the anonymous reports to their sender
    leaves = db.session.scalars(select(AuditLeaf).where(AuditLeaf.object_type == "complaint_case")).all()
    assert leaves and all(leaf.source_ip is None for leaf in leaves)
    assert all("203.0.113.50" not in leaf.payload for leaf in leaves)
    assert all("203.0.113.50" not in row.key for row in db.session.scalars(select(Throttle)))


def test_case_page_names_the_first_receiver_and_shows_supervision_notices(
    client: FlaskClient, world: World
) -> None:
    """首问 stays visible after a report moves on (the new department's receiver is shown beside it), and a
    督办 notice appears in the history read by the office that supervises the case."""
    from .test_routing import report

    case, _code = report(world)
    routing.forward(case, actor=world.manager, to_org=world.housing)  # forwarding receives it first
    routing.supervise(case, actor=world.manager2, note="请加快办理")
    db.session.commit()
    login(client, world.manager2)
    page = client.get(f"/complaints/cases/{case.id}").get_data(as_text=True)
    first = re.search(r'id="case-first-receipt">([^<]*)<', page)
    assert first and world.manager.display_name in first.group(1) and world.office.name in first.group(1)
    owner = re.search(r'id="case-owner">([^<]*)<', page)
    assert owner and owner.group(1) == "尚未接收"
    assert "督办" in page and "请加快办理" in page


def test_a_works_complaint_page_does_not_stop_the_clock_for_fixing_defects(
    client: FlaskClient, world: World
) -> None:
    """条例 Art. 61: the page offers testing, appraisal and expert review only; a crafted 补正 pause is
    refused in Chinese and the decision clock keeps running."""
    case = complaint_draft(world, matter=Matter.OTHER)
    services.submit_complaint(case, actor=world.bidder)
    services.accept_complaint(case, actor=world.regulator)
    db.session.commit()
    due = case.due_at
    login(client, world.regulator)
    page = f"/complaints/cases/{case.id}"
    html = client.get(page).get_data(as_text=True)
    assert 'value="expert_review"' in html and 'value="defect_fix"' not in html
    resp = client.post(
        f"{page}/complaint/pause",
        data={"reason": "defect_fix", "csrf_token": csrf_token(client, page)},
        follow_redirects=True,
    )
    body = resp.get_data(as_text=True)
    assert "补正材料所需时间计入" in body and "招标投标法实施条例第61条" in body
    db.session.refresh(case)
    assert not case.pauses and case.due_at == due


def test_a_report_refused_for_too_many_reports_keeps_what_was_typed(
    app: Any, client: FlaskClient, world: World
) -> None:
    """Someone who hits the filing limit is told when to come back and finds the report as typed, to send it
    later, instead of an empty form."""
    app.config["REPORT_RATE_LIMIT"] = "1 per hour"
    try:
        data = {"subject": "评标专家收受好处", "facts": "开标当晚有人在酒店宴请评标专家。", "anonymous": ""}
        statuses = []
        for _ in range(2):
            form = data | {"reporter_name": "王先生", "csrf_token": csrf_token(client, "/complaints/report")}
            resp = client.post("/complaints/report", data=form, environ_base={"REMOTE_ADDR": "203.0.113.51"})
            statuses.append(resp.status_code)
    finally:
        app.config.pop("REPORT_RATE_LIMIT", None)
    assert statuses == [200, 429]
    html = resp.get_data(as_text=True)
    assert 'id="form-error"' in html
    assert 'value="评标专家收受好处"' in html
    assert "开标当晚有人在酒店宴请评标专家。</textarea>" in html
    assert 'value="王先生"' in html
    assert 'id="anonymous" checked' not in html


def test_a_date_before_the_calendar_begins_is_refused_not_a_server_error(
    app: Any, client: FlaskClient, world: World, db_session: Any
) -> None:
    """A mistyped year (0001-01-01 00:00 Beijing time is before the first UTC instant Python knows) is an
    unreadable date, like any other: the draft is kept and the filer is asked for the date, never a 500.
    The same reading serves the validity extension and the listing forms."""
    from app.auctions.views import _moment
    from app.core.clock import parse_local

    login(client, world.bidder)
    data = {**CONTENT, "section_id": str(world.section.id), "matter": "documents", "action": "submit"}
    token = csrf_token(client, "/complaints/new/objection")
    resp = client.post(
        "/complaints/new/objection",
        data={**data, "knew_at": "0001-01-01T00:00", "csrf_token": token},
        follow_redirects=True,
    )
    assert resp.status_code in (200, 422)
    assert CONTENT["facts"] in resp.get_data(as_text=True)
    assert parse_local("0001-01-01T00:00") is None
    form = {"starts_at": "0001-01-01T07:59"}
    with app.test_request_context(method="POST", data=form), pytest.raises(DomainError) as refused:
        _moment("starts_at")
    assert refused.value.errors == {"starts_at": ["请输入日期和时间。"]}


def test_assigning_with_a_due_day_past_the_calendar_asks_for_a_date(
    client: FlaskClient, world: World, db_session: Any
) -> None:
    """交办 with a mistyped due day (9999-12-31: its end is past the last instant Python knows) is refused
    with "give a date", like any unreadable day, never a 500."""
    from .test_routing import report

    case, _code = report(world)
    db.session.commit()
    login(client, world.manager)
    page = f"/complaints/cases/{case.id}"
    resp = client.post(
        f"{page}/assign",
        data={
            "primary": str(world.manager.id),
            "backup": str(world.manager2.id),
            "due_on": "9999-12-31",
            "csrf_token": csrf_token(client, page),
        },
        follow_redirects=True,
    )
    assert resp.status_code == 200
    assert "请填写日期。" in resp.get_data(as_text=True)


def test_a_procurement_complaint_page_shows_when_the_suspension_must_end(
    client: FlaskClient, world: World
) -> None:
    """政府采购法 Art. 57: the regulator is told on the form that a suspension lasts at most 30 days, and the
    case then shows the latest day the procurement may stay suspended; past it, that the limit has passed."""
    case = filed_gp_complaint(world, at=cst(2026, 3, 4, 10))
    services.accept_complaint(case, actor=world.regulator2)
    db.session.commit()
    login(client, world.regulator2)
    page = f"/complaints/cases/{case.id}"
    html = client.get(page).get_data(as_text=True)
    assert "最长不得超过三十日" in html and 'id="suspension-limit"' not in html
    clock.freeze(cst(2026, 3, 9, 10))
    resp = client.post(
        f"{page}/complaint/investigate",
        data={"suspend": "1", "csrf_token": csrf_token(client, page)},
        follow_redirects=True,
    )
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    limit = re.search(r'id="suspension-limit">([^<]+)<', html)
    # 30 日 from 03-10 (the day of the suspension not counted): Wed 04-08, 24:00
    assert limit is not None and limit.group(1).startswith("2026-04-09 00:00")
    assert "已超期" not in html
    clock.freeze(cst(2026, 4, 9, 8))
    assert "已超期" in client.get(page).get_data(as_text=True)


def test_the_procurement_case_page_shows_the_respondents_explanation_due(
    client: FlaskClient, world: World
) -> None:
    case = filed_gp_complaint(world, at=cst(2026, 3, 5, 10))
    services.accept_complaint(case, actor=world.regulator2)
    db.session.commit()
    login(client, world.tenderer)
    page = f"/complaints/cases/{case.id}"
    due = re.search(r'id="explanation-due">([^<]+)<span class="badge warn">([^<]+)<', client.get(page).text)
    assert due is not None and due.group(1).startswith("2026-03-13 00:00") and due.group(2) == "待说明"
    services.post_message(case, actor=world.tenderer, body="书面说明：评审程序合法，附评审报告。")
    db.session.commit()
    assert "已收到说明" in client.get(page).text
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, page)})
    login(client, world.regulator2)
    assert "已收到说明" in client.get(page).text and "已向被投诉人送达投诉书副本" in client.get(page).text


def test_a_report_made_with_a_password_alone_is_not_filed_in_the_accounts_name(
    client: FlaskClient, world: World, db_session: Any
) -> None:
    """A session past the password but not the second factor is not yet its account: a named report made
    from it is a member of the public's (no account on the case), like a report made signed out."""
    official = make_user("center_staff")  # a role that must pass the second factor
    login(client, official, mfa=False)
    token = csrf_token(client, "/complaints/report")
    resp = client.post(
        "/complaints/report",
        data={
            "subject": "评标专家收受好处",
            "facts": "评标前私下接触。",
            "reporter_name": "王先生",
            "reporter_contact": "13900000000",
            "csrf_token": token,
        },
    )
    assert resp.status_code == 200
    report = db_session.scalar(select(Report))
    assert report is not None and report.filer_id is None
