"""Interventions: suspension blocks every execution step the domains expose and resume restores them;
rectification notices with due dates and responses; all of it on the section timeline."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from app.core.clock import clock
from app.core.db import db
from app.core.errors import Conflict, DomainError
from app.projects import services as projects
from app.projects.enums import SectionStatus
from app.supervision import services, timeline
from app.supervision.enums import NoticeStatus
from tests.factories import csrf_token, login, make_user
from tests.supervision.conftest import T0, Scene, bidder, envelope


def _opening(scene: Scene, section: Any) -> Any:
    from app.bidding import opening

    for _ in range(3):  # three bidders hold receipted envelopes: the ceremony goes on to collect shares
        envelope(section, bidder())
    return opening.start_ceremony(section.id, actor=scene.staff)


@pytest.mark.parametrize(
    ("status", "step"),
    [
        ("bidding_closed", "opening"),
        ("opened", "evaluation"),
        ("publicity", "award"),
    ],
)
def test_suspension_blocks_each_step_and_resume_restores_it(scene: Scene, status: str, step: str) -> None:
    section = scene.section(status, closed_at=T0 - dt.timedelta(hours=1))

    def run() -> None:
        if step == "opening":
            _opening(scene, section)
        elif step == "evaluation":
            projects.transition(section, SectionStatus.EVALUATING, actor=scene.staff)
        else:
            projects.transition(section, SectionStatus.AWARDED, actor=scene.tenderer)

    services.suspend(section, actor=scene.regulator, reason="责令暂停：涉嫌串通投标")
    with pytest.raises(Conflict) as refused, db.session.begin_nested():
        run()
    assert "suspend" in str(refused.value.message).lower() or refused.value.code == "suspended"
    services.resume(section, actor=scene.regulator, note="核查完毕")
    run()
    assert section.status in {"opening", "evaluating", "awarded"}


def test_suspension_and_notices_appear_on_the_timeline(scene: Scene) -> None:
    section = scene.section("opened")
    services.suspend(section, actor=scene.regulator, reason="责令暂停")
    notice = services.issue_notice(
        section,
        actor=scene.regulator,
        addressee=scene.owner,
        body="请于期限内整改",
        due_at=T0 + dt.timedelta(days=5),
    )
    with pytest.raises(Conflict):
        services.close_notice(notice, actor=scene.regulator)
    clock.freeze(T0 + dt.timedelta(days=6))
    services.record_response(notice, actor=scene.regulator, response="已整改，附说明")
    assert notice.status == NoticeStatus.RESPONDED
    services.close_notice(notice, actor=scene.regulator)
    services.resume(section, actor=scene.regulator)
    actions = [e.leaf.action for e in timeline.build(section.id).entries]
    assert actions == [
        "projects:section:suspend",
        "supervision:notice:issue",
        "supervision:notice:response",
        "supervision:notice:close",
        "projects:section:resume",
    ]


def test_notice_needs_a_future_due_date(scene: Scene) -> None:
    section = scene.section("opened")
    with pytest.raises(DomainError):
        services.issue_notice(
            section, actor=scene.regulator, addressee=scene.owner, body="x", due_at=T0 - dt.timedelta(days=1)
        )


def test_regulator_suspends_and_resumes_through_the_pages(scene: Scene, client: Any) -> None:
    section = scene.section("opened")
    db.session.commit()
    page = f"/supervision/sections/{section.id}/interventions"
    other = make_user("regulator")  # supervises other trades: may watch, may not act
    login(client, other)
    token = csrf_token(client, page)
    assert (
        client.post(
            f"/supervision/sections/{section.id}/suspend", data={"reason": "x", "csrf_token": token}
        ).status_code
        == 403
    )
    client.post("/auth/logout", data={"csrf_token": token})

    login(client, scene.regulator)
    token = csrf_token(client, page)
    resp = client.post(
        f"/supervision/sections/{section.id}/suspend", data={"reason": "责令暂停", "csrf_token": token}
    )
    assert resp.status_code == 302
    db.session.refresh(section)
    assert section.suspended
    assert 'id="suspended-badge"' in client.get(page).get_data(as_text=True)
    resp = client.post(
        f"/supervision/sections/{section.id}/notices",
        data={
            "addressee_org_id": scene.owner.id,
            "body": "整改",
            "due_on": "2026-03-09",
            "csrf_token": token,
        },
    )
    assert resp.status_code == 302
    assert services.notices_of(section.id)[0].status == "open"
    resp = client.post(f"/supervision/sections/{section.id}/resume", data={"note": "", "csrf_token": token})
    assert resp.status_code == 302
    db.session.refresh(section)
    assert not section.suspended


def test_a_regulator_of_another_industry_neither_records_nor_closes_a_notice(
    scene: Scene, client: Any
) -> None:
    """The notice's response and its closing are the supervising regulator's acts: another regulator is
    refused (403, as for suspending), the notice stays as it was and no audit leaf is written."""
    from sqlalchemy import func, select

    from app.core.models import AuditLeaf

    section = scene.section("opened")
    notice = services.issue_notice(
        section,
        actor=scene.regulator,
        addressee=scene.owner,
        body="请于期限内整改",
        due_at=T0 + dt.timedelta(days=5),
    )
    db.session.commit()
    other = make_user("regulator")
    login(client, other)
    token = csrf_token(client, f"/supervision/sections/{section.id}/interventions")
    leaves = db.session.scalar(select(func.count()).select_from(AuditLeaf))
    resp = client.post(
        f"/supervision/notices/{notice.id}/response", data={"response": "已整改", "csrf_token": token}
    )
    assert resp.status_code == 403
    db.session.refresh(notice)
    assert notice.status == NoticeStatus.OPEN and notice.response is None
    assert db.session.scalar(select(func.count()).select_from(AuditLeaf)) == leaves
    services.record_response(notice, actor=scene.regulator, response="已整改，附说明")
    db.session.commit()
    leaves = db.session.scalar(select(func.count()).select_from(AuditLeaf))
    assert (
        client.post(f"/supervision/notices/{notice.id}/close", data={"csrf_token": token}).status_code == 403
    )
    db.session.refresh(notice)
    assert notice.status == NoticeStatus.RESPONDED and notice.response == "已整改，附说明"
    assert db.session.scalar(select(func.count()).select_from(AuditLeaf)) == leaves


def test_a_notice_goes_only_to_an_organization_running_the_trade(scene: Scene, client: Any) -> None:
    """The form offers the tenderer, its agency and the trading centers; a notice posted to any other
    organization (a bidder of nothing, another regulator) is refused, through the page and the API, and no
    notice and no audit leaf is written."""
    from sqlalchemy import func, select

    from app.core.models import AuditLeaf
    from app.core.permissions import OrgKind
    from tests.factories import make_org

    section = scene.section("opened")
    stranger = make_org(OrgKind.BIDDER)
    other_regulator = make_org(OrgKind.REGULATOR)
    for org in (stranger, other_regulator):
        with pytest.raises(DomainError) as refused:
            services.issue_notice(
                section, actor=scene.regulator, addressee=org, body="整改", due_at=T0 + dt.timedelta(days=5)
            )
        assert "addressee_org_id" in refused.value.errors
    db.session.commit()
    login(client, scene.regulator)
    page = f"/supervision/sections/{section.id}/interventions"
    html = client.get(page).get_data(as_text=True)
    assert f'value="{scene.owner.id}"' in html and f'value="{stranger.id}"' not in html
    token = csrf_token(client, page)
    leaves = db.session.scalar(select(func.count()).select_from(AuditLeaf))
    form = {"addressee_org_id": stranger.id, "body": "整改", "due_on": "2026-03-09", "csrf_token": token}
    client.post(f"/supervision/sections/{section.id}/notices", data=form)
    resp = client.post(
        f"/api/v1/supervision/sections/{section.id}/notices",
        json={"addressee_org_id": stranger.id, "body": "整改", "due_on": "2026-03-09"},
        headers={"X-CSRFToken": token},
    )
    assert resp.status_code == 422 and "addressee_org_id" in resp.get_json()["errors"]
    assert services.notices_of(section.id) == []
    assert db.session.scalar(select(func.count()).select_from(AuditLeaf)) == leaves
    ok = client.post(
        f"/supervision/sections/{section.id}/notices",
        data={**form, "addressee_org_id": scene.center.id},
    )
    assert ok.status_code == 302 and [n.addressee_org_id for n in services.notices_of(section.id)] == [
        scene.center.id
    ]
