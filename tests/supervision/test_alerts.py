"""Each alert rule fires on a crafted case and stays silent on a clean one; alerts are stored once, audited,
and decided (acknowledge, escalate, dismiss) by a regulator."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from typing import Any

import pytest
from flask import Flask

from app.core.clock import clock
from app.core.db import db
from app.core.errors import Conflict, DomainError
from app.core.models import AuditLeaf
from app.projects.models import Amendment
from app.supervision import alerts, services
from app.supervision.enums import AlertRule, AlertStatus
from app.supervision.models import SupervisionAlert
from tests.supervision.conftest import T0, Scene, bidder, envelope, opening_record

R = AlertRule


def rules_fired(section: Any) -> set[AlertRule]:
    return {f.rule for f in alerts.findings(section)}


def honest(scene: Scene, n: int = 4) -> tuple[Any, list[Any]]:
    """An opened section with ``n`` unrelated bidders: different IPs, machines, contacts, files, prices."""
    section = scene.section("opened")
    users = [bidder(phone=f"1380000{i:04d}", email=f"b{i}@example.com") for i in range(n)]
    for user in users:
        envelope(section, user)
    prices = ["8812345.00", "9153020.50", "9420000.00", "8650100.00"][:n]
    managers = ["张三", "李四", "王五", "赵六"][:n]
    opening_record(
        section,
        scene.staff,
        [(u, {"price": p, "project_manager": m}) for u, p, m in zip(users, prices, managers, strict=True)],
    )
    return section, users


def test_honest_section_raises_nothing(scene: Scene) -> None:
    section, _ = honest(scene)
    assert rules_fired(section) == set()


@pytest.mark.parametrize(
    ("rule", "field", "value"),
    [
        (R.SAME_SOURCE_IP, "source_ip", "198.51.100.7"),
        (R.SAME_FINGERPRINT, "client_fingerprint", "MAC=00:11:22;CPU=BFEBFBFF;DISK=WD-123"),
    ],
)
def test_shared_upload_machine_or_address(scene: Scene, rule: AlertRule, field: str, value: str) -> None:
    section, users = honest(scene)
    envelope(section, users[0], **{field: value, "name": "doc-a", "kind": "document"})
    envelope(section, users[2], **{field: value, "name": "doc-b", "kind": "document"})
    found = [f for f in alerts.findings(section) if f.rule is rule]
    assert len(found) == 1
    assert found[0].evidence["org_ids"] == sorted([users[0].org_id, users[2].org_id])


def test_same_address_within_one_bidder_is_not_an_alert(scene: Scene) -> None:
    section, users = honest(scene)
    envelope(section, users[1], source_ip="198.51.100.9", name="doc-1", kind="document")
    envelope(section, users[1], source_ip="198.51.100.9", name="doc-2", kind="document")
    assert R.SAME_SOURCE_IP not in rules_fired(section)


def test_rules_wait_for_the_bid_deadline(scene: Scene) -> None:
    section = scene.section("published", deadline=T0 + dt.timedelta(days=3))
    a, b = bidder(), bidder()
    envelope(section, a, source_ip="198.51.100.7")
    envelope(section, b, source_ip="198.51.100.7")
    assert rules_fired(section) == set()  # before the deadline an alert would reveal who bids


def test_same_signing_key(scene: Scene) -> None:
    from app.bidding.models import BidderKey

    section, users = honest(scene)
    key = BidderKey(
        org_id=users[0].org_id,
        key_id="k" * 16,
        public_key="QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=",
        valid_from=T0 - dt.timedelta(days=30),
        created_by=users[0].id,
    )
    db.session.add(key)
    db.session.flush()
    envelope(section, users[0], signing_key_id=key.id, name="signed-a", kind="document")
    envelope(section, users[1], signing_key_id=key.id, name="signed-b", kind="document")
    assert R.SAME_SIGNING_KEY in rules_fired(section)


def test_same_contact_details(scene: Scene) -> None:
    section, _ = honest(scene)
    agent_a = bidder(phone="139 1234 5678")
    agent_b = bidder(phone="13912345678")
    envelope(section, agent_a)
    envelope(section, agent_b)
    found = [f for f in alerts.findings(section) if f.rule is R.SAME_CONTACT]
    assert len(found) == 1 and found[0].evidence["org_ids"] == sorted([agent_a.org_id, agent_b.org_id])


def test_identical_document_hashes(scene: Scene) -> None:
    section, users = honest(scene)
    envelope(section, users[0], sha256="ab" * 32, name="tech", kind="document")
    envelope(section, users[3], sha256="ab" * 32, name="tech", kind="document")
    assert R.SAME_DOCUMENT_HASH in rules_fired(section)


def _docx(author: str, company: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr(
            "docProps/core.xml",
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<dc:creator>{author}</dc:creator><cp:lastModifiedBy>{author}</cp:lastModifiedBy></cp:coreProperties>",
        )
        zf.writestr(
            "docProps/app.xml",
            '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
            f"<Company>{company}</Company></Properties>",
        )
    return buf.getvalue()


def test_identical_document_metadata(scene: Scene, app: Flask) -> None:
    section, users = honest(scene)
    files = {}
    for i, (user, author, company) in enumerate(
        [(users[0], "王工", "某某造价咨询"), (users[1], "王工", "某某造价咨询"), (users[2], "李工", "乙公司")]
    ):
        env = envelope(section, user, name=f"tech-{i}", kind="document", plaintext_path=f"opened/{i}")
        files[env.id] = _docx(author, company)
    app.extensions["supervision_document_reader"] = lambda env: files.get(env.id)
    try:
        found = [f for f in alerts.findings(section) if f.rule is R.SAME_DOCUMENT_METADATA]
    finally:
        del app.extensions["supervision_document_reader"]
    assert {f.evidence["value"] for f in found} == {
        "author:王工",
        "last_modified_by:王工",
        "company:某某造价咨询",
    }
    assert all(f.evidence["org_ids"] == sorted([users[0].org_id, users[1].org_id]) for f in found)


def test_prices_in_arithmetic_progression(scene: Scene) -> None:
    section = scene.section("opened")
    users = [bidder() for _ in range(4)]
    opening_record(
        section,
        scene.staff,
        [(u, {"price": p}) for u, p in zip(users, ["9100000", "9200000", "9300000", "8123456"], strict=True)],
    )
    found = [f for f in alerts.findings(section) if f.rule is R.PRICE_PROGRESSION]
    assert len(found) == 1 and found[0].evidence["prices"] == ["9100000", "9200000", "9300000"]


def test_prices_abnormally_close(scene: Scene) -> None:
    section = scene.section("opened")
    users = [bidder() for _ in range(3)]
    opening_record(
        section,
        scene.staff,
        [(u, {"price": p}) for u, p in zip(users, ["9000000", "9000100", "9400000"], strict=True)],
    )
    found = [f for f in alerts.findings(section) if f.rule is R.PRICE_CLOSE]
    assert len(found) == 1 and found[0].evidence["org_ids"] == sorted([users[0].org_id, users[1].org_id])


def test_same_project_manager(scene: Scene) -> None:
    section = scene.section("opened")
    users = [bidder() for _ in range(3)]
    opening_record(
        section,
        scene.staff,
        [
            (users[0], {"price": "8800000", "project_manager": "陈 建国"}),
            (users[1], {"price": "9350000", "project_manager": "陈建国"}),
            (users[2], {"price": "9700000", "project_manager": "周敏"}),
        ],
    )
    assert R.SAME_PROJECT_MANAGER in rules_fired(section)


def _amendment(scene: Scene, section: Any, *, days_before: int, affects: bool = True) -> None:
    db.session.add(
        Amendment(
            section_id=section.id,
            number=1,
            title="澄清",
            body="改",
            affects_bids=affects,
            notice_text="",
            diff="",
            published_at=section.bid_deadline - dt.timedelta(days=days_before),
            published_by=scene.tenderer.id,
        )
    )
    db.session.flush()


def test_amendment_inside_15_days(scene: Scene) -> None:
    late = scene.section("opened")
    _amendment(scene, late, days_before=10)
    assert R.LATE_AMENDMENT in rules_fired(late)
    on_time = scene.section("opened")
    _amendment(scene, on_time, days_before=16)
    assert R.LATE_AMENDMENT not in rules_fired(on_time)
    harmless = scene.section("opened")
    _amendment(scene, harmless, days_before=2, affects=False)
    assert R.LATE_AMENDMENT not in rules_fired(harmless)


def _draw(scene: Scene, section: Any, *, cancelled: bool) -> None:
    from app.experts.models import ExpertDraw

    db.session.add(
        ExpertDraw(
            section_id=section.id,
            requested_by=scene.staff.id,
            requested_at=T0,
            evaluation_starts_at=T0 + dt.timedelta(hours=2),
            panel_size=5,
            pool_seats=4,
            composition=[],
            region_scope="local",
            region="南通",
            status="cancelled" if cancelled else "drawn",
            cancelled_at=T0 if cancelled else None,
            cancel_reason="不足" if cancelled else None,
        )
    )
    db.session.flush()


def test_repeated_draws(scene: Scene) -> None:
    section = scene.section("opened")
    _draw(scene, section, cancelled=True)
    assert R.REPEATED_DRAWS not in rules_fired(section)
    _draw(scene, section, cancelled=False)
    assert R.REPEATED_DRAWS in rules_fired(section)


def _shares(scene: Scene, section: Any, submitted: list[dt.timedelta | None]) -> None:
    from app.bidding.models import OpeningCeremony, OpeningKeyShare, SubmittedShare

    ceremony = OpeningCeremony(
        section_id=section.id, status="collecting", started_by=scene.staff.id, started_at=section.bid_deadline
    )
    db.session.add(ceremony)
    db.session.flush()
    custodians = [scene.staff, scene.regulator, scene.tenderer]
    for i, delay in enumerate(submitted, start=1):
        share = OpeningKeyShare(
            section_id=section.id,
            custodian_id=custodians[i - 1].id,
            member_index=i,
            share_set_id=7,
            custodian_recipient="age1test",
            ciphertext=b"x",
        )
        db.session.add(share)
        db.session.flush()
        if delay is not None:
            db.session.add(
                SubmittedShare(
                    ceremony_id=ceremony.id,
                    key_share_id=share.id,
                    submitted_by=custodians[i - 1].id,
                    submitted_at=section.bid_deadline + delay,
                )
            )
    db.session.flush()


def test_late_and_missing_key_shares(scene: Scene) -> None:
    ok = scene.section("opening")
    _shares(scene, ok, [dt.timedelta(minutes=2), dt.timedelta(minutes=5), dt.timedelta(minutes=9)])
    assert R.KEY_SHARES_LATE not in rules_fired(ok)
    bad = scene.section("opening")
    _shares(scene, bad, [dt.timedelta(minutes=2), dt.timedelta(minutes=45), None])
    keys = sorted(f.key.split(":")[0] for f in alerts.findings(bad) if f.rule is R.KEY_SHARES_LATE)
    assert keys == ["late", "missing"]


def _case(scene: Scene, section: Any, *, due: dt.datetime, decided: bool = False) -> None:
    from app.complaints.models import Case

    complainant = bidder()
    db.session.add(
        Case(
            kind="complaint",
            status="rejected" if decided else "accepted",
            section_id=section.id,
            filer_id=complainant.id,
            filed_at=due - dt.timedelta(days=40),
            due_at=due,
            decided_at=due - dt.timedelta(days=1) if decided else None,
        )
    )
    db.session.flush()


def test_overdue_case(scene: Scene) -> None:
    section = scene.section("evaluating")
    _case(scene, section, due=T0 + dt.timedelta(days=3))
    _case(scene, section, due=T0 - dt.timedelta(days=3), decided=True)
    assert R.OVERDUE_CASE not in rules_fired(section)
    _case(scene, section, due=T0 - dt.timedelta(days=1))
    assert R.OVERDUE_CASE in rules_fired(section)


def test_every_rule_is_covered_and_cites_its_basis() -> None:
    assert set(alerts.RULE_FUNCTIONS) == set(AlertRule)
    assert all(basis for basis, _ in alerts.RULES.values())
    assert alerts.RULES[R.SAME_PROJECT_MANAGER][0] == "条例 Art. 40(3)"


def test_a_rule_without_its_tables_finds_nothing(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    section, users = honest(scene)
    envelope(section, users[0], source_ip="198.51.100.1", name="x", kind="document")
    envelope(section, users[1], source_ip="198.51.100.1", name="y", kind="document")
    monkeypatch.setattr(alerts, "_has_tables", lambda *names: False)
    assert alerts.rule_same_source_ip(section) == []
    assert alerts.rule_key_shares_late(section) == []
    assert alerts.rule_overdue_case(section) == []


# -- storing and deciding -----------------------------------------------------------------------------------


def _crafted_alerts(scene: Scene) -> tuple[Any, list[SupervisionAlert]]:
    section, users = honest(scene)
    envelope(section, users[0], source_ip="198.51.100.7", name="d1", kind="document")
    envelope(section, users[1], source_ip="198.51.100.7", name="d2", kind="document")
    return section, alerts.run_alert_rules(section, actor=scene.regulator)


def test_alerts_are_stored_once_and_audited(scene: Scene) -> None:
    section, raised = _crafted_alerts(scene)
    assert [a.rule for a in raised] == ["same_source_ip"]
    assert raised[0].legal_basis == "条例 Art. 40(2)"
    assert alerts.run_alert_rules(section) == []  # a re-run finds the same finding: not raised twice
    leaf = db.session.query(AuditLeaf).filter_by(action="supervision:alert:raise").one()
    assert leaf.object_id == str(raised[0].id)


def test_decisions_are_audited_and_dismissal_needs_a_reason(scene: Scene) -> None:
    _, (alert,) = _crafted_alerts(scene)
    services.acknowledge_alert(alert, actor=scene.regulator)
    assert alert.status == AlertStatus.ACKNOWLEDGED
    with pytest.raises(DomainError):
        services.dismiss_alert(alert, actor=scene.regulator, reason="  ")
    services.dismiss_alert(alert, actor=scene.regulator, reason="同一会议室现场上传，已核实")
    db.session.flush()
    assert alert.status == AlertStatus.DISMISSED
    with pytest.raises(Conflict):
        services.escalate_alert(alert, actor=scene.regulator)
    actions = [
        a
        for (a,) in db.session.query(AuditLeaf.action)
        .filter(AuditLeaf.action.like("supervision:alert:%"))
        .order_by(AuditLeaf.idx)
    ]
    assert actions == [
        "supervision:alert:raise",
        "supervision:alert:acknowledge",
        "supervision:alert:dismiss",
    ]


def test_escalation_becomes_a_case_when_the_complaints_domain_takes_it(scene: Scene) -> None:
    from app.core.permissions import OrgKind
    from tests.factories import make_org

    make_org(OrgKind.MANAGEMENT_OFFICE)
    _, (alert,) = _crafted_alerts(scene)
    clock.freeze(T0 + dt.timedelta(hours=1))
    services.escalate_alert(alert, actor=scene.regulator, note="移交线索")
    db.session.flush()
    assert alert.status == AlertStatus.ESCALATED
    leaf = db.session.query(AuditLeaf).filter_by(action="supervision:alert:escalate").one()
    assert '"case_ref"' in leaf.payload
    if alert.case_ref is not None:  # the complaints domain accepted the lead
        assert db.session.query(AuditLeaf).filter_by(action="complaints:report:file").count() == 1


def test_the_panel_sees_alerts_that_are_not_dismissed(scene: Scene) -> None:
    section, (alert,) = _crafted_alerts(scene)
    assert alerts.alerts_for_panel(section.id) == [alert]
    services.dismiss_alert(alert, actor=scene.regulator, reason="已核实为同一交易中心现场上传")
    assert alerts.alerts_for_panel(section.id) == []


def test_rules_wait_for_the_opening_record_not_just_the_deadline(scene: Scene) -> None:
    """While custodians hand in their shares (the ceremony is collecting, or decrypting) nobody knows yet who
    bid: an alert listing the bidders' organizations would tell the regulators first."""
    from app.bidding.models import OpeningCeremony

    section = scene.section("opening")
    a, b = bidder(), bidder()
    envelope(section, a, source_ip="198.51.100.7")
    envelope(section, b, source_ip="198.51.100.7")
    ceremony = OpeningCeremony(
        section_id=section.id, status="collecting", started_by=scene.staff.id, started_at=section.bid_deadline
    )
    db.session.add(ceremony)
    db.session.flush()
    assert rules_fired(section) == set()
    ceremony.status = "completed"
    ceremony.completed_at = section.bid_deadline + dt.timedelta(minutes=20)
    db.session.flush()
    assert R.SAME_SOURCE_IP in rules_fired(section)
