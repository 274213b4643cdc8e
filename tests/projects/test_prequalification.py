"""Prequalification (资格预审, issue 18 item 3) end to end through the pages and the API: the statutory
periods (实施条例 Art. 16, 17) refused when short with their article; applications refused after the
deadline with the exact time; who applied secret before the deadline; review and result notices (Art. 19)
through the outbox; fewer than 3 qualified refuses the tender until a new round passes; then only the
qualified obtain the documents and bid."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import User
from app.core.clock import clock
from app.core.db import db
from app.core.errors import DomainError, Forbidden
from app.core.models import AuditLeaf, OutboxMessage
from app.core.permissions import OrgKind, Role
from app.projects import services
from app.projects.models import Section
from app.projects.prequal import services as prequal
from app.projects.prequal.models import PrequalApplication, Prequalification
from tests.factories import csrf_token, make_org, make_user
from tests.factories import login as _login
from tests.projects.conftest import World, cst, draft_section, terms


def _bidder(name: str) -> User:
    return make_user(Role.BIDDER, make_org(OrgKind.BIDDER, name=name))


def _section(world: World) -> Section:
    return draft_section(world, prequalification=True)


def _published_round(world: World, section: Section) -> Prequalification:
    pq = prequal.start_round(section, actor=world.agent)
    prequal.update_round(
        pq,
        actor=world.agent,
        notice_text="资格预审公告：南通市某道路改造工程一标段",
        docs_available_from=cst(2026, 3, 2, 9, 0),
        docs_available_until=cst(2026, 3, 7, 17, 0),
        application_deadline=cst(2026, 3, 12, 17, 0),
    )
    prequal.upload_document(
        pq, actor=world.agent, filename="预审文件.pdf", stream=io.BytesIO(b"%PDF prequal")
    )
    return prequal.publish_round(pq, actor=world.agent)


def login(client: FlaskClient, user: User) -> None:
    """Sign in as ``user``, signing out whoever was signed in."""
    if client.get("/workbench").status_code == 200:
        client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/workbench")})
    _login(client, user)


def _form(client: FlaskClient, page: str, **data: Any) -> dict[str, Any]:
    return {"csrf_token": csrf_token(client, page), **data}


def test_short_periods_are_refused_with_their_article(
    client: FlaskClient, world: World, app: Any, db_session: Any
) -> None:
    with app.test_request_context():
        section = _section(world)
        sid = section.id
    login(client, world.agent)
    # the section page leads to the prequalification; the tenderer opens a round there
    page = client.get(f"/projects/sections/{sid}").get_data(as_text=True)
    assert f"/prequal/sections/{sid}" in page
    start = client.get(f"/prequal/sections/{sid}")
    assert start.status_code == 200
    resp = client.post(f"/prequal/sections/{sid}/rounds", data=_form(client, f"/prequal/sections/{sid}"))
    assert resp.status_code == 302
    detail = resp.headers["Location"]

    def save_and_publish(until: str, deadline: str) -> str:
        client.post(
            f"{detail}/edit",
            data=_form(
                client,
                detail,
                notice_text="资格预审公告",
                docs_available_from="2026-03-02T09:00",
                docs_available_until=until,
                application_deadline=deadline,
                document=(io.BytesIO(b"%PDF prequal documents"), "预审文件.pdf"),
            ),
            content_type="multipart/form-data",
        )
        return client.post(f"{detail}/publish", data=_form(client, detail), follow_redirects=True).get_data(
            as_text=True
        )

    # sold 3 days only (03-02 → 03-05): 实施条例第16条
    body = save_and_publish("2026-03-05T17:00", "2026-03-12T17:00")
    assert "资格预审文件的发售期不得少于5日" in body and "招标投标法实施条例第16条" in body
    # sold 5 days, but applications due 3 days after the sale ends: 第17条, with the earliest lawful day
    body = save_and_publish("2026-03-07T17:00", "2026-03-10T17:00")
    assert "招标投标法实施条例第17条" in body and "2026-03-12" in body
    pq = db_session.scalar(select(Prequalification).where(Prequalification.section_id == sid))
    assert pq is not None and pq.status == "draft" and pq.published_at is None
    body = save_and_publish("2026-03-07T17:00", "2026-03-12T17:00")
    db_session.refresh(pq)
    assert pq.status == "published" and pq.document_sha256 is not None
    assert 'id="prequal-status">已发布' in body
    actions = db_session.scalars(select(AuditLeaf.action).where(AuditLeaf.object_type == "prequalification"))
    assert {"projects:prequal:create", "projects:prequal:update", "projects:prequal:publish"} <= set(actions)


def test_applications_are_secret_until_the_deadline_and_refused_after_it(
    client: FlaskClient, world: World, app: Any, db_session: Any
) -> None:
    from app.accounts import services as accounts

    with app.test_request_context():
        section = _section(world)
        pq = _published_round(world, section)
        alice, bob = _bidder("南通甲建设有限公司"), _bidder("南通乙建设有限公司")
        pid = pq.id
        as_alice = {"Authorization": f"Bearer {accounts.create_api_token(alice, name='ci').raw}"}
        as_agent = {"Authorization": f"Bearer {accounts.create_api_token(world.agent, name='ci').raw}"}
    clock.freeze(cst(2026, 3, 9, 10, 0))
    # Alice applies through the API, Bob through the page
    api = app.test_client()  # bearer tokens only, no signed-in session
    resp = api.post(
        f"/api/v1/prequal/{pid}/applications",
        data={"file": (io.BytesIO(b"alice application"), "申请文件.pdf")},
        content_type="multipart/form-data",
        headers=as_alice,
    )
    assert resp.status_code == 201, resp.json
    assert len(resp.json["sha256"]) == 64 and resp.json["result"] == "pending"
    login(client, bob)
    page = client.get(f"/prequal/{pid}").get_data(as_text=True)
    assert 'id="apply"' in page and "南通甲建设有限公司" not in page
    client.post(
        f"/prequal/{pid}/apply",
        data=_form(client, f"/prequal/{pid}", application_file=(io.BytesIO(b"bob application"), "bob.pdf")),
        content_type="multipart/form-data",
    )
    page = client.get(f"/prequal/{pid}").get_data(as_text=True)
    assert 'id="own-application"' in page and "南通甲建设有限公司" not in page
    # the notice is public on the portal, with its periods; who applied is not
    public = app.test_client().get("/portal/prequalification").get_data(as_text=True)
    assert f'id="prequal-{pid}"' in public and "资格预审公告：南通市某道路改造工程一标段" in public
    assert "南通甲建设有限公司" not in public and "南通乙建设有限公司" not in public
    # before the deadline nobody but each applicant learns who applied: not the tenderer, not staff
    for who in (world.agent, world.staff):
        login(client, who)
        page = client.get(f"/prequal/{pid}").get_data(as_text=True)
        assert "南通甲建设有限公司" not in page and "南通乙建设有限公司" not in page
        assert 'id="applicants-sealed"' in page
    assert api.get(f"/api/v1/prequal/{pid}/applications", headers=as_agent).json == []
    mine = api.get(f"/api/v1/prequal/{pid}/applications", headers=as_alice).json
    assert [a["applicant_name"] for a in mine] == ["南通甲建设有限公司"]
    # nor the audit log: the application leaves do not name the applicant
    leaves = db_session.scalars(select(AuditLeaf).where(AuditLeaf.action == "projects:prequal:apply")).all()
    assert len(leaves) == 2 and all("南通" not in str(leaf.payload) for leaf in leaves)
    assert all(prequal.application_leaf_sealed(leaf) for leaf in leaves)
    # one second after the deadline: refused with the exact time
    clock.freeze(cst(2026, 3, 12, 17, 0) + dt.timedelta(seconds=1))
    late = api.post(
        f"/api/v1/prequal/{pid}/applications",
        data={"file": (io.BytesIO(b"alice again"), "late.pdf")},
        content_type="multipart/form-data",
        headers=as_alice,
    )
    assert late.status_code == 409 and late.json["code"] == "applications_closed"
    assert "2026-03-12 17:00:00" in late.json["message"] and "2026-03-12 17:00:01" in late.json["message"]
    login(client, bob)
    page = client.get(f"/prequal/{pid}").get_data(as_text=True)
    assert 'id="apply"' not in page
    # after the deadline the tenderer's side sees who applied
    login(client, world.agent)
    page = client.get(f"/prequal/{pid}").get_data(as_text=True)
    assert "南通甲建设有限公司" in page and "南通乙建设有限公司" in page


def test_fewer_than_three_qualified_refuses_the_tender_until_a_new_round_passes(
    client: FlaskClient, world: World, app: Any, db_session: Any
) -> None:
    from app.accounts import services as accounts

    with app.test_request_context():
        section = _section(world)
        pq = _published_round(world, section)
        bidders = [_bidder(f"南通{n}建设有限公司") for n in "丙丁戊己"]
        clock.freeze(cst(2026, 3, 10, 10, 0))
        for b in bidders[:3]:
            prequal.apply(pq, actor=b, filename="a.pdf", stream=io.BytesIO(f"{b.id}".encode()))
        # reviewing before the deadline is refused
        with pytest.raises(DomainError):
            prequal.review(pq.applications[0], actor=world.agent, qualified=True, reason="")
        as_agent = {"Authorization": f"Bearer {accounts.create_api_token(world.agent, name='ci').raw}"}
        ids = [a.id for a in pq.applications]
        pid, sid = pq.id, section.id
    clock.freeze(cst(2026, 3, 13, 9, 0))
    # not qualified without a reason is refused; with one it is recorded (API)
    no_reason = client.post(
        f"/api/v1/prequal/applications/{ids[0]}/review", json={"qualified": False}, headers=as_agent
    )
    assert no_reason.status_code == 422 and "reason" in no_reason.json["errors"]
    assert (
        client.post(
            f"/api/v1/prequal/applications/{ids[0]}/review",
            json={"qualified": False, "reason": "资质等级不符合要求"},
            headers=as_agent,
        ).json["result"]
        == "not_qualified"
    )
    login(client, world.agent)
    for aid in ids[1:]:
        client.post(
            f"/prequal/applications/{aid}/review",
            data=_form(client, f"/prequal/{pid}", result="qualified", reason=""),
        )
    body = client.post(
        f"/prequal/{pid}/notify", data=_form(client, f"/prequal/{pid}"), follow_redirects=True
    ).get_data(as_text=True)
    assert "招标投标法实施条例第19条" in body
    db_session.refresh(pq)
    assert pq.status == "failed" and pq.qualified_count == 2
    # every applicant got its notice through the outbox, the refused one with the reason
    notices = db_session.scalars(
        select(OutboxMessage).where(OutboxMessage.subject.contains("资格预审结果通知书"))
    ).all()
    assert {m.user_id for m in notices} == {b.id for b in bidders[:3]}
    assert any("资质等级不符合要求" in m.body for m in notices if m.user_id == bidders[0].id)
    # the tender is refused: the prequalification must be redone
    with app.test_request_context():
        sec = db_session.get(Section, sid)
        services.update_section(
            sec,
            terms(
                world,
                prequalification=True,
                docs_available_from=cst(2026, 3, 16, 9, 0),
                docs_available_until=cst(2026, 3, 23, 17, 0),
                bid_deadline=cst(2026, 4, 7, 9, 30),
            ),
            actor=world.agent,
        )
        # the section cannot drop its prequalification to escape it
        with pytest.raises(DomainError) as dropped:
            services.update_section(sec, terms(world, prequalification=False), actor=world.agent)
        assert "prequalification" in dropped.value.errors
        with pytest.raises(DomainError) as refused:
            services.publish_section(sec, actor=world.agent)
        assert "prequalification" in refused.value.errors
        assert "招标投标法实施条例第19条" in refused.value.errors["prequalification"][0]
        # a new round: three qualify this time
        clock.freeze(cst(2026, 3, 2, 9, 0))
        second = _published_round(world, sec)
        assert second.round == 2
        clock.freeze(cst(2026, 3, 10, 10, 0))
        for b in bidders[1:]:
            prequal.apply(second, actor=b, filename="a.pdf", stream=io.BytesIO(b"again"))
        clock.freeze(cst(2026, 3, 13, 9, 0))
        for a in second.applications:
            prequal.review(a, actor=world.agent, qualified=True, reason="")
        prequal.notify_results(second, actor=world.agent)
        assert second.status == "passed" and second.qualified_count == 3
        services.publish_section(sec, actor=world.agent)
        assert sec.status == "published"
        # then only the qualified obtain the documents and bid
        clock.freeze(cst(2026, 3, 17, 10, 0))
        outsider = _bidder("南通庚建设有限公司")
        with pytest.raises(Forbidden) as denied:
            services.obtain_documents(sec, actor=outsider)
        assert "资格预审" in denied.value.message
        _row, created = services.obtain_documents(sec, actor=bidders[1])
        assert created
        from app.bidding.uploads import load_section_for_bidder

        with pytest.raises(Forbidden):
            load_section_for_bidder(sid, outsider)
        assert load_section_for_bidder(sid, bidders[2]).id == sid
    # through the page: the refused applicant of round 1 who did not apply again cannot obtain
    login(client, bidders[0])
    token = csrf_token(client, f"/projects/tenders/{sid}")
    body = client.post(
        f"/projects/tenders/{sid}/obtain", data={"csrf_token": token}, follow_redirects=True
    ).get_data(as_text=True)
    assert "仅通过资格预审的申请人可获取招标文件" in body


def test_roles_reach_the_right_pages(client: FlaskClient, world: World, app: Any) -> None:
    with app.test_request_context():
        section = _section(world)
        pq = _published_round(world, section)
        pid = pq.id
        other_agent = make_user(Role.TENDERER, make_org(OrgKind.AGENCY))
        bidder = _bidder("南通辛建设有限公司")
    login(client, bidder)
    assert client.get("/prequal/").status_code == 200
    assert "预审文件.pdf" in client.get(f"/prequal/{pid}").get_data(as_text=True)
    assert client.post(f"/prequal/{pid}/publish", data=_form(client, f"/prequal/{pid}")).status_code == 403
    login(client, other_agent)
    assert client.get(f"/prequal/{pid}").status_code == 404
    login(client, world.staff)
    page = client.get(f"/prequal/{pid}").get_data(as_text=True)
    assert "资格预审" in page and 'id="prequal-edit"' not in page
    login(client, world.agent)
    en = client.get(f"/prequal/{pid}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Prequalification" in en or "资格预审" in en
    download = client.get(f"/prequal/{pid}/document")
    assert download.headers["X-Content-SHA256"] == pq.document_sha256
    download.close()
    assert PrequalApplication.__tablename__ == "prequal_application"


def test_the_sale_period_counts_from_the_publication_not_from_a_date_already_past(
    world: World, app: Any
) -> None:
    """条例 Art. 16: the documents are on sale at least 5 日 — from when they can actually be obtained. A
    round drafted with a sale start already past (03-02) and published on 03-05 would sell for 2 days
    (→ 03-07): refused with the article, nothing published. Published once the sale lasts 5 days from the
    publication, its sale starts at the publication instant."""
    with app.test_request_context():
        section = _section(world)
        pq = prequal.start_round(section, actor=world.agent)
        prequal.upload_document(
            pq, actor=world.agent, filename="预审文件.pdf", stream=io.BytesIO(b"%PDF prequal")
        )

        def draft(until: dt.datetime, deadline: dt.datetime) -> None:
            prequal.update_round(
                pq,
                actor=world.agent,
                notice_text="资格预审公告",
                docs_available_from=cst(2026, 3, 2, 9, 0),
                docs_available_until=until,
                application_deadline=deadline,
            )

        clock.freeze(cst(2026, 3, 5, 10, 0))
        draft(cst(2026, 3, 7, 17, 0), cst(2026, 3, 12, 17, 0))
        with pytest.raises(DomainError) as err:
            prequal.publish_round(pq, actor=world.agent)
        assert "prequal_sale_period" in err.value.errors
        assert "第16条" in err.value.errors["prequal_sale_period"][0]
        assert "2026-03-05" in err.value.errors["prequal_sale_period"][0]
        assert pq.status == "draft" and pq.published_at is None

        draft(cst(2026, 3, 10, 17, 0), cst(2026, 3, 15, 17, 0))
        prequal.publish_round(pq, actor=world.agent)
        assert pq.status == "published"
        assert pq.docs_available_from == cst(2026, 3, 5, 10, 0)


def test_bidders_do_not_learn_how_many_qualified(
    client: FlaskClient, world: World, app: Any, db_session: Any
) -> None:
    """How many applicants qualified is how many potential bidders there are (招标投标法 Art. 22: their number
    stays confidential before the opening): each applicant learns its own result, never the count. The
    tenderer's side that reviewed, and the center staff, still see it."""
    from app.accounts import services as accounts

    with app.test_request_context():
        section = _section(world)
        pq = _published_round(world, section)
        bidders = [_bidder(f"南通{n}建设有限公司") for n in "壬癸子丑"]
        clock.freeze(cst(2026, 3, 10, 10, 0))
        for b in bidders:
            prequal.apply(pq, actor=b, filename="a.pdf", stream=io.BytesIO(f"{b.id}".encode()))
        clock.freeze(cst(2026, 3, 13, 9, 0))
        for a in pq.applications:
            prequal.review(a, actor=world.agent, qualified=True, reason="")
        prequal.notify_results(pq, actor=world.agent)
        assert pq.status == "passed" and pq.qualified_count == 4
        outsider = _bidder("南通寅建设有限公司")
        tokens = {
            u.id: {"Authorization": f"Bearer {accounts.create_api_token(u, name='ci').raw}"}
            for u in (bidders[0], outsider, world.agent, world.staff)
        }
        pid = pq.id
    api = app.test_client()
    for bidder in (bidders[0], outsider):
        got = api.get(f"/api/v1/prequal/{pid}", headers=tokens[bidder.id])
        assert got.status_code == 200 and got.json["status"] == "passed"
        assert got.json["qualified_count"] is None, bidder.username
        login(client, bidder)
        page = client.get(f"/prequal/{pid}").get_data(as_text=True)
        assert 'id="prequal-result"' in page and "家申请人通过资格预审" not in page
    for side in (world.agent, world.staff):
        assert api.get(f"/api/v1/prequal/{pid}", headers=tokens[side.id]).json["qualified_count"] == 4
        login(client, side)
        page = client.get(f"/prequal/{pid}").get_data(as_text=True)
        assert "4 家申请人通过资格预审" in page


def test_an_objection_to_the_prequalification_documents_holds_the_round_until_answered(
    world: World, app: Any, db_session: Any
) -> None:
    """条例 Art. 22: an objection to the prequalification documents is raised at least 2 日 before the
    application deadline (Thu 03-12 17:00: the last day is Tue 03-10) and the procedure waits for the answer:
    no application, review or result meanwhile; the deadline then moves by at least the time suspended and
    the applicants are told. An objection to the bidding documents, not published yet, is refused, and so is
    a late one, which suspends nothing."""
    from app.complaints import services as complaints
    from app.complaints.enums import CaseKind
    from app.core.errors import Conflict
    from tests.complaints.conftest import CONTENT

    with app.test_request_context():
        section = _section(world)
        pq = _published_round(world, section)
        alice, bob = _bidder("南通甲建设有限公司"), _bidder("南通乙建设有限公司")
        clock.freeze(cst(2026, 3, 9, 10, 0))
        prequal.apply(pq, actor=alice, filename="申请文件.pdf", stream=io.BytesIO(b"alice"))

        def objection(matter: str) -> Any:
            draft = complaints.save_draft(
                CaseKind.OBJECTION,
                complaints.CaseInput(section_id=section.id, matter=matter, content=dict(CONTENT)),
                actor=bob,
            )
            return complaints.submit_objection(draft, actor=bob)

        clock.freeze(cst(2026, 3, 10, 20, 0))
        with pytest.raises(DomainError) as refused:
            objection("documents")
        assert "资格预审文件" in refused.value.message and not section.suspended
        case = objection("prequal")
        assert section.suspended and case.suspended_section and case.number
        with pytest.raises(Conflict):
            prequal.apply(pq, actor=bob, filename="申请文件.pdf", stream=io.BytesIO(b"bob"))

        clock.freeze(cst(2026, 3, 11, 10, 0))  # answered 14 hours later
        complaints.answer_objection(case, actor=world.agent, answer="资格条件与项目相适应，异议不成立。")
        assert not section.suspended
        assert pq.application_deadline == cst(2026, 3, 13, 17, 0)  # + 14 h, at 17:00 on a working day
        assert pq.docs_available_until == cst(2026, 3, 7, 17, 0)  # the sale had ended: unchanged
        told = db_session.scalars(
            select(OutboxMessage.body).where(
                OutboxMessage.user_id == alice.id, OutboxMessage.channel == "inbox"
            )
        ).all()
        assert any("2026-03-13 17:00" in body for body in told)
        prequal.apply(pq, actor=bob, filename="申请文件.pdf", stream=io.BytesIO(b"bob"))

        clock.freeze(cst(2026, 3, 12, 10, 0))  # the moved deadline's window closed at the end of 03-11
        with pytest.raises(DomainError) as late:
            objection("prequal")
        assert late.value.code == "out_of_time" and "2026-03-12 00:00" in late.value.message
        assert not section.suspended


def test_a_bidder_objects_to_the_prequalification_documents_from_the_round_page(
    client: FlaskClient, world: World, app: Any
) -> None:
    """The round page says how long objections are open and links the objection form with the section
    chosen (a draft section, known to the public through its prequalification); the objection suspends the
    round and the page says so."""
    from tests.complaints.conftest import CONTENT

    with app.test_request_context():
        section = _section(world)
        pq = _published_round(world, section)
        pid, sid = pq.id, section.id
        bidder = _bidder("南通壬建设有限公司")
    clock.freeze(cst(2026, 3, 9, 10, 0))
    login(client, bidder)
    page = client.get(f"/prequal/{pid}").get_data(as_text=True)
    assert "截止时间2日前提出" in page and f"/complaints/new/objection?section={sid}" in page
    form_url = f"/complaints/new/objection?section={sid}"
    form = client.get(form_url).get_data(as_text=True)
    assert f'value="{sid}" selected' in form and 'value="prequal"' in form
    resp = client.post(
        "/complaints/new/objection",
        data={
            **CONTENT,
            "section_id": str(sid),
            "matter": "prequal",
            "action": "submit",
            "csrf_token": csrf_token(client, form_url),
        },
        follow_redirects=True,
    )
    assert resp.status_code == 200
    db_section = db.session.get(Section, sid)
    assert db_section is not None and db_section.suspended
    assert 'id="prequal-suspended"' in client.get(f"/prequal/{pid}").get_data(as_text=True)


def test_before_the_deadline_the_review_api_does_not_tell_which_applications_exist(
    world: World, app: Any, db_session: Any
) -> None:
    """Who applied, and how many, is secret until the deadline (法 Art. 22): the page answers 404 to a
    review of an application before it, so the API does too — a 409 "reviewed after the deadline" for the
    ids that exist, and a 404 for the others, would count the applicants."""
    from app.accounts import services as accounts

    with app.test_request_context():
        section = _section(world)
        pq = _published_round(world, section)
        alice = _bidder("南通甲建设有限公司")
        as_agent = {"Authorization": f"Bearer {accounts.create_api_token(world.agent, name='ci').raw}"}
    clock.freeze(cst(2026, 3, 9, 10, 0))
    row = prequal.apply(pq, actor=alice, filename="申请文件.pdf", stream=io.BytesIO(b"alice application"))
    leaves = len(db_session.scalars(select(AuditLeaf)).all())
    api = app.test_client()
    existing = api.post(
        f"/api/v1/prequal/applications/{row.id}/review", json={"qualified": True}, headers=as_agent
    )
    missing = api.post(
        f"/api/v1/prequal/applications/{row.id + 1000}/review", json={"qualified": True}, headers=as_agent
    )
    assert existing.status_code == missing.status_code == 404
    assert existing.json["message"] == missing.json["message"]
    db_session.refresh(row)
    assert row.result == "pending" and row.reviewed_at is None
    assert len(db_session.scalars(select(AuditLeaf)).all()) == leaves
