"""Issue 18 item 3 — SME price deduction (中小企业价格扣除; 政府采购促进中小企业发展管理办法, 财库〔2020〕46号
Art. 9 as amended by 财库〔2022〕19号): a government procurement section sets its rate within the legal range
(10-20 % for goods and services, 3-5 % for works); bidders declare their size in the sealed summary
(中小企业声明函); small and micro enterprises are scored on the deducted price (评审价) while the award stays
at the price they bid; the report shows the deduction."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.core.clock import clock
from app.core.db import db
from app.core.errors import DomainError
from app.evaluation import procurement, scoring
from app.projects import rules
from tests.contracts.test_contracts import cst
from tests.evaluation.conftest import close_report, open_trade, score_lowest, sign_in_all
from tests.factories import csrf_token, login
from tests.projects.conftest import World, draft_section, procurement_world


def test_the_rate_must_lie_in_the_legal_range_and_only_in_government_procurement(
    app: Flask, client: FlaskClient, world: World
) -> None:
    with app.test_request_context():
        assert rules.check_sme_deduction(Decimal("10"), "government_procurement", False).ok
        assert rules.check_sme_deduction(Decimal("20"), "government_procurement", False).ok
        assert rules.check_sme_deduction(Decimal("3"), "government_procurement", True).ok
        assert not rules.check_sme_deduction(Decimal("6"), "government_procurement", False).ok
        assert not rules.check_sme_deduction(Decimal("10"), "government_procurement", True).ok
        with pytest.raises(DomainError) as err:  # works tendering knows no SME deduction
            draft_section(world, sme_deduction_rate=Decimal("10"))
        assert "政府采购" in str(err.value.errors["sme_deduction_rate"])

    gp = procurement_world(world)
    login(client, world.agent)
    url = f"/projects/{gp.project.id}/sections/new"
    data = {
        "csrf_token": csrf_token(client, url),
        "name": "医疗设备包",
        "estimated_value": "1200000",
        "ceiling_price": "1190000",
        "bid_security": "20000",
        "bid_validity_days": "90",
        "sme_deduction_rate": "25",
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
    assert refused.status_code == 200 and "10%至20%" in html and "财库〔2020〕46号第9条" in html
    assert not gp.project.sections
    works = client.post(url, data={**data, "sme_deduction_rate": "10", "sme_works": "y"})
    assert works.status_code == 200 and "3%至5%" in works.get_data(as_text=True)
    resp = client.post(url, data={**data, "sme_deduction_rate": "10"})
    assert resp.status_code == 302, re.findall(r"(?:flash|error)[^>]*>([^<]+)", resp.get_data(as_text=True))
    db.session.refresh(gp.project)
    assert gp.project.sections[-1].sme_deduction_rate == Decimal("10")
    assert client.get(f"/projects/sections/{gp.project.sections[-1].id}").status_code == 200


def test_a_micro_enterprise_is_scored_on_its_deducted_price_and_awarded_at_its_bid(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    gp = procurement_world(world)
    trade = open_trade(
        app,
        client,
        gp,
        ["1180000", "1150000", "1120000"],
        declared=[{"sme_size": "micro"}, {"sme_size": "medium"}, {"sme_size": "large"}],
        sme_deduction_rate=Decimal("10"),
    )
    section = trade.section
    micro, medium, large = trade.tender.bidders
    with app.test_request_context():
        from app.evaluation import services

        bids = {b.org_id: b for b in services.bids_of(section)}
    assert bids[micro.org.id].evaluated_price == Decimal("1062000.00")
    assert bids[medium.org.id].evaluated_price == Decimal("1150000")  # medium-sized: no deduction
    assert bids[large.org.id].sme_size == ""  # not a size the declaration knows: nothing declared

    users = sign_in_all(trade)
    score_lowest(trade, users)
    ev = close_report(trade, users)
    assert [(c.rank, c.org_id, c.price) for c in ev.candidates][:2] == [
        (1, micro.org.id, Decimal("1180000")),
        (2, large.org.id, Decimal("1120000")),
    ]
    login(client, world.staff)
    report = client.get(f"/evaluation/sections/{section.id}/report").get_data(as_text=True)
    assert 'id="sme-deduction"' in report and "评审价" in report and "1062000.00" in report
    assert "微型企业" in report and "财库〔2020〕46号第9条" in report

    clock.freeze(cst(2026, 3, 24, 9, 30))
    with app.test_request_context():
        procurement.announce_result(ev, actor=world.agent, rank=1)
    assert ev.winner_org_id == micro.org.id
    assert next(c for c in ev.candidates if c.rank == 1).price == Decimal("1180000")  # the bid price


def test_the_price_score_uses_the_evaluated_price() -> None:
    at = dt.datetime(2026, 3, 23, tzinfo=dt.UTC)
    bids = [
        scoring.Bid(1, "小微", Decimal("100"), at, sme_size="small", deduction_rate=Decimal("20")),
        scoring.Bid(2, "大型", Decimal("90"), at + dt.timedelta(seconds=1)),
    ]
    criteria: list[dict[str, object]] = [
        {"name": "technical", "weight": "70"},
        {"name": "price", "weight": "30"},
    ]
    sheets = [scoring.Sheet(m, points={1: {"technical": Decimal("60")}, 2: {"technical": Decimal("60")}})
              for m in range(5)]  # fmt: skip
    results = {
        r.bid.org_id: r for r in scoring.rank("comprehensive", bids, sheets, criteria, scoring.Settings())
    }
    assert results[1].price_score == Decimal("30.00")  # 80 is the lowest evaluated price: the benchmark
    assert results[2].price_score == Decimal("26.67")  # 30 × 80 / 90
    assert results[1].rank == 1 and results[1].bid.price == Decimal("100")
