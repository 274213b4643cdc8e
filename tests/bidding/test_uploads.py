"""Envelope uploads: interoperability with the reference age tool, refusals that store nothing, receipts
that verify offline, idempotency, the deadline race, replace and withdraw, resumable uploads."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pyrage
import pytest
from flask import Flask
from sqlalchemy import func, select

from app.bidding import signing, storage
from app.bidding.models import SealedEnvelope
from app.core import crypto
from app.core.clock import clock
from tests.bidding.conftest import DEADLINE, Tender, upload
from tests.system import AGE


def _count(db_session: Any) -> int:
    return db_session.scalar(select(func.count()).select_from(SealedEnvelope))


def _stored_files(app: Flask) -> list[Path]:
    root = Path(app.config["BLOB_DIR"])
    return [p for sub in ("envelopes", "tmp") for p in (root / sub).rglob("*") if p.is_file()]


def test_envelope_sealed_with_the_age_cli_is_accepted_and_receipt_verifies_offline(
    app: Flask, client: Any, tender: Tender, tmp_path: Path
) -> None:
    plain = tmp_path / "summary.json"
    plain.write_text(json.dumps({"price": "9000000.00", "duration": 300, "project_manager": "李工"}))
    sealed = tmp_path / "summary.json.age"
    subprocess.run(
        [str(AGE), "-r", tender.section.opening_recipient, "-o", str(sealed), str(plain)], check=True
    )
    data = sealed.read_bytes()
    bidder = tender.bidders[0]
    resp = upload(client, tender, bidder, data, **{"X-Client-Fingerprint": "pc-01"})
    assert resp.status_code == 201, resp.get_json()
    signed = resp.get_json()
    body = signed["receipt"]
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["size"] == len(data)
    assert body["kind"] == "summary" and body["section_id"] == tender.section.id
    assert body["bidder_org_id"] == bidder.org.id
    with app.test_request_context():
        public = crypto.public_key()
    assert signing.verify_receipt(signed, public) == []
    tampered = json.loads(json.dumps(signed))
    tampered["receipt"]["size"] += 1
    assert "platform signature" in signing.verify_receipt(tampered, public)[0]
    tampered = json.loads(json.dumps(signed))
    tampered["receipt"]["audit"]["leaf_hash"] = "00" * 32
    assert any("inclusion" in p for p in signing.verify_receipt(tampered, public))
    env = client.application.extensions  # noqa: F841 - keep the app in scope
    row = json.loads(json.dumps(body))
    assert row["signing_key_id"] == bidder.key_id


def _passphrase_file(data: bytes) -> bytes:
    return pyrage.passphrase.encrypt(data, "hunter2")


MALFORMED = {
    "plaintext": lambda t: b'{"price": "1.00"}',
    "armored": lambda t: pyrage.encrypt(b"x", [t.recipient], armored=True),
    "passphrase": lambda t: _passphrase_file(b"x"),
    "two_recipients": lambda t: pyrage.encrypt(
        b"x", [t.recipient, pyrage.x25519.Identity.generate().to_public()]
    ),
    "truncated_header": lambda t: t.seal(b"x")[:40],
    # cut inside the 16-byte tag of the last chunk: no age STREAM has that length
    "truncated_payload": lambda t: t.seal(b"x" * 70000)[: -(70000 - 65536 + 16) + 5],
    "empty": lambda t: b"",
    "bad_mac": lambda t: t.seal(b"x").replace(b"\n--- ", b"\n---  ", 1),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_uploads_are_refused_and_nothing_is_stored(
    app: Flask, client: Any, tender: Tender, db_session: Any, case: str
) -> None:
    data = MALFORMED[case](tender)
    before = _count(db_session)
    resp = upload(client, tender, tender.bidders[0], data)
    assert resp.status_code in {413, 422}, resp.get_json()
    assert resp.get_json()["message"]
    assert _count(db_session) == before
    assert _stored_files(app) == []


def test_unsigned_wrongly_signed_and_revoked_key_are_refused(
    app: Flask, client: Any, tender: Tender, db_session: Any
) -> None:
    data = tender.summary()
    bidder, other = tender.bidders[0], tender.bidders[1]
    assert upload(client, tender, bidder, data, sign=False).get_json()["code"] == "unsigned"
    forged = other.sign(data, tender.section.id, "summary") | {"X-Bid-Key-Id": bidder.key_id}
    resp = upload(client, tender, bidder, data, sign=False, **forged)
    assert resp.get_json()["code"] == "bad_signature"
    # signed for another kind: the statement binds the kind
    wrong_kind = bidder.sign(data, tender.section.id, "document")
    resp = upload(client, tender, bidder, data, sign=False, **wrong_kind)
    assert resp.get_json()["code"] == "bad_signature"
    # another organization's key id is unknown to this bidder
    resp = upload(client, tender, bidder, data, sign=False, **other.sign(data, tender.section.id, "summary"))
    assert resp.get_json()["code"] == "unknown_key"
    from app.bidding import services

    with app.test_request_context():
        key = services.find_signing_key(bidder.org.id, bidder.key_id)
        services.revoke_bidder_key(key, actor=bidder.user, reason="CA锁丢失")
    assert upload(client, tender, bidder, data).get_json()["code"] == "key_not_valid"
    assert _count(db_session) == 0
    assert _stored_files(app) == []


def test_idempotent_retry_returns_the_same_receipt_and_other_content_conflicts(
    client: Any, tender: Tender, db_session: Any
) -> None:
    bidder = tender.bidders[0]
    data = tender.summary()
    first = upload(client, tender, bidder, data, **{"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    again = upload(client, tender, bidder, data, **{"Idempotency-Key": "k-1"})
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    declared = upload(
        client,
        tender,
        bidder,
        data,
        **{"Idempotency-Key": "k-1", "X-Content-SHA256": hashlib.sha256(data).hexdigest()},
    )
    assert declared.get_json() == first.get_json()
    other = upload(client, tender, bidder, tender.summary("1.00"), **{"Idempotency-Key": "k-1"})
    assert other.status_code == 409
    assert _count(db_session) == 1
    # the retry also works after the deadline (the receipt was earned before it)
    clock.freeze(DEADLINE + dt.timedelta(hours=1))
    late = upload(client, tender, bidder, data, **{"Idempotency-Key": "k-1"})
    assert late.status_code == 200 and late.get_json() == first.get_json()


@pytest.mark.parametrize(("offset_ms", "accepted"), [(-1, True), (0, False), (1, False)])
def test_deadline_race_is_decided_by_the_server_clock(
    app: Flask, client: Any, tender: Tender, db_session: Any, offset_ms: int, accepted: bool
) -> None:
    clock.freeze(DEADLINE + dt.timedelta(milliseconds=offset_ms))
    resp = upload(client, tender, tender.bidders[0], tender.summary())
    assert (resp.status_code == 201) is accepted, resp.get_json()
    if not accepted:
        assert resp.get_json()["code"] == "deadline_passed"
        assert _stored_files(app) == []
    assert _count(db_session) == (1 if accepted else 0)


def test_deadline_passing_while_streaming_stores_nothing(
    app: Flask, client: Any, tender: Tender, db_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload starts before the deadline but its last byte arrives after it: the check inside the
    transaction refuses it and nothing is stored."""
    from app.bidding import uploads

    clock.freeze(DEADLINE - dt.timedelta(milliseconds=1))
    real = uploads.stage_stream

    def slow(*args: Any, **kw: Any) -> Any:
        clock.freeze(DEADLINE + dt.timedelta(milliseconds=1))  # the deadline passes mid-stream
        return real(*args, **kw)

    monkeypatch.setattr(uploads, "stage_stream", slow)
    resp = upload(client, tender, tender.bidders[0], tender.summary())
    assert resp.status_code == 409 and resp.get_json()["code"] == "deadline_passed"
    assert _count(db_session) == 0
    assert _stored_files(app) == []


def test_bid_that_arrived_in_time_counts_even_if_written_down_after_the_deadline(
    app: Flask, client: Any, tender: Tender, db_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last byte arrives 1 ms before the deadline; the server is slow and commits after it. The time of
    receipt is when the bytes entered the platform (电子签名法 Art. 11): the bid counts, and the receipt
    says when it arrived."""
    from app.bidding import uploads

    clock.freeze(DEADLINE - dt.timedelta(milliseconds=1))
    real = uploads.stage_stream

    def slow_commit(*args: Any, **kw: Any) -> Any:
        staged = real(*args, **kw)
        clock.freeze(DEADLINE + dt.timedelta(seconds=2))  # fsync, lock waits …
        return staged

    monkeypatch.setattr(uploads, "stage_stream", slow_commit)
    resp = upload(client, tender, tender.bidders[0], tender.summary())
    assert resp.status_code in {200, 201}, resp.get_json()
    assert _count(db_session) == 1
    received = dt.datetime.fromisoformat(resp.get_json()["receipt"]["received_at"].replace("Z", "+00:00"))
    assert received == DEADLINE - dt.timedelta(milliseconds=1)


def test_replace_and_withdraw_keep_history_latest_counts(
    client: Any, tender: Tender, db_session: Any
) -> None:
    bidder = tender.bidders[0]
    upload(client, tender, bidder, tender.summary("9000000"))
    upload(client, tender, bidder, tender.summary("8900000"))
    upload(client, tender, bidder, tender.seal(b"%PDF"), kind="document", name="tech.pdf")
    listing = client.get(
        f"/api/v1/bidding/sections/{tender.section.id}/envelopes", headers=bidder.headers()
    ).get_json()["envelopes"]
    assert sorted(e["status"] for e in listing) == ["active", "active", "superseded"]
    resp = client.post(f"/api/v1/bidding/sections/{tender.section.id}/withdraw", headers=bidder.headers())
    assert resp.get_json() == {"withdrawn": 2}
    statuses = db_session.scalars(select(SealedEnvelope.status).order_by(SealedEnvelope.id)).all()
    assert statuses == ["superseded", "withdrawn", "withdrawn"]
    clock.freeze(DEADLINE)
    resp = client.post(f"/api/v1/bidding/sections/{tender.section.id}/withdraw", headers=bidder.headers())
    assert resp.status_code == 409


def test_size_limit_per_section(client: Any, tender: Tender, db_session: Any, app: Flask) -> None:
    tender.section.max_envelope_mb = 1
    data = tender.seal(b"\0" * (1024 * 1024 + 10))
    resp = upload(client, tender, tender.bidders[0], data, kind="document", name="big.bin")
    assert resp.status_code == 413
    assert _stored_files(app) == []


def test_resumable_upload_with_offsets_and_checksums(
    client: Any, tender: Tender, db_session: Any, app: Flask
) -> None:
    bidder = tender.bidders[0]
    data = tender.seal(bytes(range(256)) * 4000)
    sid = tender.section.id
    resp = client.post(
        f"/api/v1/bidding/sections/{sid}/uploads",
        json={"kind": "document", "name": "tech.pdf", "length": len(data)},
        headers=bidder.headers(),
    )
    assert resp.status_code == 201, resp.get_json()
    url = resp.headers["Location"]
    half = len(data) // 2

    def patch(offset: int, chunk: bytes, checksum: bytes | None = None) -> Any:
        digest = base64.b64encode(hashlib.sha256(checksum or chunk).digest()).decode()
        return client.patch(
            url,
            data=chunk,
            headers=bidder.headers(**{"Upload-Offset": str(offset), "Upload-Checksum": f"sha256 {digest}"}),
            content_type="application/offset+octet-stream",
        )

    assert patch(0, data[:half]).status_code == 204
    assert patch(0, data[:half]).status_code == 409  # wrong offset: the server already has half
    assert patch(half, data[half:], checksum=b"other").status_code == 422  # corrupted chunk dropped
    status = client.get(url, headers=bidder.headers())
    assert status.headers["Upload-Offset"] == str(half)
    assert patch(half, data[half:]).headers["Upload-Offset"] == str(len(data))
    fin = client.post(url + "/finalize", headers=bidder.headers(**bidder.sign(data, sid, "document")))
    assert fin.status_code == 201, fin.get_json()
    assert fin.get_json()["receipt"]["sha256"] == hashlib.sha256(data).hexdigest()
    again = client.post(url + "/finalize", headers=bidder.headers(**bidder.sign(data, sid, "document")))
    assert again.get_json() == fin.get_json()
    with app.test_request_context():
        assert storage.check().ok


def test_resumable_uploads_have_a_quota_per_bidder_and_section_and_expire(
    client: Any, tender: Tender, db_session: Any, app: Flask
) -> None:
    """Issue 14: a bidder could open unlimited resumable uploads. Now each organization has at most
    RESUMABLE_UPLOADS_OPEN unfinished ones per section (and a byte budget); they expire after
    RESUMABLE_UPLOAD_HOURS and at the bid deadline, and an expired one frees its place and its part file."""
    sid = tender.section.id
    first, second = tender.bidders[0], tender.bidders[1]
    most = app.config["RESUMABLE_UPLOADS_OPEN"]

    def start(bidder: Any, n: int, length: int = 1000) -> Any:
        return client.post(
            f"/api/v1/bidding/sections/{sid}/uploads",
            json={"kind": "document", "name": f"part-{n}.pdf", "length": length},
            headers=bidder.headers(),
        )

    started = [start(first, n) for n in range(most)]
    assert all(r.status_code == 201 for r in started), [r.get_json() for r in started]
    refused = start(first, most)
    assert refused.status_code == 429 and refused.get_json()["code"] == "upload_quota"
    assert str(most) in refused.get_json()["message"]
    assert start(second, 0).status_code == 201  # another bidder has its own quota
    # The byte budget: declared lengths together at most RESUMABLE_QUOTA_ENVELOPES section limits.
    limit = tender.section.max_envelope_mb * 1024 * 1024
    assert start(second, 1, length=limit).status_code == 201
    budget = app.config["RESUMABLE_QUOTA_ENVELOPES"]
    for n in range(2, budget):
        assert start(second, n, length=limit).status_code == 201
    over = start(second, budget + 1, length=limit)
    assert over.status_code == 429 and over.get_json()["code"] == "upload_quota"

    # Discarding one frees a place.
    assert client.delete(started[0].headers["Location"], headers=first.headers()).status_code == 204
    again = start(first, 100)
    assert again.status_code == 201
    part = Path(app.config["BLOB_DIR"]) / "tmp" / f"up-{again.get_json()['id']}.part"
    assert part.exists()

    # An upload never outlives the deadline; after 24 hours it is gone and frees its place.
    from app.bidding.models import EnvelopeUpload

    row = db_session.get(EnvelopeUpload, again.get_json()["id"])
    assert row.expires_at <= tender.section.bid_deadline
    clock.advance(dt.timedelta(hours=app.config["RESUMABLE_UPLOAD_HOURS"], seconds=1))
    assert clock.now() < tender.section.bid_deadline  # still bidding: only the upload expired
    lapsed = client.get(again.headers["Location"], headers=first.headers())
    assert (lapsed.status_code, lapsed.get_json()["code"]) == (410, "upload_expired")  # says why
    fresh = start(first, 200)
    assert fresh.status_code == 201
    assert not part.exists()  # the expired upload's part file went with it
    # One still open at the deadline lapses with it: resuming it then is refused as late, not "not found".
    clock.freeze(tender.section.bid_deadline + dt.timedelta(seconds=1))
    late = client.get(fresh.headers["Location"], headers=first.headers())
    assert (late.status_code, late.get_json()["code"]) == (409, "deadline_passed")
    assert client.get(fresh.headers["Location"], headers=second.headers()).status_code == 404  # not its own


def test_check_and_cleanup_commands(app: Flask, client: Any, tender: Tender, db_session: Any) -> None:
    upload(client, tender, tender.bidders[0], tender.summary())
    root = Path(app.config["BLOB_DIR"])
    with app.test_request_context():
        assert storage.check().ok
        orphan = root / "envelopes" / str(tender.section.id) / "orphan.age"
        orphan.write_bytes(b"age-encryption.org/v1\n")
        stale_tmp = root / "tmp" / "dead.part"
        stale_tmp.write_bytes(b"x")
        report = storage.check()
        assert not report.ok and report.orphan_files
        removed = storage.cleanup(grace_seconds=0)
        assert stale_tmp.exists() is False and orphan.exists() is False
        assert len(removed) == 2
        assert storage.check().ok


def test_failure_between_rename_and_commit_leaves_no_receipt_and_a_retry_succeeds(
    app: Flask, client: Any, tender: Tender, db_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transaction fails after the file was renamed into place: no row, no file, no receipt; the
    client's retry with the same Idempotency-Key then gets its receipt."""
    from app.bidding import uploads

    bidder = tender.bidders[0]
    data = tender.summary()
    real = uploads._record

    def crash(*args: Any, **kw: Any) -> Any:
        raise OSError("database went away")

    monkeypatch.setattr(uploads, "_record", crash)
    with pytest.raises(OSError):
        upload(client, tender, bidder, data, **{"Idempotency-Key": "retry-me"})
    assert _count(db_session) == 0
    assert _stored_files(app) == []
    monkeypatch.setattr(uploads, "_record", real)
    resp = upload(client, tender, bidder, data, **{"Idempotency-Key": "retry-me"})
    assert resp.status_code == 201
    with app.test_request_context():
        assert storage.check().ok


def test_a_file_left_by_a_crash_before_commit_is_found_and_swept(
    app: Flask, client: Any, tender: Tender, db_session: Any
) -> None:
    """kill -9 after the rename and before the commit leaves a file with no row: `check` reports it,
    `cleanup` removes it (never a receipted file), and the counted bids are exactly the receipted ones."""
    resp = upload(client, tender, tender.bidders[0], tender.summary())
    assert resp.status_code == 201
    root = Path(app.config["BLOB_DIR"])
    leftover = root / "envelopes" / str(tender.section.id) / "crashed.age"
    leftover.write_bytes(tender.summary())
    with app.test_request_context():
        report = storage.check()
        assert report.orphan_files == [str(leftover.relative_to(root))] and not report.missing_files
        storage.cleanup(grace_seconds=0)
        assert storage.check().ok
        assert len(list((root / "envelopes").rglob("*.age"))) == 1
