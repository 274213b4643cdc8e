"""Journeys through the pages: registration and review, the section form, the room calendar with double
booking refused, the catalogue's draft → comment → publish cycle, and object-level 404s."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core.clock import clock
from app.core.errors import Conflict
from app.core.permissions import OrgKind, Role
from app.projects import services
from app.projects.models import CatalogueVersion, Project, RoomSlot, Section
from tests.factories import csrf_token, login, make_org, make_user
from tests.projects.conftest import World, cst, draft_section


def _logout(client: Any) -> None:
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/workbench")})


def test_agency_registers_for_a_named_tenderer_and_staff_review(
    client: Any, world: World, db_session: Any
) -> None:
    login(client, world.agent)
    form = csrf_token(client, "/projects/new")
    item = world.item("GC-01")
    data = {
        "csrf_token": form,
        "name": "南通某学校新建工程",
        "catalogue_item": str(item.id),
        "owner_org": str(world.owner.id),
        "regulator_org": str(world.regulator_org.id),
        "funding_source": "财政资金",
        "approval_ref": "通发改〔2026〕2号",
        "budget": "5000000",
    }
    resp = client.post("/projects/new", data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    project = db_session.scalar(select(Project).where(Project.name == "南通某学校新建工程"))
    assert project.owner_org_id == world.owner.id and project.agency_org_id == world.agency.id
    assert project.status == "submitted"
    page = client.get(f"/projects/{project.id}").get_data(as_text=True)
    assert world.owner.name in page and world.agency.name in page
    assert client.get("/projects/review").status_code == 403  # tenderers never review
    _logout(client)

    # the owner sees it too; another tenderer does not
    login(client, world.tenderer)
    assert client.get(f"/projects/{project.id}").status_code == 200
    _logout(client)
    login(client, make_user(Role.TENDERER))
    assert client.get(f"/projects/{project.id}").status_code == 404
    assert project.code not in client.get("/projects/").get_data(as_text=True)
    _logout(client)

    login(client, world.staff)
    queue = client.get("/projects/review").get_data(as_text=True)
    assert project.code in queue
    token = csrf_token(client, "/projects/review")
    resp = client.post(f"/projects/{project.id}/review", data={"csrf_token": token, "decision": "return"})
    assert project.status == "submitted"  # returning needs a reason
    resp = client.post(
        f"/projects/{project.id}/review",
        data={"csrf_token": token, "decision": "return", "reason": "缺少立项批复"},
    )
    assert resp.status_code == 302
    assert project.status == "returned" and project.return_reason == "缺少立项批复"


def test_tenderer_drafts_a_section_through_the_form(client: Any, world: World, db_session: Any) -> None:
    login(client, world.agent)
    url = f"/projects/{world.project.id}/sections/new"
    page = client.get(url).get_data(as_text=True)
    assert "section-form" in page
    data = {
        "csrf_token": csrf_token(client, url),
        "name": "二标段",
        "estimated_value": "1000000",
        "ceiling_price": "980000",
        "bid_security": "20000.01",
        "evaluation_method": "comprehensive",
        "scoring_criteria": "价格: 60\n技术: 30\n信誉：10",
        "panel_size": "5",
        "panel_pool_count": "4",
        "opening_items": ["duration", "quality"],
        "max_envelope_mb": "50",
        "custodian_k": "2",
        "custodians": [str(world.staff.id), str(world.regulator.id), str(world.agent.id)],
        "docs_available_from": "2026-03-02T09:00",
        "docs_available_until": "2026-03-09T17:00",
        "bid_deadline": "2026-03-23T09:30",
        "room": str(world.room.id),
    }
    refused = client.post(url, data=data)
    assert refused.status_code == 200 and "flash-error" in refused.get_data(as_text=True)
    data["bid_security"] = "20000.00"
    resp = client.post(url, data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    section = db_session.scalar(select(Section).where(Section.name == "二标段"))
    assert section.opening_items == ["price", "duration", "quality"]
    assert [c["weight"] for c in section.scoring_criteria] == ["60", "30", "10"]
    assert section.bid_deadline == cst(2026, 3, 23, 9, 30)
    assert [c.user_id for c in section.custodians] == [world.staff.id, world.regulator.id, world.agent.id]


def test_room_double_booking_is_refused_and_online_only_needs_no_room(
    app: Any, world: World, db_session: Any
) -> None:
    with app.test_request_context():
        draft_section(world)
        db_session.commit()
        with pytest.raises(Conflict):
            draft_section(world, name="二标段", bid_deadline=cst(2026, 3, 23, 10, 0))
        db_session.rollback()
    with app.test_request_context():
        online = draft_section(world, name="三标段", online_only=True, room_id=None)
    assert online.room_id is None


def test_database_refuses_a_second_booking_of_the_same_slot(app: Any, world: World, db_session: Any) -> None:
    with app.test_request_context():
        first = draft_section(world)
        second = draft_section(world, name="二标段", room_id=None, online_only=True)
    slot = db_session.scalars(select(RoomSlot).where(RoomSlot.section_id == first.id)).first()
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(
            RoomSlot.__table__.insert().values(
                room_id=slot.room_id, starts_at=slot.starts_at, section_id=second.id, day=slot.day
            )
        )


def test_room_calendar_shows_bookings_by_day(client: Any, world: World) -> None:
    with client.application.test_request_context():
        section = draft_section(world)
    login(client, world.staff)
    page = client.get("/projects/rooms?day=2026-03-23").get_data(as_text=True)
    assert section.code in page and "09:30–11:30" in page
    assert client.get("/projects/rooms").status_code == 200
    # a mistyped year shows this week, like any unreadable day, never a server error
    for typo in ("0001-01-01", "9999-12-31"):
        assert client.get(f"/projects/rooms?day={typo}").status_code == 200, typo
    _logout(client)
    login(client, world.agent)
    assert client.get("/projects/rooms").status_code == 403


def test_catalogue_draft_comment_publish_keeps_history(client: Any, world: World, db_session: Any) -> None:
    login(client, world.manager)
    token = csrf_token(client, "/projects/catalogue")
    resp = client.post("/projects/catalogue/new", data={"csrf_token": token, "title": "2026 修订"})
    assert resp.status_code == 302
    draft = db_session.scalar(select(CatalogueVersion).where(CatalogueVersion.title == "2026 修订"))
    assert [i.code for i in draft.items] == [i.code for i in world.catalogue.items]
    url = f"/projects/catalogue/{draft.id}"
    token = csrf_token(client, url)
    resp = client.post(
        f"{url}/items",
        data={
            "csrf_token": token,
            "code": "ZC-02",
            "name": "政府采购货物（邀请招标）",
            "category": "government_procurement",
            "industry": "finance_procurement",
            "min_sale_days": "5",
            "sale_day_unit": "working",
            "min_bid_days": "20",
            "bid_day_unit": "calendar",
            "amendment_lead_days": "15",
            "amendment_day_unit": "calendar",
            "objection_day_unit": "working",
        },
    )
    assert resp.status_code == 302
    assert "ZC-02" in {i.code for i in draft.items}
    client.post(f"{url}/comment-period", data={"csrf_token": token, "days": "10"})
    assert draft.status == "comment"
    # a bidder comments during the period; publishing before it ends is refused
    _logout(client)
    bidder = make_user(Role.BIDDER)
    login(client, bidder)
    client.post(f"{url}/comments", data={"csrf_token": csrf_token(client, url), "body": "建议增加说明"})
    assert [c.body for c in draft.comments] == ["建议增加说明"]
    assert client.post(f"{url}/publish", data={"csrf_token": csrf_token(client, url)}).status_code == 403
    _logout(client)
    login(client, world.manager)
    client.post(f"{url}/publish", data={"csrf_token": csrf_token(client, url)})
    assert draft.status == "comment"
    clock.freeze(clock.now() + dt.timedelta(days=12))  # business time: the manager stays signed in
    client.post(f"{url}/publish", data={"csrf_token": csrf_token(client, url)})
    assert draft.status == "published"
    assert world.catalogue.status == "superseded"
    history = client.get("/projects/catalogue").get_data(as_text=True)
    assert "2026 修订" in history and "2026 交易目录" in history
    # the published version is frozen
    with client.application.test_request_context(), pytest.raises(Conflict):
        services.save_catalogue_item(draft, actor=world.manager, code="X", values={"category": "other"})


def test_registration_needs_an_item_of_the_catalogue_in_force(app: Any, world: World) -> None:
    from app.core.errors import DomainError

    old_item = world.item("GC-01")
    with app.test_request_context():
        clock.freeze(clock.now() - dt.timedelta(days=5))
        version = services.create_catalogue_version(actor=world.manager, title="v2")
        services.open_catalogue_comment(version, actor=world.manager, days=1)
        clock.freeze(clock.now() + dt.timedelta(days=5))
        services.publish_catalogue_version(version, actor=world.manager)
        owner_user = make_user(Role.TENDERER, make_org(OrgKind.TENDERER))
        with pytest.raises(DomainError) as refused:
            services.register_project(
                services.ProjectInput(
                    name="x",
                    catalogue_item_id=old_item.id,
                    funding_source="自筹",
                    approval_ref="备案",
                    budget=0,  # type: ignore[arg-type]
                    regulator_org_id=world.regulator_org.id,
                ),
                actor=owner_user,
            )
    assert "catalogue_item_id" in refused.value.errors


def test_every_page_renders_for_its_roles(client: Any, world: World) -> None:
    bidder = make_user(Role.BIDDER)
    with client.application.test_request_context():
        draft = draft_section(world, online_only=True, room_id=None)
        section = draft_section(world, name="二标段")
        services.publish_section(section, actor=world.agent)
        obtained, _new = services.obtain_documents(section, actor=bidder)
        services.publish_amendment(
            section, actor=world.agent, title="澄清", body="答疑", affects_bids=False, notice_text="新正文\n"
        )
    pages = {
        world.agent: [
            "/projects/",
            "/projects/new",
            f"/projects/{world.project.id}",
            f"/projects/{world.project.id}/sections/new",
            f"/projects/sections/{draft.id}",
            f"/projects/sections/{draft.id}/edit",
            f"/projects/sections/{draft.id}/publish",
            f"/projects/sections/{section.id}",
            f"/projects/sections/{section.id}/publish",
            f"/projects/sections/{section.id}/amendments/new",
            f"/projects/tenders/{section.id}",
            "/projects/catalogue",
            f"/projects/catalogue/{world.catalogue.id}",
        ],
        world.staff: [
            "/projects/",
            "/projects/review",
            "/projects/rooms",
            f"/projects/sections/{section.id}",
        ],
        world.regulator: ["/projects/", f"/projects/{world.project.id}", f"/projects/sections/{section.id}"],
        world.manager: ["/projects/catalogue", f"/projects/catalogue/{world.catalogue.id}", "/projects/"],
        bidder: [
            "/projects/tenders",
            f"/projects/tenders/{section.id}",
            f"/projects/obtainments/{obtained.id}",
        ],
    }
    for user, urls in pages.items():
        login(client, user)
        for url in urls:
            resp = client.get(url)
            assert resp.status_code == 200, (user.role, url, resp.status_code)
        assert client.get("/workbench").status_code == 200
        _logout(client)
