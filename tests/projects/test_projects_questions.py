"""Questions on the tender documents (答疑): only bidders that obtained the documents ask, before the
questions close; the tenderer answers with a clarification to every obtainer (re-running the 15-day rule);
nobody but the asker learns who asked — not the tenderer's pages, not the audit pages; government
procurement enquiries are due within 3 working days."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from app.core.clock import clock
from app.core.errors import Conflict, DomainError, Forbidden
from app.core.models import AuditLeaf, OutboxMessage
from app.core.permissions import OrgKind, Role
from app.projects import services
from app.projects.models import Section, SectionQuestion
from tests.factories import csrf_token, login, make_org, make_user
from tests.projects.conftest import World, cst, draft_section


@pytest.fixture
def published(app: Any, world: World) -> Any:
    with app.test_request_context():
        section = draft_section(
            world
        )  # deadline Mon 23 Mar 2026 09:30; works: questions close 10 days before
        services.publish_section(section, actor=world.agent)
        yield section


def _bidder_with_documents(section: Section, name: str | None = None) -> Any:
    bidder = make_user(Role.BIDDER, make_org(OrgKind.BIDDER, name=name))
    services.obtain_documents(section, actor=bidder)
    return bidder


def test_only_a_bidder_that_obtained_the_documents_asks(app: Any, world: World, published: Section) -> None:
    with app.test_request_context():
        outsider = make_user(Role.BIDDER)
        with pytest.raises(Forbidden):
            services.ask_question(published, actor=outsider, body="工期是否可以调整？")
        with pytest.raises(Forbidden):
            services.ask_question(published, actor=world.tenderer, body="工期是否可以调整？")
        bidder = _bidder_with_documents(published)
        with pytest.raises(DomainError):
            services.ask_question(published, actor=bidder, body="  ?  ")  # too short
        first = services.ask_question(published, actor=bidder, body="工期是否可以调整？")
        second = services.ask_question(published, actor=bidder, body="清单第3章的单位是否有误？")
    assert (first.number, second.number) == (1, 2)
    assert first.status == "asked" and first.answer_due_at is None  # works: no statutory answer time


def test_questions_close_ten_days_before_the_deadline_for_works(
    app: Any, world: World, published: Section
) -> None:
    with app.test_request_context():
        bidder = _bidder_with_documents(published)
        assert services.questions_close_on(published).isoformat() == "2026-03-13"
        clock.freeze(cst(2026, 3, 13, 23, 0))  # the last day, late in the evening: still in time
        services.ask_question(published, actor=bidder, body="投标保证金的形式？")
        clock.freeze(cst(2026, 3, 14, 0, 5))  # the next day: 9 days left
        with pytest.raises(Conflict) as refused:
            services.ask_question(published, actor=bidder, body="还能提问吗？")
    assert refused.value.code == "questions_closed"
    assert "2026-03-13" in refused.value.message and "实施条例第22条" in refused.value.message


def test_the_answer_is_a_clarification_to_every_obtainer_and_moves_a_short_deadline(
    app: Any, world: World, published: Section, db_session: Any
) -> None:
    with app.test_request_context():
        asker = _bidder_with_documents(published)
        other = _bidder_with_documents(published)
        q1 = services.ask_question(published, actor=asker, body="工期是否可以调整？")
        q2 = services.ask_question(published, actor=other, body="清单第3章的单位是否有误？")
        clock.freeze(cst(2026, 3, 12, 10, 0))  # 11 days left: an answer affecting bids moves the deadline
        with pytest.raises(Forbidden):
            services.answer_questions(
                published,
                actor=make_user(Role.TENDERER),
                question_ids=[q1.id],
                answer="否",
                affects_bids=False,
            )
        amendment = services.answer_questions(
            published,
            actor=world.agent,
            question_ids=[q1.id, q2.id],
            answer="工期不变；单位更正为米。",
            affects_bids=True,
        )
        with pytest.raises(Conflict):
            services.answer_questions(
                published, actor=world.agent, question_ids=[q1.id], answer="再答", affects_bids=False
            )
    assert amendment.number == 1 and "工期是否可以调整" in amendment.body and "单位更正为米" in amendment.body
    assert amendment.new_deadline == cst(2026, 3, 27, 9, 30)  # 12 Mar + 15 days, a Friday
    assert published.bid_deadline == cst(2026, 3, 27, 9, 30)
    assert {q.status for q in (q1, q2)} == {"answered"} and q1.amendment_id == amendment.id
    told = db_session.scalars(
        select(OutboxMessage.user_id).where(
            OutboxMessage.channel == "inbox", OutboxMessage.subject.contains(published.code)
        )
    ).all()
    assert {asker.id, other.id} <= set(told)  # every obtainer, not only the askers


def test_government_procurement_enquiries_are_due_in_three_working_days(
    app: Any, world: World, db_session: Any
) -> None:
    with app.test_request_context():
        gp_item = next(i for i in world.catalogue.items if i.category == "government_procurement")
        world.project.catalogue_item_id = gp_item.id
        db_session.flush()
        section = draft_section(world, bid_deadline=cst(2026, 3, 30, 9, 30))
        services.publish_section(section, actor=world.agent)
        bidder = _bidder_with_documents(section)
        clock.freeze(cst(2026, 3, 6, 10, 0))  # a Friday
        question = services.ask_question(section, actor=bidder, body="采购需求中的参数是否可以偏离？")
        # Mon 9, Tue 10, Wed 11 March: due by the end of Wednesday (24:00 CST)
        assert question.answer_due_at == cst(2026, 3, 12, 0, 0)
        assert not services.is_overdue(question)
        clock.freeze(cst(2026, 3, 12, 0, 1))
        assert services.is_overdue(question)
        # questions close when fewer than 3 working days remain before the deadline (Mon 30 March)
        assert services.questions_close_on(section).isoformat() == "2026-03-24"


def test_pages_hide_who_asked_from_the_tenderer_and_the_audit_log(
    client: Any, app: Any, world: World, published: Section, db_session: Any
) -> None:
    with app.test_request_context():
        bidder = _bidder_with_documents(published, name="南通问询建设有限公司")
    login(client, bidder)
    page = client.get(f"/projects/tenders/{published.id}").get_data(as_text=True)
    assert 'id="ask-question"' in page and "提问截止至 2026-03-13" in page
    resp = client.post(
        f"/projects/tenders/{published.id}/questions",
        data={
            "csrf_token": csrf_token(client, f"/projects/tenders/{published.id}"),
            "body": "投标文件需要几份副本？",
        },
    )
    assert resp.status_code == 302
    page = client.get(f"/projects/tenders/{published.id}").get_data(as_text=True)
    assert "投标文件需要几份副本？" in page and "等待答复" in page
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/workbench")})

    question = db_session.scalar(select(SectionQuestion).where(SectionQuestion.section_id == published.id))
    login(client, world.agent)
    page = client.get(f"/projects/sections/{published.id}").get_data(as_text=True)
    assert "投标文件需要几份副本？" in page
    assert bidder.organization.name not in page and bidder.display_name not in page
    resp = client.post(
        f"/projects/sections/{published.id}/questions/answer",
        data={
            "csrf_token": csrf_token(client, f"/projects/sections/{published.id}"),
            "questions": [str(question.id)],
            "answer": "正本一份，副本四份。",
        },
    )
    assert resp.status_code == 302
    page = client.get(f"/projects/sections/{published.id}").get_data(as_text=True)
    assert "已在第 1 号澄清中答复" in page and "正本一份，副本四份。" in page
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/workbench")})

    # the audit log keeps the leaf (verifiable) but its pages never name the asker
    leaf = db_session.scalar(select(AuditLeaf).where(AuditLeaf.action == "projects:question:ask"))
    assert leaf is not None and leaf.actor_id == bidder.id
    login(client, world.regulator)
    log = client.get("/audit/").get_data(as_text=True)
    assert bidder.organization.name not in log and bidder.display_name not in log
    assert not re.search(rf"\b{bidder.username}\b", log)
    # another bidder reads the published clarification, but not the question list, and gets no form (it did
    # not obtain the documents)
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/workbench")})
    login(client, make_user(Role.BIDDER))
    page = client.get(f"/projects/tenders/{published.id}").get_data(as_text=True)
    assert 'id="ask-question"' not in page
    assert "问题 1：投标文件需要几份副本？" in page and 'id="question-1"' not in page
    resp = client.post(
        f"/projects/tenders/{published.id}/questions",
        data={"csrf_token": csrf_token(client, f"/projects/tenders/{published.id}"), "body": "我能提问吗？"},
    )
    assert resp.status_code == 302
    assert db_session.scalar(select(SectionQuestion).where(SectionQuestion.body == "我能提问吗？")) is None


def test_the_api_asks_lists_and_answers_without_naming_the_asker(
    client: Any, app: Any, world: World, published: Section
) -> None:
    from app.accounts import services as accounts

    with app.test_request_context():
        bidder = _bidder_with_documents(published, name="南通接口建设有限公司")
    as_bidder = {"Authorization": f"Bearer {accounts.create_api_token(bidder, name='ci').raw}"}
    as_agent = {"Authorization": f"Bearer {accounts.create_api_token(world.agent, name='ci').raw}"}
    url = f"/api/v1/projects/tenders/{published.id}/questions"
    bad = client.post(url, json={"body": "短", "who": "x"}, headers=as_bidder)
    assert bad.status_code == 422 and {"body", "who"} <= set(bad.json["errors"]["json"])
    asked = client.post(url, json={"body": "是否接受联合体投标？"}, headers=as_bidder)
    assert asked.status_code == 201 and asked.json["number"] == 1 and asked.json["status"] == "asked"
    assert client.get(url, headers=as_bidder).json[0]["body"] == "是否接受联合体投标？"
    assert client.post(url, json={"body": "招标人也能提问吗？"}, headers=as_agent).status_code == 403

    listed = client.get(f"/api/v1/projects/sections/{published.id}/questions", headers=as_agent)
    assert listed.status_code == 200 and [q["number"] for q in listed.json] == [1]
    assert "南通接口建设有限公司" not in listed.get_data(as_text=True)
    assert (
        client.get(f"/api/v1/projects/sections/{published.id}/questions", headers=as_bidder).status_code
        == 403
    )
    answered = client.post(
        f"/api/v1/projects/sections/{published.id}/answers",
        json={"question_ids": [listed.json[0]["id"]], "answer": "不接受联合体投标。"},
        headers=as_agent,
    )
    assert (
        answered.status_code == 201 and answered.json["number"] == 1 and answered.json["new_deadline"] is None
    )
    again = client.post(
        f"/api/v1/projects/sections/{published.id}/answers",
        json={"question_ids": [listed.json[0]["id"]], "answer": "再次答复"},
        headers=as_agent,
    )
    assert again.status_code == 409 and again.json["code"] == "already_answered"
    assert client.get(url, headers=as_bidder).json[0]["clarification_number"] == 1
    clock.freeze(cst(2026, 3, 20, 9, 0))  # 3 days before the deadline: questions are closed
    late = client.post(url, json={"body": "截止前还能提问吗？"}, headers=as_bidder)
    assert late.status_code == 409 and late.json["code"] == "questions_closed"


def test_a_bidders_question_numbers_do_not_tell_that_others_asked(
    client: Any, app: Any, world: World, published: Section
) -> None:
    """The section numbers questions in the order they arrive; a bidder shown that number would learn how
    many questions other bidders asked before it, so that other bidders obtained the documents (招标投标法
    Art. 22). A bidder sees its own questions numbered 1, 2, …; the tenderer's side sees the section's."""
    from app.accounts import services as accounts

    with app.test_request_context():
        first = _bidder_with_documents(published, name="南通先问建设有限公司")
        later = _bidder_with_documents(published, name="南通后问建设有限公司")
        services.ask_question(published, actor=first, body="是否允许分包？")
        services.ask_question(published, actor=first, body="工期能否缩短？")
    as_later = {"Authorization": f"Bearer {accounts.create_api_token(later, name='ci').raw}"}
    as_agent = {"Authorization": f"Bearer {accounts.create_api_token(world.agent, name='ci').raw}"}
    url = f"/api/v1/projects/tenders/{published.id}/questions"
    asked = client.post(url, json={"body": "是否接受联合体投标？"}, headers=as_later)
    assert asked.status_code == 201 and asked.json["number"] == 1
    assert [q["number"] for q in client.get(url, headers=as_later).json] == [1]
    login(client, later)
    page = f"/projects/tenders/{published.id}"
    sent = client.post(
        f"{page}/questions",
        data={"csrf_token": csrf_token(client, page), "body": "清单第三章单位是否有误？"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "第 2 号问题已提交" in sent and "第 4 号" not in sent
    assert 'id="question-1"' in sent and 'id="question-2"' in sent and 'id="question-3"' not in sent
    listed = app.test_client().get(f"/api/v1/projects/sections/{published.id}/questions", headers=as_agent)
    assert [q["number"] for q in listed.json] == [1, 2, 3, 4]
