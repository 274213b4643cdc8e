"""Performance security (履约保证金): the tender documents may ask the winner for one of at most 10 % of the
contract amount (招标投标法实施条例 Art. 58; 政府采购法实施条例 Art. 48). The rule, the form, the pages that
show it and the database all hold the line."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import IntegrityError

from app.core.db import db
from app.core.errors import DomainError
from app.projects import rules
from app.projects.models import Section
from tests.factories import csrf_token, login
from tests.projects.conftest import World, draft_section, intention_published, procurement_world


def test_the_rule_allows_more_than_0_and_at_most_10_percent(app: Flask) -> None:
    with app.test_request_context():
        assert rules.check_performance_security(None, "engineering_construction").ok  # none asked
        assert rules.check_performance_security(Decimal("10"), "engineering_construction").ok
        assert rules.check_performance_security(Decimal("0.5"), "government_procurement").ok
        for bad in ("10.01", "0", "-1", "NaN", "Infinity"):
            assert not rules.check_performance_security(Decimal(bad), "engineering_construction").ok, bad
        works = rules.check_performance_security(Decimal("15"), "engineering_construction")
        assert "招标投标法实施条例第58条" in works.message and "15%" in works.message
        gp = rules.check_performance_security(Decimal("15"), "government_procurement")
        assert "政府采购法实施条例第48条" in gp.message


def test_a_section_asking_more_than_10_percent_is_refused(app: Flask, world: World) -> None:
    with app.test_request_context():
        with pytest.raises(DomainError) as err:
            draft_section(world, performance_security_pct=Decimal("12"))
        assert "第58条" in err.value.errors["performance_security_pct"][0]
    section = draft_section(world, performance_security_pct=Decimal("10"))
    assert section.performance_security_pct == Decimal("10")


def test_the_database_refuses_more_than_10_percent(world: World, db_session: Any) -> None:
    section = draft_section(world)
    with pytest.raises(IntegrityError), db.session.begin_nested():
        too_much = {"performance_security_pct": Decimal("11")}
        db.session.execute(sa.update(Section).where(Section.id == section.id).values(**too_much))


def test_the_form_keeps_a_refused_rate_and_the_pages_show_an_accepted_one(
    client: FlaskClient, world: World
) -> None:
    gp = procurement_world(world)
    intention_published(gp.project)
    db.session.commit()
    login(client, world.agent)
    url = f"/projects/{gp.project.id}/sections/new"
    data = {
        "csrf_token": csrf_token(client, url),
        "name": "医疗设备包",
        "estimated_value": "1200000",
        "ceiling_price": "1190000",
        "bid_security": "20000",
        "bid_validity_days": "90",
        "performance_security_pct": "12",
        "evaluation_method": "lowest_price",
        "panel_size": "5",
        "panel_pool_count": "5",
        "max_envelope_mb": "50",
        "custodian_k": "2",
        "custodians": [str(world.staff.id), str(gp.regulator.id), str(world.agent.id)],
        "docs_available_from": "2026-03-02T09:00",
        "docs_available_until": "2026-03-09T17:00",
        "bid_deadline": "2026-03-23T09:30",
        "room": "0",
        "online_only": "y",
    }
    refused = client.post(url, data=data)
    html = refused.get_data(as_text=True)
    assert refused.status_code in (200, 422) and "不超过政府采购合同金额的 10%" in html
    assert re.search(r'name="performance_security_pct"[^>]*value="12', html)  # as typed
    assert not gp.project.sections
    resp = client.post(url, data={**data, "performance_security_pct": "5"})
    assert resp.status_code == 302
    db.session.refresh(gp.project)
    section = gp.project.sections[-1]
    assert section.performance_security_pct == Decimal("5")
    page = client.get(f"/projects/sections/{section.id}").get_data(as_text=True)
    shown = re.search(r'id="performance-security">([^<]+)<', page)
    assert shown is not None and shown.group(1) == "合同金额的 5%，由中标人提交", shown
