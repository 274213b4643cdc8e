"""Open data: the cursor crawl never skips or repeats a section while sections are published during the
crawl; section detail; OCDS 1.1 release and record packages validate against the OCDS schema with zero
errors.

The OCDS schemas are vendored under ``data/ocds/`` so the test runs offline (libcoveocds downloads the
standard and extensions at run time, which a CI machine without network cannot do):

* ``release-schema.json`` — OCDS 1.1.4 release schema (Apache-2.0, from the ocdsmerge test fixtures), with
  the Lots extension (ocds_lots_extension v1.1.5: ``Lot``, ``tender.lots``, ``relatedLot(s)``) merged in as
  the extension's JSON Merge Patch does;
* ``release-package-schema.json`` — OCDS 1.1.5 (from the ocdskit test fixtures);
* ``record-package-schema.json`` — OCDS 1.1.5, its inlined release schema replaced by a ``$ref``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from app.core.clock import clock
from app.projects import services
from tests.portal.conftest import T0, Portal, cst

DATA = Path(__file__).parent / "data" / "ocds"
RELEASE_URL = "https://standard.open-contracting.org/schema/1__1__5/release-schema.json"


def _load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validators() -> dict[str, Draft4Validator]:
    return build_validators()


def build_validators() -> dict[str, Draft4Validator]:
    """Validators for OCDS release and record packages (also used by the evaluation lifecycle test)."""
    release = _load("release-schema.json")
    registry: Registry = Registry().with_resources(
        [
            (RELEASE_URL, Resource.from_contents(release, default_specification=DRAFT4)),
            (release["id"], Resource.from_contents(release, default_specification=DRAFT4)),
        ]
    )
    return {
        name: Draft4Validator(_load(f"{name}-schema.json"), registry=registry, format_checker=FormatChecker())
        for name in ("release-package", "record-package")
    }


def _errors(validator: Draft4Validator, data: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]


def _crawl(client: FlaskClient, cursor: str | None, limit: int) -> dict[str, Any]:
    query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
    resp = client.get(f"/api/v1/public/sections{query}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data: dict[str, Any] = resp.get_json()
    return data


def test_cursor_crawl_never_skips_or_repeats_while_sections_are_published(
    portal: Portal, client: FlaskClient
) -> None:
    first = [portal.publish(name=f"批次一-{i}") for i in range(3)]
    seen: list[int] = []
    page = _crawl(client, None, 2)
    seen += [item["id"] for item in page["data"]]
    assert page["has_more"] is True

    # While the crawler holds its cursor: more sections are published, one already seen is amended, a
    # draft is created. And a publication whose timestamp is *older* than what the crawler has seen (a
    # slow transaction committing late): ordering by published_at would skip it; the commit order does not.
    clock.freeze(T0 + dt.timedelta(hours=2))
    later = [portal.publish(name=f"批次二-{i}") for i in range(2)]
    clock.freeze(T0 - dt.timedelta(hours=1))
    late_commit = portal.publish(
        name="迟提交",
        docs_available_from=cst(2026, 3, 2, 8, 0),
    )
    clock.freeze(T0 + dt.timedelta(hours=3))
    services.publish_amendment(first[0], actor=portal.agent, title="澄清一", body="说明", affects_bids=False)
    portal.draft(name="草稿")

    cursor = page["next_cursor"]
    while True:
        page = _crawl(client, cursor, 2)
        seen += [item["id"] for item in page["data"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    expected = [s.id for s in (*first, *later, late_commit)]
    assert len(seen) == len(set(seen)), "a section was repeated"
    assert seen == expected, "publication (commit) order, nothing skipped"

    # The last cursor is a resume token: polling with it later yields only what was published since.
    assert _crawl(client, cursor, 10)["data"] == []
    newest = portal.publish(name="之后发布")
    assert [item["id"] for item in _crawl(client, cursor, 10)["data"]] == [newest.id]


def test_cursor_items_are_ordered_by_publication_sequence(portal: Portal, client: FlaskClient) -> None:
    for i in range(4):
        portal.publish(name=f"序列{i}")
    data = _crawl(client, None, 100)["data"]
    seqs = [item["seq"] for item in data]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_bad_cursor_and_limit_are_422_in_the_error_shape(client: FlaskClient) -> None:
    for query in ("?cursor=not-a-cursor", "?cursor=djI6MQ", "?limit=0", "?limit=1000"):
        resp = client.get(f"/api/v1/public/sections{query}")
        assert resp.status_code == 422, query
        body = resp.get_json()
        assert set(body) == {"code", "status", "message", "errors"}


def test_section_detail_api(portal: Portal, client: FlaskClient) -> None:
    section = portal.publish(name="接口标段")
    body = client.get(f"/api/v1/public/sections/{section.id}").get_json()
    assert body["code"] == section.code and body["status"] == "published"
    assert body["ceiling_price"] == "9800000.00"
    assert body["ocid"].startswith("ocds-ggzy01-")
    assert [d["sha256"] for d in body["documents"]] == [section.documents[0].sha256]
    assert body["timeline"][-1]["to_status"] == "published"
    assert {p["role"] for p in body["parties"]} == {"tenderer", "agency"}
    assert client.get("/api/v1/public/sections/999999").status_code == 404


def test_catalogue_api(portal: Portal, client: FlaskClient) -> None:
    body = client.get("/api/v1/public/catalogue").get_json()
    assert body["status"] == "published"
    codes = {i["code"]: i for i in body["items"]}
    assert codes["ZC-01"]["sale_day_unit"] == "working"
    history = client.get("/api/v1/public/catalogue/versions").get_json()["data"]
    assert [v["number"] for v in history] == [portal.catalogue.number]


def test_ocds_release_and_record_packages_are_valid(
    portal: Portal, client: FlaskClient, validators: dict[str, Draft4Validator]
) -> None:
    plain = portal.publish(portal.goods, name="课桌椅包")
    amended = portal.publish(name="道路标段")
    cancelled = portal.publish(name="终止标段")
    clock.freeze(T0 + dt.timedelta(days=10))
    services.publish_amendment(
        amended,
        actor=portal.agent,
        title="关于工期的修改",
        body="工期调整。",
        affects_bids=True,
        notice_text=amended.notice_text + "四、工期：300 日历天\n",
    )
    services.cancel_section(cancelled, actor=portal.agent, reason="规划调整")

    for section in (plain, amended, cancelled):
        release_pkg = client.get(f"/api/v1/public/sections/{section.id}/ocds/release-package").get_json()
        record_pkg = client.get(f"/api/v1/public/sections/{section.id}/ocds/record-package").get_json()
        assert _errors(validators["release-package"], release_pkg) == []
        assert _errors(validators["record-package"], record_pkg) == []

        release = release_pkg["releases"][0]
        assert re.fullmatch(r"ocds-[a-z0-9]{6}-.+", release["ocid"])
        assert release["ocid"] == record_pkg["records"][0]["ocid"]
        tender = release["tender"]
        assert tender["procurementMethod"] == "open"
        assert tender["lots"][0]["id"] == section.code
        assert tender["tenderPeriod"]["endDate"]
        assert all("SHA-256: " in d["description"] for d in tender["documents"])
        roles = {role for party in release["parties"] for role in party["roles"]}
        assert {"buyer", "procuringEntity"} <= roles
        assert release_pkg["extensions"]

    goods = client.get(f"/api/v1/public/sections/{plain.id}/ocds/release-package").get_json()["releases"][0]
    assert goods["tender"]["mainProcurementCategory"] == "goods"
    works = client.get(f"/api/v1/public/sections/{amended.id}/ocds/release-package").get_json()["releases"][0]
    assert works["tender"]["mainProcurementCategory"] == "works"
    assert works["tag"] == ["tenderAmendment"]
    assert [a["id"] for a in works["tender"]["amendments"]] == ["1"]
    assert len(works["tender"]["documents"]) == 1
    url = f"/api/v1/public/sections/{cancelled.id}/ocds/release-package"
    gone = client.get(url).get_json()["releases"][0]
    assert gone["tender"]["status"] == "cancelled" and gone["tag"] == ["tenderCancellation"]


def test_ocds_schema_check_is_not_vacuous(validators: dict[str, Draft4Validator]) -> None:
    when = "2026-01-01T00:00:00Z"
    release = {"ocid": "ocds-ggzy01-1", "id": "1", "date": when, "tag": ["tender"]}
    release["tender"] = {"id": "1", "status": "open-ish", "lots": [{"title": "no id"}]}
    broken = {"uri": "x", "version": "1.1", "publisher": {"name": "x"}, "publishedDate": when}
    broken["releases"] = [release]
    messages = " ".join(_errors(validators["release-package"], broken))
    assert "initiationType" in messages and "open-ish" in messages
    assert "'id' is a required property" in messages


def test_ocds_prefix_is_configurable(portal: Portal, client: FlaskClient, app: Any) -> None:
    section = portal.publish(name="前缀标段")
    app.config["OCDS_PREFIX"] = "ocds-abc123"
    try:
        release = client.get(f"/api/v1/public/sections/{section.id}/ocds/release-package").get_json()
    finally:
        app.config["OCDS_PREFIX"] = "ocds-ggzy01"
    assert release["releases"][0]["ocid"] == f"ocds-abc123-{section.code}"
