"""Issue 15, item 2 — the registry's employment history (工作经历): imported with the pool, entered on the
office's and the expert's pages, filed automatically when the employer changes, and matched against the
parties of a trade by organization or — for an employer not registered when it was recorded — by its
name or credit code."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from flask import Flask
from sqlalchemy import select

from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.experts import employment, services
from app.experts.models import Expert, ExpertEmployment
from tests.experts.conftest import T0, World, quick_user
from tests.experts.test_import import HEADER, good_row
from tests.factories import csrf_token, login, make_org


def _csv(rows: list[list[Any]]) -> bytes:
    return "\n".join(",".join(str(c) for c in r) for r in [[*HEADER, "曾任职单位"], *rows]).encode()


def _import(client: Any, data: bytes, *, commit: bool) -> str:
    form = {"csrf_token": csrf_token(client, "/experts/import"), "file": (io.BytesIO(data), "pool.csv")}
    if commit:
        form["commit"] = "y"
    resp = client.post("/experts/import", data=form, content_type="multipart/form-data")
    return resp.get_data(as_text=True)


def test_former_employers_are_imported_checked_and_never_duplicated(app: Flask, world: World) -> None:
    bidder = make_org(OrgKind.BIDDER, name="南通某建设集团有限公司", credit_code="91320600MA1TEST001")
    manager = quick_user(Role.MANAGER, world.office)
    client = app.test_client()
    login(client, manager)
    rows = [
        [*good_row(1), "南通某建设集团有限公司（2019-03-01至2024-06-30）；上海某咨询有限公司（2018-12-31）"],
        [*good_row(2), "91320600MA1TEST001（2025-01-31）"],
        [*good_row(3), "某单位 2020年"],  # unreadable
    ]
    page = _import(client, _csv(rows), commit=True)
    assert "former_employers" in page and "某单位 2020年" in page  # the problem, by line and field
    assert db.session.scalar(select(Expert).where(Expert.name == "导入专家1")) is None  # all or nothing

    page = _import(client, _csv(rows[:2]), commit=True)
    first = db.session.scalar(select(Expert).where(Expert.name == "导入专家1"))
    second = db.session.scalar(select(Expert).where(Expert.name == "导入专家2"))
    assert first is not None and second is not None
    history = {(e.org_name, e.org_id, e.starts_on, e.ends_on, e.source) for e in first.employments}
    assert history == {
        ("南通某建设集团有限公司", bidder.id, dt.date(2019, 3, 1), dt.date(2024, 6, 30), "import"),
        ("上海某咨询有限公司", None, None, dt.date(2018, 12, 31), "import"),  # not registered: kept by name
    }
    assert [(e.org_id, e.ends_on) for e in second.employments] == [(bidder.id, dt.date(2025, 1, 31))]
    _import(client, _csv(rows[:2]), commit=True)  # a re-import adds nothing twice
    assert db.session.query(ExpertEmployment).filter_by(expert_id=first.id).count() == 2

    # the look-back runs from the evaluation day: 3 years after 2024-06-30, and not one day more
    assert employment.former_employees({bidder.id}, dt.date(2027, 6, 30)) == {first.id, second.id}
    assert employment.former_employees({bidder.id}, dt.date(2027, 7, 1)) == {second.id}
    # an employer recorded by name only is matched once it registers under that name
    later = make_org(OrgKind.BIDDER, name="上海某咨询有限公司")
    assert first.id in employment.former_employees({later.id}, dt.date(2021, 1, 1))


def test_office_and_expert_pages_record_history_and_a_new_employer_files_the_old_one(
    app: Flask, world: World
) -> None:
    expert_user = quick_user(Role.EXPERT, make_org(OrgKind.EXPERT_EMPLOYER))
    expert = world.expert(user=expert_user)
    old_employer = expert.employer_org_id
    manager = quick_user(Role.MANAGER, world.office)
    client = app.test_client()
    login(client, manager)
    path = f"/experts/pool/{expert.id}"
    token = csrf_token(client, path)
    resp = client.post(
        f"{path}/employments",
        data={"csrf_token": token, "organization": world.bidder_org.name, "ends_on": "2099-01-01"},
    )
    assert resp.status_code == 302 and not expert.employments  # a past employment cannot end in the future
    client.post(
        f"{path}/employments",
        data={"csrf_token": token, "organization": world.bidder_org.name, "ends_on": "2025-12-31"},
    )
    db.session.refresh(expert)
    assert [(e.org_id, e.source) for e in expert.employments] == [(world.bidder_org.id, "manual")]
    assert world.bidder_org.name in client.get(path).get_data(as_text=True)

    # the expert declares one too, from the own page
    own = app.test_client()
    login(own, expert_user)
    own.post(
        "/experts/me/employments",
        data={
            "csrf_token": csrf_token(own, "/experts/me"),
            "organization": world.owner.name,
            "ends_on": "2024-05-31",
        },
    )
    db.session.refresh(expert)
    assert {e.source for e in expert.employments} == {"manual", "self"}

    # the office changes the current employer: the old one becomes a past employment ending yesterday
    data = services.ExpertData(
        name=expert.name,
        id_number=services.reveal_id_number(expert, actor=manager),
        title=expert.title,
        title_level=expert.title_level,
        years_of_practice=expert.years_of_practice,
        employer_org_id=world.agency.id,
        region=expert.region,
        specialties=["A010101"],
        phone=expert.phone,
    )
    services.update(expert, data, actor=manager)
    db.session.flush()
    db.session.refresh(expert)
    filed = next(e for e in expert.employments if e.source == "employer_change")
    assert filed.org_id == old_employer and filed.ends_on == T0.date() - dt.timedelta(days=1)
