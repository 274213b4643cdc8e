"""The registry: identity protection, application → review → admission, status history, leave and
conflicts, after-service ratings and automatic suspension, the specialty loader."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.core.clock import clock
from app.core.db import db
from app.core.errors import Conflict, DomainError
from app.experts import draws, services, specialties
from app.experts.draws import Slot
from app.experts.enums import ExpertStatus, SeatStatus
from app.experts.models import Expert, ExpertStatusChange, Specialty
from tests.experts.conftest import EVAL, World, id_number


def data(world: World, **kw: Any) -> services.ExpertData:
    values: dict[str, Any] = {
        "name": "张工",
        "id_number": id_number(7, dt.date(1968, 2, 29)),
        "title": "教授级高级工程师",
        "title_level": "professor",
        "years_of_practice": 20,
        "employer_org_id": world.owner.id,
        "region": "南通市",
        "specialties": ["A010101", "A0601"],
        "phone": "13912345678",
    }
    values.update(kw)
    return services.ExpertData(**values)


def test_id_number_is_encrypted_hashed_and_masked(world: World) -> None:
    number = id_number(7, dt.date(1968, 2, 29))
    expert = services.register(data(world), actor=world.manager)
    assert expert.id_number_masked == number[:4] + "*" * 10 + number[-4:]
    assert number.encode() not in expert.id_number_enc
    assert expert.birth_date == dt.date(1968, 2, 29)
    assert services.find_by_id_number(number.lower()) is expert
    assert services.reveal_id_number(expert, actor=world.manager) == number
    with pytest.raises(Conflict):
        services.register(data(world, name="重复"), actor=world.manager)


@pytest.mark.parametrize(
    ("field", "value"),
    [("id_number", "320602196802290071"), ("specialties", ["Q1"]), ("phone", "123"), ("name", " ")],
)
def test_registration_validates(world: World, field: str, value: Any) -> None:
    with pytest.raises(DomainError) as exc:
        services.register(data(world, **{field: value}), actor=world.manager)
    assert field in exc.value.errors


def test_admission_requires_eight_years_and_a_senior_title_unless_excepted(world: World) -> None:
    junior = services.register(
        data(world, years_of_practice=5, title_level="intermediate"), actor=world.manager
    )
    with pytest.raises(DomainError) as exc:
        services.transition(junior, ExpertStatus.ACTIVE, actor=world.manager, reason="")
    assert set(exc.value.errors) == {"years_of_practice", "title_level"}
    junior.entry_exception, junior.exception_reason = True, "急需的稀缺专业"
    services.transition(junior, ExpertStatus.ACTIVE, actor=world.manager, reason="")
    assert junior.status == ExpertStatus.ACTIVE and junior.admitted_at is not None


def test_states_are_data_with_history(world: World) -> None:
    expert = services.register(data(world), actor=world.manager)
    services.transition(expert, ExpertStatus.ACTIVE, actor=world.manager, reason="")
    with pytest.raises(DomainError):
        services.transition(expert, ExpertStatus.SUSPENDED, actor=world.manager, reason="")  # reason needed
    services.transition(expert, ExpertStatus.SUSPENDED, actor=world.manager, reason="评标违规")
    services.transition(expert, ExpertStatus.REMOVED, actor=world.manager, reason="受贿")
    with pytest.raises(DomainError):
        services.transition(expert, ExpertStatus.ACTIVE, actor=world.manager, reason="")
    history = db.session.scalars(
        select(ExpertStatusChange.to_status)
        .where(ExpertStatusChange.expert_id == expert.id)
        .order_by(ExpertStatusChange.id)
    ).all()
    assert history == ["applicant", "active", "suspended", "removed"]


def test_ratings_move_the_credit_score_and_suspend_below_the_threshold(
    world: World, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "EXPERT_SUSPEND_BELOW", 95)
    world.pool(8)
    draw = world.request([Slot("A0101", 5, 0)])
    draws.witness(draw, "witness entropy", actor=world.regulator)
    db.session.refresh(draw)
    for seat in draw.seats:
        draws.respond(seat, accept=True, actor=None)
    seat = draw.seats[0]
    with pytest.raises(Exception):  # noqa: B017 - before the evaluation nobody may rate
        services.rate(seat, attendance=1, conduct=1, quality=1, note="", actor=world.staff)
    clock.freeze(EVAL + dt.timedelta(hours=5))
    good = services.rate(draw.seats[1], attendance=5, conduct=5, quality=5, note="", actor=world.staff)
    assert good.delta == 10 and draw.seats[1].expert.credit_score == 100
    bad = services.rate(seat, attendance=2, conduct=2, quality=3, note="迟到", actor=world.staff)
    assert bad.delta == -4 and seat.expert.credit_score == 96 and seat.expert.status == ExpertStatus.ACTIVE
    with pytest.raises(Conflict):
        services.rate(seat, attendance=2, conduct=2, quality=3, note="", actor=world.staff)
    services.discipline(seat.expert, deduction=3, note="未按时签到", actor=world.manager)
    assert seat.expert.credit_score == 93 and seat.expert.status == ExpertStatus.SUSPENDED
    # The tenderer rates only after the award.
    with pytest.raises(Exception):  # noqa: B017
        services.rate(draw.seats[2], attendance=4, conduct=4, quality=4, note="", actor=world.tenderer)
    world.section.status = "awarded"
    services.rate(draw.seats[2], attendance=4, conduct=4, quality=4, note="", actor=world.tenderer)
    assert draw.seats[2].status == SeatStatus.CONFIRMED


def test_leave_and_conflicts_are_kept_by_the_expert(world: World) -> None:
    expert = world.expert()
    with pytest.raises(DomainError):
        services.add_leave(expert, dt.date(2026, 3, 9), dt.date(2026, 3, 8), "", actor=world.manager)
    for typo in (dt.date(1, 1, 1), dt.date(2026, 3, 1)):  # a leave in the past changes no draw: refused
        with pytest.raises(DomainError) as err:
            services.add_leave(expert, typo, dt.date(2026, 3, 9), "", actor=world.manager)
        assert err.value.errors == {"starts_on": ["请假自今天或以后开始。"]}
    leave = services.add_leave(expert, dt.date(2026, 3, 2), dt.date(2026, 3, 9), "出差", actor=world.manager)
    services.remove_leave(leave, actor=world.manager)
    db.session.flush()
    assert expert.leaves == [] or all(lv.id != leave.id for lv in expert.leaves)
    with pytest.raises(DomainError):
        services.update_contact(expert, phone="12", email=None, actor=world.manager)


def test_specialty_loader_accepts_the_national_list_format(world: World, tmp_path: Path) -> None:
    assert db.session.get(Specialty, "A010101").level == 4  # type: ignore[union-attr]
    full = tmp_path / "national.csv"
    full.write_text(
        "专业代码,专业名称,层级,上级代码\nA,工程,1,\nA01,房屋建筑工程,2,A\nA0199,新增专业,3,A01\n",
        encoding="utf-8-sig",
    )
    counts = specialties.load(specialties.read_file(full), actor=None)
    assert counts["added"] == 1
    assert db.session.get(Specialty, "A0199").parent_code == "A01"  # type: ignore[union-attr]
    assert not db.session.get(Specialty, "B01").is_active  # type: ignore[union-attr]
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name\nA01,x\nA0101,\nX1,y\n", encoding="utf-8")
    with pytest.raises(DomainError) as exc:
        specialties.read_file(bad)
    assert len(exc.value.errors["file"]) == 3  # empty name, bad code, missing parent A


def test_shipped_file_is_a_consistent_hierarchy() -> None:
    rows = specialties.read_file(specialties.DEFAULT_FILE)
    assert {r.code[0] for r in rows} == {"A", "B", "C"}
    assert {r.level for r in rows} == {1, 2, 3, 4}
    assert len(rows) >= 50


def test_expert_link_to_account(world: World) -> None:
    from app.core.permissions import OrgKind, Role
    from tests.experts.conftest import quick_user
    from tests.factories import make_org

    employer = make_org(OrgKind.EXPERT_EMPLOYER)
    user = quick_user(Role.EXPERT, employer)
    expert = services.register(data(world, employer_org_id=employer.id), actor=user, user=user)
    assert services.expert_of(user) is expert and isinstance(expert, Expert)


def test_cli_load_specialties_import_and_sweep(world: World, app: Any, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["experts", "load-specialties"])
    assert result.exit_code == 0, result.output
    csv = tmp_path / "pool.csv"
    csv.write_text(
        "姓名,身份证号,职称,职称级别,从业年限,工作单位,专业\n"
        f"李工,{id_number(901)},高级工程师,副高级,10,某设计院,A010101\n"
        f"王工,{id_number(902)},工程师,中级,3,某设计院,A010101\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["experts", "import", str(csv)])
    assert result.exit_code == 1 and "line 3" in result.output
    assert runner.invoke(args=["experts", "sweep"]).exit_code == 0
