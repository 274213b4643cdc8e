"""Bulk import: a 1,000-row XLSX with 20 bad rows reports exactly those 20 problems and imports nothing;
the fixed file imports everything; a re-import updates by ID number without duplicates."""

from __future__ import annotations

import datetime as dt
import io
import time
from typing import Any

import openpyxl
from sqlalchemy import func, select

from app.core.db import db
from app.experts import importer
from app.experts.models import Expert
from tests.experts.conftest import World, id_number

HEADER = [
    "姓名",
    "身份证号",
    "职称",
    "职称级别",
    "从业年限",
    "工作单位",
    "地区",
    "专业",
    "手机",
    "邮箱",
    "破格",
    "破格理由",
]


def good_row(i: int) -> list[Any]:
    return [
        f"导入专家{i}",
        id_number(i, dt.date(1970, 1, 1)),
        "高级工程师",
        "副高级",
        10 + i % 20,
        f"南通市第{i % 40}设计院",
        "南通市",
        "A010101;A0601" if i % 3 else "B0201",
        f"139{i:08d}",
        f"e{i}@example.cn",
        "",
        "",
    ]


# (column index, bad value, field reported): 20 kinds of mistakes, one per bad row.
BAD = [
    (0, "", "name"),
    (1, "32060219750615001", "id_number"),  # 17 digits
    (1, "320602197506150010", "id_number"),  # wrong check digit
    (3, "特级", "title_level"),
    (4, "abc", "years_of_practice"),
    (4, 5, "years_of_practice"),  # < 8 without exception
    (3, "中级", "title_level"),  # not senior without exception
    (5, "", "employer"),
    (7, "", "specialties"),
    (7, "Z9901", "specialties"),
    (7, "A0101;A0101", "specialties"),
    (8, "12345", "phone"),
    (9, "not-an-email", "email"),
    (10, "是", "exception_reason"),  # exception without a reason
    (2, "", "title"),
    (4, 99, "years_of_practice"),
    (8, "2139000000000", "phone"),
    (9, "a@b", "email"),
    (7, "D01", "specialties"),
    (1, "320602197513450012", "id_number"),  # month 13
]


def workbook(rows: list[list[Any]]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def rows_with_mistakes() -> tuple[list[list[Any]], dict[int, str]]:
    rows = [good_row(i) for i in range(1000)]
    expected: dict[int, str] = {}
    for k, (col, value, field) in enumerate(BAD):
        i = 17 + k * 49
        rows[i][col] = value
        expected[i + 2] = field  # header is line 1
    return rows, expected


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Expert)) or 0


def test_thousand_rows_with_twenty_mistakes(world: World) -> None:
    rows, expected = rows_with_mistakes()
    before = count()
    started = time.perf_counter()
    report = importer.run("experts.xlsx", workbook(rows), dry_run=False, actor=world.manager)
    took = time.perf_counter() - started
    assert {(p.line, p.field) for p in report.problems} == set(expected.items())
    assert len(report.problems) == 20
    assert count() == before  # all or nothing
    assert took < 15, took

    fixed = [good_row(i) for i in range(1000)]
    dry = importer.run("experts.xlsx", workbook(fixed), dry_run=True, actor=world.manager)
    assert dry.ok and dry.created == 1000 and count() == before
    started = time.perf_counter()
    done = importer.run("experts.xlsx", workbook(fixed), dry_run=False, actor=world.manager)
    assert done.ok and done.created == 1000 and done.updated == 0
    assert count() == before + 1000
    assert time.perf_counter() - started < 20
    assert len(done.new_employers) == 40


def test_reimport_updates_by_id_number_without_duplicates(world: World) -> None:
    rows = [good_row(i) for i in range(30)]
    data = workbook(rows)
    importer.run("a.xlsx", data, dry_run=False, actor=world.manager)
    before = count()
    rows[3][8] = "13700000003"
    rows[4][7] = "B0201;A010101"
    report = importer.run("a.xlsx", workbook(rows), dry_run=False, actor=world.manager)
    assert report.ok and report.created == 0 and report.updated == 30
    assert count() == before
    from app.experts import services

    third = services.find_by_id_number(rows[3][1])
    fourth = services.find_by_id_number(rows[4][1])
    assert third is not None and third.phone == "13700000003"
    assert fourth is not None and fourth.primary_specialty == "B0201"


def test_csv_with_duplicate_id_in_the_file(world: World) -> None:
    lines = [",".join(HEADER)]
    for i in (1, 2, 1):
        lines.append(",".join(str(c) for c in good_row(i)))
    report = importer.run("a.csv", "\n".join(lines).encode("utf-8-sig"), dry_run=True, actor=world.manager)
    assert [(p.line, p.field) for p in report.problems] == [(4, "id_number")]


def test_missing_columns_are_reported(world: World) -> None:
    report = importer.run(
        "a.csv", "姓名,手机\n张三,13800000000\n".encode(), dry_run=True, actor=world.manager
    )
    assert {p.field for p in report.problems} >= {"id_number", "specialties", "employer"}


def test_reimport_before_the_data_key_rotation_finds_experts_stored_under_the_retired_key(
    app: Any, world: World, monkeypatch: Any
) -> None:
    """Between switching DATA_KEY and `flask keys rotate-data` the stored ID hashes are under the old key:
    a re-import updates those experts instead of creating duplicates."""
    rows = [good_row(i) for i in range(5)]
    importer.run("a.xlsx", workbook(rows), dry_run=False, actor=world.manager)
    before = count()
    monkeypatch.setitem(app.config, "DATA_KEYS_RETIRED", [app.config["DATA_KEY"]])
    monkeypatch.setitem(app.config, "DATA_KEY", "rotated-data-key-" + "c" * 32)
    rows[2][8] = "13700000002"
    report = importer.run("a.xlsx", workbook(rows), dry_run=False, actor=world.manager)
    assert report.ok and report.created == 0 and report.updated == 5
    assert count() == before
    from app.experts import services

    updated = services.find_by_id_number(rows[2][1])
    assert updated is not None and updated.phone == "13700000002"
