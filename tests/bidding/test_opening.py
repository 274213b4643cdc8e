"""The opening ceremony: shares, quorum, the record, failures, concurrency, confidentiality."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
from pathlib import Path
from typing import Any

import pyrage
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.bidding import keys, opening, storage
from app.bidding.models import OpeningCeremony, SealedEnvelope
from app.core.clock import clock
from app.core.errors import Conflict, DomainError, NotFound
from app.core.permissions import Role
from app.projects.models import Section
from tests.bidding.conftest import DEADLINE, Tender, after_deadline, publish_tender, upload
from tests.factories import current_code, login, make_user
from tests.projects.conftest import World
from tests.system import AGE


def _submit_bids(client: FlaskClient, tender: Tender, prices: list[str], *, document: bool = True) -> None:
    for bidder, price in zip(tender.bidders, prices, strict=False):
        assert upload(client, tender, bidder, tender.summary(price)).status_code == 201
        if document:
            data = tender.seal(f"technical proposal of {bidder.org.name}".encode() * 5000)
            resp = upload(client, tender, bidder, data, kind="document", name="tech.pdf")
            assert resp.status_code == 201


def _open(app: Flask, tender: Tender, custodians: list[Any] | None = None) -> OpeningCeremony | None:
    after_deadline()
    with app.test_request_context():
        ceremony = opening.start_ceremony(tender.section.id, actor=tender.world.staff)
        cid = ceremony.id
        result = None
        for custodian in custodians or tender.custodians[:2]:
            _, quorum = opening.submit_share(tender.section.id, tender.mnemonic(custodian), actor=custodian)
            if quorum:
                result = opening.run_opening(cid, actor=custodian)
                break
        return result


def test_full_opening_publishes_the_record_and_stores_documents_at_rest(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    _submit_bids(client, tender, ["9500000", "9400000.5", "9300000.00"])
    ceremony = _open(app, tender)
    assert ceremony is not None and ceremony.status == "completed"
    section = db_session.get(Section, tender.section.id)
    assert section.status == "opened"
    assert ceremony.valid_bids == 3
    with app.test_request_context():
        doc = opening.record_document(section, ceremony)
    prices = [e["declared"]["price"] for e in doc["entries"]]
    assert prices == ["9500000.00", "9400000.50", "9300000.00"]
    entry = doc["entries"][0]
    assert entry["bidder"] == tender.bidders[0].org.name
    assert entry["declared"]["duration"] == 365 and entry["declared"]["project_manager"] == "王工"
    assert {e["kind"] for e in entry["envelopes"]} == {"summary", "document"}
    assert all(len(e["sha256"]) == 64 for e in entry["envelopes"])
    assert all(e["status"] == "valid" for e in doc["entries"])
    # shares are erased; documents decrypt from the at-rest files
    assert all(s.share_enc is None for s in ceremony.shares)
    env = db_session.query(SealedEnvelope).filter_by(kind="document", org_id=tender.bidders[0].org.id).one()
    assert env.decrypt_status == "ok" and env.plaintext_path
    with app.test_request_context():
        plain = b"".join(opening.read_document(env))
        assert plain == f"technical proposal of {tender.bidders[0].org.name}".encode() * 5000
        stored = (Path(app.config["BLOB_DIR"]) / env.plaintext_path).read_bytes()
        assert b"technical proposal" not in stored
        assert storage.check().ok
    # public record page and API after the opening
    anon = app.test_client()
    assert anon.get(f"/bidding/sections/{section.id}/record").status_code == 200
    api = anon.get(f"/api/v1/bidding/sections/{section.id}/record").get_json()
    assert api["record_sha256"] == ceremony.record_sha256


@pytest.mark.parametrize("pair", list(itertools.combinations(range(3), 2)))
def test_any_k_of_n_custodians_open(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any, pair: tuple[int, int]
) -> None:
    _submit_bids(client, tender, ["1.00", "2.00", "3.00"], document=False)
    ceremony = _open(app, tender, [tender.custodians[i] for i in pair])
    assert ceremony is not None and ceremony.status == "completed"


def test_k_minus_one_shares_do_not_open_and_the_ceremony_can_be_postponed(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    _submit_bids(client, tender, ["1.00", "2.00", "3.00"], document=False)
    after_deadline()
    staff = tender.world.staff
    with app.test_request_context():
        ceremony = opening.start_ceremony(tender.section.id, actor=staff)
        _, quorum = opening.submit_share(
            tender.section.id, tender.mnemonic(tender.custodians[0]), actor=tender.custodians[0]
        )
        assert quorum is False
        assert opening.run_opening(ceremony.id, actor=staff) is None or ceremony.status == "collecting"
        assert ceremony.status == "collecting"
        assert db_session.get(Section, tender.section.id).status == "opening"
        opening.postpone(tender.section.id, actor=staff, reason="第二名保管人未到场")
        assert ceremony.status == "postponed" and ceremony.shares[0].share_enc is None
        # a new ceremony can start later and open with any two shares
        again = opening.start_ceremony(tender.section.id, actor=staff)
        for custodian in tender.custodians[1:]:
            _, quorum = opening.submit_share(tender.section.id, tender.mnemonic(custodian), actor=custodian)
        assert quorum
        assert opening.run_opening(again.id, actor=staff).status == "completed"


def test_a_ceremony_stuck_decrypting_is_offered_for_postponement(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    """The opener died mid-decryption (tests/test_faults_crash.py does it with kill -9): the control room
    offers to postpone, and a new ceremony opens."""
    _submit_bids(client, tender, ["1.00", "2.00", "3.00"], document=False)
    after_deadline()
    staff = tender.world.staff
    with app.test_request_context():
        ceremony = opening.start_ceremony(tender.section.id, actor=staff)
    ceremony.status = "decrypting"  # what a crash between the quorum and the outcome leaves behind
    db_session.commit()
    login(client, staff)
    client.get("/auth/locale?locale=en")
    page = client.get(f"/bidding/sections/{tender.section.id}/ceremony").get_data(as_text=True)
    assert "Postpone (decryption stopped)" in page
    with app.test_request_context():
        opening.postpone(tender.section.id, actor=staff, reason="开标服务器故障，解密中断")
        assert ceremony.status == "postponed"
        again = opening.start_ceremony(tender.section.id, actor=staff)
        for custodian in tender.custodians[:2]:
            opening.submit_share(tender.section.id, tender.mnemonic(custodian), actor=custodian)
        assert opening.run_opening(again.id, actor=staff).status == "completed"


def test_shares_before_the_deadline_and_for_another_section_are_refused(
    app: Flask, client: FlaskClient, tender: Tender, world: World, db_session: Any
) -> None:
    custodian = tender.custodians[0]
    with app.test_request_context():
        with pytest.raises(Conflict) as early:
            opening.submit_share(tender.section.id, tender.mnemonic(custodian), actor=custodian)
        assert early.value.code == "before_deadline"
        with pytest.raises(Conflict) as early_start:
            opening.start_ceremony(tender.section.id, actor=world.staff)
        assert early_start.value.code == "before_deadline"
        other = publish_tender(world, bidders=0, name="二标段", room_id=None, online_only=True)
        after_deadline()
        opening.start_ceremony(tender.section.id, actor=world.staff)
        with pytest.raises(DomainError) as wrong:
            opening.submit_share(tender.section.id, other.mnemonic(custodian), actor=custodian)
        assert wrong.value.code == "wrong_section_share"
        with pytest.raises(DomainError) as theirs:
            opening.submit_share(tender.section.id, tender.mnemonic(tender.custodians[1]), actor=custodian)
        assert theirs.value.code == "not_your_share"
        with pytest.raises(DomainError) as garbage:
            opening.submit_share(tender.section.id, "not a share at all", actor=custodian)
        assert garbage.value.code == "invalid_share"
        # the custodian reads why in Chinese (the share form on the opening hall shows this message)
        assert garbage.value.message == "这不是有效的 SLIP-39 密钥分片（请核对助记词）。"
        assert garbage.value.errors == {"mnemonic": [garbage.value.message]}
        with pytest.raises(keys.ShareError) as uncombined:
            keys.rebuild_identity([tender.mnemonic(custodian)], tender.section.opening_recipient or "")
        assert str(uncombined.value) == "这些密钥分片无法合成（数量不足，或来自不同的密钥）。"
        outsider = make_user(Role.CENTER_STAFF, world.center)
        with pytest.raises(NotFound):
            opening.submit_share(tender.section.id, tender.mnemonic(custodian), actor=outsider)


def test_concurrent_ceremonies_one_wins(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    _submit_bids(client, tender, ["1.00", "2.00", "3.00"], document=False)
    after_deadline()
    staff2 = make_user(Role.CENTER_STAFF, tender.world.center)
    with app.test_request_context():
        ceremony = opening.start_ceremony(tender.section.id, actor=tender.world.staff)
        with pytest.raises(Conflict):
            opening.start_ceremony(tender.section.id, actor=staff2)
        # the database itself refuses a second live ceremony (the partial unique index)
        from sqlalchemy.exc import IntegrityError

        with pytest.raises(IntegrityError), db_session.begin_nested():
            db_session.add(
                OpeningCeremony(section_id=tender.section.id, status="collecting", started_by=staff2.id)
            )
            db_session.flush()
        for custodian in tender.custodians:
            # the third share arrives while the quorum is already there: the ceremony is still collecting
            opening.submit_share(tender.section.id, tender.mnemonic(custodian), actor=custodian)
        first = opening.run_opening(ceremony.id, actor=staff2)
        second = opening.run_opening(ceremony.id, actor=staff2)
        assert first is not None and first.status == "completed"
        assert second is None  # only the first claim decrypts


def test_fewer_than_three_valid_bids_fail_the_section(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    _submit_bids(client, tender, ["1.00", "2.00"], document=False)
    # a third bidder's summary is sealed to some other key: its bid is void by its own fault (视为撤销)
    stranger = pyrage.encrypt(b'{"price": "3.00"}', [pyrage.x25519.Identity.generate().to_public()])
    assert upload(client, tender, tender.bidders[2], stranger).status_code == 201
    ceremony = _open(app, tender)
    assert ceremony is not None and ceremony.valid_bids == 2
    section = db_session.get(Section, tender.section.id)
    assert section.status == "failed" and "3" in (section.failed_reason or "")
    entries = {e.org_id: e for e in ceremony.entries}
    assert entries[tender.bidders[2].org.id].status == "revoked"


def test_bad_summary_and_missing_file_are_classified(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    _submit_bids(client, tender, ["1.00", "2.00"], document=False)
    bad = tender.seal(b'{"price": "-5"}')
    assert upload(client, tender, tender.bidders[2], bad).status_code == 201
    env = db_session.query(SealedEnvelope).filter_by(org_id=tender.bidders[1].org.id).one()
    with app.test_request_context():
        (Path(app.config["BLOB_DIR"]) / env.blob_path).unlink()
    ceremony = _open(app, tender)
    entries = {e.org_id: e for e in ceremony.entries}
    assert entries[tender.bidders[0].org.id].status == "valid"
    assert entries[tender.bidders[1].org.id].status == "withdrawn"  # platform's fault: 视为撤回
    assert entries[tender.bidders[2].org.id].status == "revoked"  # bidder's fault: 视为撤销


def test_confidentiality_before_and_after_opening(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    _submit_bids(client, tender, ["1.00", "2.00", "3.00"], document=False)
    sid = tender.section.id
    own = tender.bidders[0]
    env_id = db_session.query(SealedEnvelope).filter_by(org_id=own.org.id).one().id
    receipt_url = f"/api/v1/bidding/sections/{sid}/envelopes/{env_id}/receipt"
    assert client.get(receipt_url, headers=own.headers()).status_code == 200
    assert client.get(receipt_url, headers=tender.bidders[1].headers()).status_code == 404
    listing = client.get(f"/api/v1/bidding/sections/{sid}/envelopes", headers=tender.bidders[1].headers())
    assert [e["sha256"] for e in listing.get_json()["envelopes"]] != []
    assert all(e["id"] != env_id for e in listing.get_json()["envelopes"])

    def as_role(role: Role) -> FlaskClient:
        c = app.test_client()
        user = tender.world.staff if role is Role.CENTER_STAFF else make_user(role)
        if role is Role.REGULATOR:
            user = tender.world.regulator
        if role is Role.TENDERER:
            user = tender.world.tenderer
        login(c, user)
        return c

    staff = as_role(Role.CENTER_STAFF)
    assert staff.get(f"/api/v1/bidding/sections/{sid}/count").get_json()["bidders"] == 3
    assert staff.get(f"/api/v1/bidding/sections/{sid}/opened-envelopes").status_code == 404
    page = staff.get(f"/bidding/sections/{sid}/ceremony").get_data(as_text=True)
    assert tender.bidders[0].org.name not in page
    for role in (Role.TENDERER, Role.REGULATOR, Role.EXPERT, Role.MANAGER, Role.SYSADMIN):
        c = as_role(role)
        for url in (
            f"/api/v1/bidding/sections/{sid}/count",
            f"/api/v1/bidding/sections/{sid}/opened-envelopes",
            f"/bidding/sections/{sid}/record",
            receipt_url,
        ):
            assert c.get(url).status_code in {403, 404}, (role, url)
        unopened = c.get(f"/api/v1/bidding/sections/{sid}/record")
        assert unopened.status_code == 409 and unopened.get_json()["code"] == "not_opened"
        hall = c.get(f"/bidding/sections/{sid}/hall").get_data(as_text=True)
        assert all(b.org.name not in hall for b in tender.bidders)
    # after the opening: the record is public, regulators and staff see the envelopes
    _open(app, tender)
    anon = app.test_client()
    assert tender.bidders[2].org.name in anon.get(f"/bidding/sections/{sid}/record").get_data(as_text=True)
    regulator = as_role(Role.REGULATOR)
    rows = regulator.get(f"/api/v1/bidding/sections/{sid}/opened-envelopes").get_json()["envelopes"]
    assert {r["bidder"] for r in rows} == {b.org.name for b in tender.bidders}
    assert client.get(receipt_url, headers=tender.bidders[1].headers()).status_code == 404


def test_ceremony_over_the_api_with_step_up_objections_and_confirmation(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    from app.accounts import services as accounts

    _submit_bids(client, tender, ["1.00", "2.00", "3.00"], document=False)
    sid = tender.section.id
    staff = tender.world.staff
    staff_token = accounts.create_api_token(staff, "ops").raw
    clock.freeze(DEADLINE - dt.timedelta(minutes=5))
    hdr = {"Authorization": f"Bearer {staff_token}"}
    assert client.post(f"/api/v1/bidding/sections/{sid}/ceremony", headers=hdr).status_code == 401
    resp = client.post(
        f"/api/v1/bidding/sections/{sid}/ceremony", headers=hdr | {"X-TOTP-Code": current_code(staff)}
    )
    assert resp.status_code == 409  # before the deadline
    after_deadline()
    resp = client.post(
        f"/api/v1/bidding/sections/{sid}/ceremony", headers=hdr | {"X-TOTP-Code": current_code(staff)}
    )
    assert resp.status_code == 201, resp.get_json()
    bidder = tender.bidders[0]
    resp = client.post(
        f"/api/v1/bidding/sections/{sid}/objections", json={"body": "时间有误"}, headers=bidder.headers()
    )
    assert resp.status_code == 409  # before the record is published an objection would tell who bid
    for custodian in tender.custodians[:2]:
        token = accounts.create_api_token(custodian, "share").raw
        custodian.totp_secret_enc = custodian.totp_secret_enc or staff.totp_secret_enc
        custodian.totp_enabled_at = custodian.totp_enabled_at or staff.totp_enabled_at
        resp = client.post(
            f"/api/v1/bidding/sections/{sid}/shares",
            json={"mnemonic": tender.mnemonic(custodian)},
            headers={"Authorization": f"Bearer {token}", "X-TOTP-Code": current_code(custodian)},
        )
        assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "completed"
    resp = client.post(
        f"/api/v1/bidding/sections/{sid}/objections", json={"body": "时间有误"}, headers=bidder.headers()
    )
    assert resp.status_code == 200
    record = client.get(f"/api/v1/bidding/sections/{sid}/record").get_json()
    assert [o["objection"] for o in record["objections"]] == ["时间有误"]
    import base64

    from app.bidding import signing

    sig = bidder.key.sign(signing.record_statement(record["record_sha256"], sid))
    resp = client.post(
        f"/api/v1/bidding/sections/{sid}/confirm",
        json={"key_id": bidder.key_id, "signature": base64.b64encode(sig).decode()},
        headers=bidder.headers(),
    )
    assert resp.get_json() == {"record_sha256": record["record_sha256"], "signed": True}


def test_envelopes_from_our_client_decrypt_with_age_cli(tmp_path: Path) -> None:
    from app.bidding import client_cli

    identity = pyrage.x25519.Identity.generate()
    id_file = tmp_path / "id.txt"
    id_file.write_text(str(identity) + "\n")
    doc = tmp_path / "doc.pdf"
    doc.write_bytes(b"%PDF-1.7 " + bytes(range(256)) * 1000)
    out = client_cli.seal_file(doc, str(identity.to_public()))
    plain = subprocess.run([str(AGE), "-d", "-i", str(id_file), str(out)], check=True, capture_output=True)
    assert plain.stdout == doc.read_bytes()


def test_opening_record_pdf_is_signed_and_verifiable(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    from tests import printed

    _submit_bids(client, tender, ["9500000", "9400000.5", "9300000.00"], document=False)
    sid = tender.section.id
    anon = app.test_client()
    assert anon.get(f"/bidding/sections/{sid}/record.pdf").status_code == 404  # not published yet
    ceremony = _open(app, tender)
    assert ceremony is not None
    page = anon.get(f"/bidding/sections/{sid}/record").get_data(as_text=True)
    assert f"/bidding/sections/{sid}/record.pdf" in page and "下载PDF" in page
    resp = anon.get(f"/bidding/sections/{sid}/record.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    pdf = printed.read(resp.data)
    assert "开标记录" in pdf.text and tender.bidders[0].org.name in pdf.text
    assert ceremony.record_sha256 in pdf.text
    assert pdf.params["kind"] == "opening_record" and pdf.params["sha256"] == ceremony.record_sha256
    assert pdf.qr == printed.segno_modules(pdf.link)
    path = pdf.link.split("://", 1)[1].split("/", 1)[1]
    ok = anon.get("/" + path).get_data(as_text=True)
    assert 'id="verdict-genuine"' in ok


def test_a_step_up_code_used_by_a_failing_action_cannot_be_used_again(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    """The X-TOTP-Code was right but the action failed (409, rolled back): the used time step stays
    recorded, so the same code does not work a second time within its window."""
    from app.accounts import services as accounts

    staff = tender.world.staff
    hdr = {"Authorization": f"Bearer {accounts.create_api_token(staff, 'ops').raw}"}
    clock.freeze(DEADLINE - dt.timedelta(minutes=5))
    code = current_code(staff)
    url = f"/api/v1/bidding/sections/{tender.section.id}/ceremony"
    first = client.post(url, headers=hdr | {"X-TOTP-Code": code})
    assert first.status_code == 409  # before the deadline: the action fails and rolls back
    again = client.post(url, headers=hdr | {"X-TOTP-Code": code})
    assert again.status_code == 401 and again.get_json()["code"] == "step_up_required"
