"""Bulk open data: every section as OCDS release and record packages in publication order with cursor paging
and ``since``; the daily JSON Lines bulk file with its SHA-256 and signed manifest; the China extension
(bid security, opening items, evaluation method) declared, served and valid against the extended schema."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask.testing import FlaskClient
from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from app.core.clock import clock
from app.portal import bulk
from app.projects import services
from tests.portal.conftest import T0, Portal
from tests.portal.test_open_data import RELEASE_URL, _errors, _load, build_validators

EXTENSION = Path(__file__).resolve().parents[2] / "app" / "portal" / "ocds_extension"


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch: how OCDS applies an extension's release-schema.json."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge_patch(out.get(key), value)
    return out


def _extended_validator() -> Draft4Validator:
    """The release package validator with the China extension merged into the release schema."""
    release = _merge_patch(
        copy.deepcopy(_load("release-schema.json")),
        json.loads((EXTENSION / "release-schema.json").read_text()),
    )
    registry: Registry = Registry().with_resources(
        [
            (url, Resource.from_contents(release, default_specification=DRAFT4))
            for url in (RELEASE_URL, release["id"])
        ]
    )
    return Draft4Validator(
        _load("release-package-schema.json"), registry=registry, format_checker=FormatChecker()
    )


def _get(client: FlaskClient, url: str) -> Any:
    parts = urlsplit(url)
    resp = client.get(parts.path + ("?" + parts.query if parts.query else ""))
    resp.get_data()  # read (and keep) the body, then release a served file
    resp.close()
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return resp


def test_release_packages_page_through_every_section_in_publication_order(
    portal: Portal, client: FlaskClient
) -> None:
    published = [portal.publish(name=f"批量标段{i}") for i in range(5)]
    published.append(portal.publish(portal.goods, name="批量货物包"))
    validator = _extended_validator()
    plain = build_validators()["release-package"]
    ocids: list[str] = []
    url = "/api/v1/public/ocds/release-package?limit=2"
    pages = 0
    while url:
        resp = _get(client, url)
        package = resp.get_json()
        assert _errors(plain, package) == [] and _errors(validator, package) == []
        assert resp.headers["X-Next-Cursor"]
        ocids += [r["ocid"] for r in package["releases"]]
        url = package.get("links", {}).get("next")
        if url:
            assert resp.headers["Link"] == f'<{url}>; rel="next"'
        pages += 1
    mine = [
        ocid for ocid in ocids if ocid.rsplit("-", 1)[-1] in {s.code.rsplit("-", 1)[-1] for s in published}
    ]
    assert len(ocids) == len(set(ocids)) and pages >= 3
    assert [o for o in ocids if any(o.endswith(s.code) for s in published)] == [
        o for s in published for o in ocids if o.endswith(s.code)
    ]  # publication order
    assert len(mine) >= len(published)
    # the China extension: declared, served, and carrying the fields
    first = _get(client, "/api/v1/public/ocds/release-package?limit=100").get_json()
    assert any(e.endswith("/api/v1/public/ocds/extension/extension.json") for e in first["extensions"])
    works = next(r for r in first["releases"] if r["ocid"].endswith(published[0].code))
    assert works["tender"]["bidSecurity"] == {"amount": 200000.0, "currency": "CNY"}
    assert [i["id"] for i in works["tender"]["openingItems"]] == ["price", "duration"]
    assert works["tender"]["evaluationMethod"]["id"] == published[0].evaluation_method
    ext = _get(client, "/api/v1/public/ocds/extension/extension.json").get_json()
    assert ext["schemas"] == ["release-schema.json"] and "1.1" in ext["compatibility"]
    assert (
        "bidSecurity"
        in _get(client, "/api/v1/public/ocds/extension/release-schema.json").get_json()["definitions"][
            "Tender"
        ]["properties"]
    )
    assert client.get("/api/v1/public/ocds/extension/..%2Fapi.py").status_code == 404


def test_extension_check_is_not_vacuous(portal: Portal, client: FlaskClient) -> None:
    portal.publish(name="扩展校验标段")
    package = _get(client, "/api/v1/public/ocds/release-package?limit=100").get_json()
    package["releases"][0]["tender"]["openingItems"] = [{"id": "favourite_colour", "title": "x"}]
    package["releases"][0]["tender"]["bidSecurity"] = {"amount": "lots"}
    messages = " ".join(_errors(_extended_validator(), package))
    assert "favourite_colour" in messages and "'lots' is not of type" in messages


def test_since_keeps_only_what_changed_and_records_page_alike(portal: Portal, client: FlaskClient) -> None:
    old = portal.publish(name="旧标段")
    changed = portal.publish(name="改过的标段")
    clock.freeze(T0 + dt.timedelta(days=5))
    services.publish_amendment(
        changed, actor=portal.agent, title="澄清", body="答疑澄清。", affects_bids=False
    )
    since = (T0 + dt.timedelta(days=4)).isoformat()
    resp = client.get("/api/v1/public/ocds/release-package", query_string={"limit": 100, "since": since})
    ocids = [r["ocid"] for r in resp.get_json()["releases"]]
    assert any(o.endswith(changed.code) for o in ocids) and not any(o.endswith(old.code) for o in ocids)
    records = client.get("/api/v1/public/ocds/record-package", query_string={"limit": 100}).get_json()
    assert _errors(build_validators()["record-package"], records) == []
    assert {r["ocid"] for r in records["records"]} >= {o for o in ocids}
    bad = client.get("/api/v1/public/ocds/release-package", query_string={"since": "yesterday"})
    assert bad.status_code == 422 and bad.get_json()["code"]
    naive = client.get("/api/v1/public/ocds/release-package", query_string={"since": "2026-03-01T00:00:00"})
    assert naive.status_code == 422  # an instant needs its offset


def test_daily_bulk_file_matches_its_signed_manifest(portal: Portal, client: FlaskClient, app: Any) -> None:
    sections = [portal.publish(name=f"日包标段{i}") for i in range(3)]
    with app.test_request_context():
        manifest = bulk.write_daily(dt.date(2026, 3, 2))
        again = bulk.write_daily(dt.date(2026, 3, 2))
    assert again["sha256"] == manifest["sha256"]  # same data, same bytes (no time or name in the gzip header)
    index = _get(client, "/api/v1/public/ocds/bulk").get_json()["data"]
    entry = next(m for m in index if m["day"] == "2026-03-02")
    data = _get(client, entry["url"]).data
    assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
    lines = gzip.decompress(data).decode().splitlines()
    assert len(lines) == entry["releases"] >= len(sections)
    releases = [json.loads(line) for line in lines]
    assert all(any(r["ocid"].endswith(s.code) for r in releases) for s in sections)
    package = {
        "uri": entry["url"],
        "version": "1.1",
        "publisher": {"name": "x"},
        "publishedDate": "2026-03-02T00:00:00Z",
    }
    package["releases"] = releases
    assert _errors(_extended_validator(), package) == []

    key = next(k for k in _get(client, "/api/v1/audit/keys").get_json() if k["current"])
    raw = base64.b64decode(key["public_key"])
    assert hashlib.sha256(raw).hexdigest() == entry["key_sha256"]
    public = Ed25519PublicKey.from_public_bytes(raw)
    signed = _get(client, entry["manifest_url"]).get_json()
    assert bulk.verify_manifest(signed, public)
    tampered = dict(signed, releases=signed["releases"] + 1)
    assert not bulk.verify_manifest(tampered, public)
    assert not bulk.verify_manifest(dict(signed, signature={"alg": "Ed25519", "value": "AAAA"}), public)
    # outside the bulk folder nothing is served
    for name in ("..%2Fplatform.db", "ocds-releases-2026-03-02.txt", "secrets.json"):
        assert client.get(f"/api/v1/public/ocds/bulk/{name}").status_code == 404


def test_bulk_command_writes_the_day(portal: Portal, app: Any) -> None:
    portal.publish(name="命令行标段")
    result = app.test_cli_runner().invoke(args=["portal", "ocds-bulk", "--day", "2026-03-03"])
    assert result.exit_code == 0, result.output
    assert "ocds-releases-2026-03-03.jsonl.gz" in result.output
    with app.test_request_context():
        assert bulk.bulk_path("ocds-releases-2026-03-03.manifest.json") is not None
