"""Issue 15 item 7: the law is not configuration.

Before the fix the management office could set a works bid period of 10 days in the trading catalogue and
publication then passed with it; the tenderer picked its own regulator at registration. Now every statutory
minimum is a floor the catalogue may lengthen but never shorten (one test per floor, through the catalogue
page), publication applies the floor even to an item stored before, and the supervising regulator follows
from the catalogue item's industry."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.core.errors import DomainError
from app.core.permissions import OrgKind, Role
from app.projects import rules, services
from app.projects.models import CatalogueItem, CatalogueVersion, Project
from tests.factories import csrf_token, login, make_org, make_user
from tests.projects.conftest import World, cst, draft_section


def _lawful(category: rules.Category) -> dict[str, str]:
    """A catalogue item of ``category`` at exactly its statutory floors (the rules table), as form values."""
    floor = rules.STATUTORY_FLOORS[category]
    values = {}
    for days_field, unit_field, _basis in rules.PERIODS:
        values[days_field] = str(getattr(floor, days_field))
        values[unit_field] = rules.DayUnit(getattr(floor, unit_field)).value
    values["objection_lead_days"] = (
        "" if floor.objection_lead_days is None else str(floor.objection_lead_days)
    )
    values["objection_day_unit"] = rules.DayUnit(floor.objection_day_unit).value
    return values


LAWFUL = {category.value: _lawful(category) for category in rules.STATUTORY_FLOORS}


def _below_every_floor() -> list[Any]:
    """(category, change, article) for every floor of the rules table: one day less, and for a floor counted
    in working days the same number of calendar days (shorter around a holiday); the fixed objection lead
    time changed or left out."""
    cases = []
    for category, floor in rules.STATUTORY_FLOORS.items():
        for days_field, unit_field, basis in rules.PERIODS:
            days, unit = getattr(floor, days_field), rules.DayUnit(getattr(floor, unit_field))
            cases.append(
                pytest.param(
                    category.value, {days_field: str(days - 1)}, basis, id=f"{category}-{days_field}"
                )
            )
            if unit is rules.DayUnit.WORKING:
                cases.append(
                    pytest.param(
                        category.value,
                        {unit_field: rules.DayUnit.CALENDAR.value},
                        basis,
                        id=f"{category}-{unit_field}-calendar",
                    )
                )
        if floor.objection_lead_days is not None:
            for value in (str(floor.objection_lead_days - 1), str(floor.objection_lead_days + 2), ""):
                cases.append(
                    pytest.param(
                        category.value,
                        {"objection_lead_days": value},
                        "实施条例第22条",
                        id=f"{category}-objection_lead_days-{value or 'empty'}",
                    )
                )
    return cases


#: (category, what is changed, the article the refusal must cite), generated from the rules table so that
#: a floor added there gets its case here.
FLOORS = _below_every_floor()

#: Articles named by the issue, checked inside the generated messages.
NAMED = [
    ("engineering_construction", {"min_sale_days": "4"}, "实施条例第16条"),
    ("engineering_construction", {"min_bid_days": "19"}, "招标投标法第24条"),
    ("engineering_construction", {"amendment_lead_days": "14"}, "招标投标法第23条"),
    ("government_procurement", {"min_sale_days": "4"}, "87号令第18条"),
    ("government_procurement", {"min_bid_days": "10"}, "政府采购法第35条"),
    ("government_procurement", {"amendment_lead_days": "5"}, "87号令第27条"),
]


def test_every_category_and_period_of_the_rules_table_has_a_case() -> None:
    covered = {(p.values[0], next(iter(p.values[1]))) for p in FLOORS}
    for category in rules.STATUTORY_FLOORS:
        for days_field, _unit_field, _basis in rules.PERIODS:
            assert (category.value, days_field) in covered
    assert {c.value for c in rules.STATUTORY_FLOORS} == {c.value for c in rules.Category}
    assert ("land_mineral", "min_bid_days") in covered and ("other", "amendment_lead_days") in covered


def _draft(client: FlaskClient, world: World, db_session: Any) -> CatalogueVersion:
    login(client, world.manager)
    token = csrf_token(client, "/projects/catalogue")
    assert (
        client.post("/projects/catalogue/new", data={"csrf_token": token, "title": "修订"}).status_code == 302
    )
    version = db_session.scalar(select(CatalogueVersion).where(CatalogueVersion.title == "修订"))
    assert version is not None
    return version


def _save(client: FlaskClient, version: CatalogueVersion, category: str, values: dict[str, str]) -> str:
    url = f"/projects/catalogue/{version.id}"
    data = {
        "csrf_token": csrf_token(client, url),
        "code": "XX-01",
        "name": "测试事项",
        "category": category,
        "industry": "housing_construction",
        **LAWFUL[category],
        **values,
    }
    return client.post(f"{url}/items", data=data, follow_redirects=True).get_data(as_text=True)


@pytest.mark.parametrize(("category", "change", "article"), [*FLOORS, *NAMED])
def test_each_statutory_floor_is_kept_by_the_catalogue(
    client: FlaskClient, world: World, db_session: Any, category: str, change: dict[str, str], article: str
) -> None:
    version = _draft(client, world, db_session)
    page = _save(client, version, category, change)
    assert article in page
    assert "XX-01" not in {i.code for i in version.items}


@pytest.mark.parametrize("category", list(LAWFUL))
def test_exactly_the_floor_is_allowed(
    client: FlaskClient, world: World, db_session: Any, category: str
) -> None:
    version = _draft(client, world, db_session)
    _save(client, version, category, {})
    item = next(i for i in version.items if i.code == "XX-01")
    floor = rules.STATUTORY_FLOORS[rules.Category(category)]
    effective = rules.effective_rules(item)
    for days_field, unit_field, _basis in rules.PERIODS:
        assert getattr(effective, days_field) == getattr(floor, days_field)
        assert getattr(effective, unit_field) == getattr(floor, unit_field)
    assert effective.objection_lead_days == floor.objection_lead_days


@pytest.mark.parametrize("category", list(LAWFUL))
def test_lengthening_is_allowed(client: FlaskClient, world: World, db_session: Any, category: str) -> None:
    version = _draft(client, world, db_session)
    longer = {"min_bid_days": "25", "amendment_lead_days": "16", "min_sale_days": "7"}
    if category != "government_procurement":
        longer["sale_day_unit"] = "working"  # 5 working days are never shorter than 5 calendar days
    _save(client, version, category, longer)
    item = next(i for i in version.items if i.code == "XX-01")
    assert item.min_bid_days == 25 and item.amendment_lead_days == 16 and item.min_sale_days == 7


def test_publication_applies_the_floor_to_an_item_stored_below_it(world: World, db_session: Any) -> None:
    """An item written before the floors were enforced (or by hand) cannot shorten the period: the tender
    with a 15-day bidding period is refused with the article."""
    item = world.project.catalogue_item
    item.min_bid_days = 10  # bypassing the service, as old data could
    db_session.flush()
    section = draft_section(world, bid_deadline=cst(2026, 3, 17, 9, 30))
    checks = {c.code: c for c in services.publication_checks(section, at=cst(2026, 3, 2, 9, 0))}
    assert not checks["bid_period"].ok and "招标投标法第24条" in checks["bid_period"].message
    with pytest.raises(DomainError) as refused:
        services.publish_section(section, actor=world.agent)
    assert "招标投标法第24条" in refused.value.message
    assert rules.effective_rules(item).min_bid_days == 20


def test_the_regulator_follows_from_the_industry_not_from_the_tenderer(
    client: FlaskClient, world: World, db_session: Any
) -> None:
    finance = make_org(OrgKind.REGULATOR, industry="finance_procurement")
    make_user(Role.REGULATOR, finance)
    gp = world.item("ZC-01")
    # the registration page offers no choice: it shows who supervises each item
    login(client, world.agent)
    page = client.get("/projects/new").get_data(as_text=True)
    assert 'name="regulator_org"' not in page and finance.name in page and world.regulator_org.name in page
    resp = client.post(
        "/projects/new",
        data={
            "csrf_token": csrf_token(client, "/projects/new"),
            "name": "某学校设备采购",
            "catalogue_item": str(gp.id),
            "owner_org": str(world.owner.id),
            "regulator_org": str(world.regulator_org.id),  # a forged field is ignored
            "funding_source": "财政资金",
            "approval_ref": "通财采〔2026〕1号",
            "budget": "500000",
        },
    )
    assert resp.status_code == 302
    project = db_session.scalar(select(Project).where(Project.name == "某学校设备采购"))
    assert project is not None and project.regulator_org_id == finance.id

    # through the service (API, CLI): naming another regulator is refused with the rule
    data = services.ProjectInput(
        name="另一个采购项目",
        catalogue_item_id=gp.id,
        funding_source="财政资金",
        approval_ref="通财采〔2026〕2号",
        budget=Decimal("100000"),
        regulator_org_id=world.regulator_org.id,
        owner_org_id=world.owner.id,
    )
    with pytest.raises(DomainError) as refused:
        services.register_project(data, actor=world.agent)
    assert "招标投标法第7条" in str(refused.value.errors["regulator_org_id"])


def test_no_or_several_regulators_for_the_industry_refuse_the_registration(
    world: World, db_session: Any
) -> None:
    transport = world.item("GC-02")
    data = services.ProjectInput(
        name="某公路工程",
        catalogue_item_id=transport.id,
        funding_source="财政资金",
        approval_ref="通交〔2026〕1号",
        budget=Decimal("100000"),
        owner_org_id=world.owner.id,
    )
    with pytest.raises(DomainError) as none:
        services.register_project(data, actor=world.agent)
    assert "0" in str(none.value.errors["regulator_org_id"])
    make_org(OrgKind.REGULATOR, industry="transport")
    make_org(OrgKind.REGULATOR, industry="transport")
    with pytest.raises(DomainError) as two:
        services.register_project(data, actor=world.agent)
    assert "2" in str(two.value.errors["regulator_org_id"])
    other = world.item("QT-01")
    assert other.industry is None
    with pytest.raises(DomainError) as unnamed:
        services.register_project(
            services.ProjectInput(**{**data.__dict__, "catalogue_item_id": other.id}), actor=world.agent
        )
    assert other.name in str(unnamed.value.errors["regulator_org_id"])
    assert db_session.scalars(select(CatalogueItem).where(CatalogueItem.code == "GC-02")).first()
