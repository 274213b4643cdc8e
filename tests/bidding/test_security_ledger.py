"""The bid security ledger end to end: sub-accounts, the bank's signed callback (bad signature refused, a
replayed
reference books once), electronic guarantees (one that does not verify is refused), the works cap, the secrecy
before the opening, refunds with interest, forfeiture on a listed ground, reconciliation and the daily
ledger."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from app.accounts import services as accounts
from app.bidding.security import bank, guarantees, ledger, services
from app.bidding.security.models import BankMovement, BidSecurity
from app.core import audit_sealing
from app.core.calendar import local_date
from app.core.clock import CST, clock, now
from app.core.errors import DomainError
from app.core.models import AuditLeaf
from app.projects import rules
from app.projects import services as projects
from app.projects.enums import Category, SectionStatus
from tests.bidding.conftest import DEADLINE, Bidder, Tender, after_deadline
from tests.factories import login
from tests.projects.conftest import terms

API = "/api/v1/bidding/security"
REQUIRED = 20_000_000  # 200,000.00 yuan in fen: 2 % of the 10 million estimate


def _issue(client: FlaskClient, tender: Tender, bidder: Bidder) -> dict[str, Any]:
    resp = client.post(f"{API}/sections/{tender.section.id}/account", headers=bidder.headers())
    assert resp.status_code == 201, resp.get_json()
    body: dict[str, Any] = resp.get_json()
    return body


def _pay(
    client: FlaskClient, account_no: str, fen: int, payer: str = "6222 0000 1"
) -> tuple[Any, bytes, dict]:
    _line, body, headers = bank.SimulatedBank().receive(
        account_no=account_no, amount_fen=fen, payer_account=payer, payer_name="某建设集团"
    )
    resp = client.post(f"{API}/bank/callback", data=body, headers=headers, content_type="application/json")
    return resp, body, headers


def _staff(app: Flask, tender: Tender) -> tuple[FlaskClient, dict[str, str]]:
    """Center staff: a signed-in browser (pages) and bearer headers (API calls carry no CSRF token)."""
    browser = app.test_client()
    login(browser, tender.world.staff)
    token = accounts.create_api_token(tender.world.staff, "ledger").raw
    return browser, {"Authorization": f"Bearer {token}"}


def _guarantee(tender: Tender, bidder: Bidder, *, key: Ed25519PrivateKey | None = None, **data: Any) -> dict:
    values = {
        "issuer": guarantees.SIMULATED_ISSUER,
        "number": f"2026{bidder.org.id:06d}",
        "section_code": tender.section.code,
        "applicant": bidder.org.name,
        "amount_fen": REQUIRED,
        "valid_from": "2026-03-10",
        "valid_until": "2026-07-31",
    }
    values.update(data)
    return guarantees.sign(values, key or guarantees.simulated_issuer_key())


def test_a_signed_callback_credits_once_and_a_replay_changes_nothing(
    client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    bidder = tender.bidders[0]
    mine = _issue(client, tender, bidder)
    assert mine["status"] == "awaiting" and mine["required_fen"] == REQUIRED
    first, body, headers = _pay(client, mine["account_no"], REQUIRED)
    assert first.status_code == 200 and first.get_json()["status"] == "booked"
    replay = client.post(f"{API}/bank/callback", data=body, headers=headers, content_type="application/json")
    assert replay.status_code == 200 and replay.get_json()["status"] == "duplicate"
    sec = db_session.get(BidSecurity, mine["id"])
    assert sec.status == "secured" and sec.received_fen == REQUIRED and sec.held_fen == REQUIRED
    assert db_session.scalar(select(BankMovement).where(BankMovement.security_id == sec.id)) is not None
    assert len(sec.movements) == 1
    again = client.get(f"{API}/sections/{tender.section.id}/mine", headers=bidder.headers()).get_json()
    assert again["status"] == "secured" and again["status_label"] == "已缴纳"


def test_a_bad_bank_signature_is_refused_and_books_nothing(
    client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    mine = _issue(client, tender, tender.bidders[0])
    _line, body, headers = bank.SimulatedBank().receive(
        account_no=mine["account_no"], amount_fen=REQUIRED, payer_account="1", payer_name="x"
    )
    forged = body.replace(str(REQUIRED).encode(), str(REQUIRED * 10).encode())
    resp = client.post(f"{API}/bank/callback", data=forged, headers=headers, content_type="application/json")
    assert resp.status_code == 400 and resp.get_json()["code"] == "bad_signature"
    unsigned = client.post(f"{API}/bank/callback", data=body, content_type="application/json")
    assert unsigned.status_code == 400
    wrong_key = dict(headers, **{"X-Bank-Signature": "sha256=" + "0" * 64})
    assert client.post(f"{API}/bank/callback", data=body, headers=wrong_key).status_code == 400
    stale = str(int((now() - dt.timedelta(hours=1)).timestamp()))
    old = {"X-Bank-Timestamp": stale, "X-Bank-Signature": bank.sign_callback(body, int(stale))}
    assert client.post(f"{API}/bank/callback", data=body, headers=old).status_code == 400
    assert db_session.scalars(select(BankMovement)).all() == []
    assert db_session.get(BidSecurity, mine["id"]).status == "awaiting"


def test_a_reference_reused_for_another_amount_is_a_conflict(client: FlaskClient, tender: Tender) -> None:
    mine = _issue(client, tender, tender.bidders[0])
    _line, _body, _h = _pay(client, mine["account_no"], REQUIRED)
    doc = json.loads(_body)
    doc["amount_fen"] = 1
    body = json.dumps(doc).encode()
    stamp = int(now().timestamp())
    headers = {"X-Bank-Timestamp": str(stamp), "X-Bank-Signature": bank.sign_callback(body, stamp)}
    resp = client.post(f"{API}/bank/callback", data=body, headers=headers, content_type="application/json")
    assert resp.status_code == 409


def test_a_verified_guarantee_secures_the_bid(client: FlaskClient, tender: Tender, db_session: Any) -> None:
    bidder = tender.bidders[1]
    resp = client.post(
        f"{API}/sections/{tender.section.id}/guarantee",
        json=_guarantee(tender, bidder),
        headers=bidder.headers(),
    )
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["status"] == "secured" and resp.get_json()["form"] == "guarantee"
    other = tender.bidders[2]
    reused = client.post(
        f"{API}/sections/{tender.section.id}/guarantee",
        json=_guarantee(tender, bidder, applicant=other.org.name),
        headers=other.headers(),
    )
    assert reused.status_code == 409


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ({"key": "forged"}, "签名"),
        ({"amount_fen": REQUIRED + 1, "resign": False}, "签名"),
        ({"issuer": "unknown-insurer"}, "出具"),
        ({"section_code": "OTHER"}, "标段"),
        ({"valid_until": "2026-04-01"}, "有效"),
        ({"amount_fen": REQUIRED - 1}, "要求"),
    ],
)
def test_a_guarantee_that_does_not_verify_is_refused(
    client: FlaskClient, tender: Tender, db_session: Any, tamper: dict[str, Any], message: str
) -> None:
    bidder = tender.bidders[0]
    tamper = dict(tamper)
    key = Ed25519PrivateKey.generate() if tamper.pop("key", None) else None
    resign = tamper.pop("resign", True)
    doc = _guarantee(tender, bidder, key=key, **(tamper if resign else {}))
    if not resign:
        doc["data"].update(tamper)
    resp = client.post(
        f"{API}/sections/{tender.section.id}/guarantee", json=doc, headers=bidder.headers(), environ_base={}
    )
    assert resp.status_code == 422, resp.get_json()
    assert message in resp.get_json()["message"] or message in json.dumps(resp.get_json(), ensure_ascii=False)
    assert db_session.scalar(select(BidSecurity).where(BidSecurity.guarantee_number.is_not(None))) is None


def test_the_required_amount_respects_2_percent_and_the_works_cap(app: Flask, world: Any) -> None:
    with app.test_request_context():
        assert rules.check_bid_security(Decimal("10000000"), Decimal("200000")).ok
        assert not rules.check_bid_security(Decimal("10000000"), Decimal("200000.01")).ok
        works = Category.ENGINEERING_CONSTRUCTION
        assert not rules.check_bid_security(Decimal("50000000"), Decimal("1000000"), works).ok
        assert rules.check_bid_security(Decimal("50000000"), Decimal("800000"), works).ok
        assert rules.check_bid_security(
            Decimal("50000000"), Decimal("1000000"), Category.GOVERNMENT_PROCUREMENT
        ).ok
        assert world.project.catalogue_item.category == works.value
        with pytest.raises(DomainError) as err:
            projects.create_section(
                world.project,
                terms(world, estimated_value=Decimal("50000000"), ceiling_price=Decimal("49000000"),
                      bid_security=Decimal("1000000")),
                actor=world.agent,
            )  # fmt: skip
        assert "bid_security" in (err.value.errors or {})
        assert "800,000" in str(err.value.errors["bid_security"])


def test_before_the_opening_nobody_but_the_bidder_learns_who_paid(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    payer, other = tender.bidders[0], tender.bidders[1]
    mine = _issue(client, tender, payer)
    _pay(client, mine["account_no"], REQUIRED)
    assert client.get(f"{API}/sections/{tender.section.id}/mine", headers=other.headers()).status_code == 404
    staff = app.test_client()
    login(staff, tender.world.staff)
    summary = staff.get(f"{API}/sections/{tender.section.id}/ledger").get_json()
    assert summary["secured"] == 1 and summary["held_fen"] == REQUIRED and summary["securities"] == []
    day = local_date(now()).isoformat()
    rows = staff.get(f"{API}/ledger?day={day}").get_json()["rows"]
    assert rows and all(r["bidder"] is None and r["account_no"] is None for r in rows)
    for page in (
        staff.get(f"/bidding/security/sections/{tender.section.id}/ledger"),
        staff.get(f"/bidding/security/ledger?day={day}"),
        staff.get(f"/bidding/security/ledger.csv?day={day}"),
    ):
        text = page.get_data(as_text=True)
        assert page.status_code == 200
        assert payer.org.name not in text and mine["account_no"] not in text and "某建设集团" not in text
    # a mistyped year shows today's journal, like any unreadable day, never a server error
    for typo in ("0001-01-01", "9999-12-31"):
        for path in (
            "/bidding/security/ledger",
            "/bidding/security/ledger.csv",
            "/bidding/security/ledger.xlsx",
        ):
            assert staff.get(f"{path}?day={typo}").status_code == 200, (path, typo)
    leaves = db_session.scalars(
        select(AuditLeaf).where(AuditLeaf.object_type.in_(["bid_security", "bank_movement"]))
    ).all()
    assert leaves and all(audit_sealing.is_sealed(leaf) for leaf in leaves)
    regulator = app.test_client()
    login(regulator, tender.world.regulator)
    audit_page = regulator.get("/audit/").get_data(as_text=True)
    assert payer.org.name not in audit_page
    bidder_page = app.test_client()
    login(bidder_page, payer.user)
    own = bidder_page.get(f"/bidding/security/sections/{tender.section.id}").get_data(as_text=True)
    assert mine["account_no"] in own and "已缴纳" in own
    # once opened, the staff and the supervising regulator see who paid
    tender.section.status = SectionStatus.OPENED.value
    db_session.flush()
    opened = staff.get(f"{API}/sections/{tender.section.id}/ledger").get_json()
    assert [s["bidder"] for s in opened["securities"]] == [payer.org.name]
    bank_leaves = [leaf for leaf in leaves if leaf.actor_role is None]  # the bidder's own acts stay sealed
    assert bank_leaves and not any(audit_sealing.is_sealed(leaf) for leaf in bank_leaves)


def test_late_money_goes_back_with_interest_and_the_day_balances(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    bidder = tender.bidders[0]
    mine = _issue(client, tender, bidder)
    after_deadline()
    _pay(client, mine["account_no"], REQUIRED)
    sec = db_session.get(BidSecurity, mine["id"])
    assert sec.status == "refund_due"
    # 5 日 from 23 March end on Saturday 28 March, a rest day: the period ends on Monday 30 March (民法典 Art.
    # 203)
    assert local_date(sec.refund_due_at - dt.timedelta(seconds=1)) == dt.date(2026, 3, 30)
    clock.freeze(DEADLINE + dt.timedelta(days=30))
    staff, auth = _staff(app, tender)
    resp = app.test_client().post(f"{API}/securities/{sec.id}/refund", headers=auth)
    assert resp.status_code == 200, resp.get_json()
    interest = services.interest_for(REQUIRED, DEADLINE, DEADLINE + dt.timedelta(days=30))
    assert interest == 5833  # 200,000.00 × 0.35 % × 30 / 360 = 58.33 yuan
    body = resp.get_json()
    assert body["status"] == "refunded" and body["interest_fen"] == interest and body["held_fen"] == 0
    day = local_date(now())
    with app.test_request_context():
        ld = ledger.daily_ledger(day, viewer=tender.world.staff)
    assert ld.balanced and ld.credits_fen == interest and ld.debits_fen == REQUIRED + interest
    assert ld.opening_fen == REQUIRED and ld.closing_fen == 0
    xlsx = staff.get(f"/bidding/security/ledger.xlsx?day={day.isoformat()}")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    cells = [c for row in sheet.iter_rows(values_only=True) for c in row if c]
    assert "200,058.33" in cells and "0.00" in cells
    run = app.test_client().post(f"{API}/reconcile", json={"day": day.isoformat()}, headers=auth).get_json()
    assert run["balanced"] and run["matched"] == 2


def test_reconciliation_books_a_credit_whose_callback_never_came(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    mine = _issue(client, tender, tender.bidders[0])
    bank.SimulatedBank().receive(
        account_no=mine["account_no"], amount_fen=REQUIRED, payer_account="1", payer_name="x"
    )
    staff, auth = _staff(app, tender)
    day = local_date(now()).isoformat()
    first = app.test_client().post(f"{API}/reconcile", json={"day": day}, headers=auth).get_json()
    assert first["booked_from_statement"] == 1 and first["balanced"]
    assert db_session.get(BidSecurity, mine["id"]).status == "secured"
    second = app.test_client().post(f"{API}/reconcile", json={"day": day}, headers=auth).get_json()
    assert second["booked_from_statement"] == 0 and second["matched"] == 1
    page = staff.post("/bidding/security/reconcile", data={"day": day, "csrf_token": _csrf(staff, day)})
    assert page.status_code == 302


def _csrf(client: FlaskClient, day: str) -> str:
    import re

    html = client.get(f"/bidding/security/ledger?day={day}").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_forfeiture_only_on_a_listed_ground_that_applies(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    mine = _issue(client, tender, tender.bidders[0])
    _pay(client, mine["account_no"], REQUIRED)
    staff, auth = _staff(app, tender)
    url = f"{API}/securities/{mine['id']}/forfeit"
    staff = app.test_client()  # bearer calls only: no session cookie, so no CSRF token
    early = staff.post(url, json={"ground": "withdrawal_after_deadline", "note": "撤销投标"}, headers=auth)
    assert early.status_code == 409  # before the deadline a bidder may withdraw freely
    after_deadline()
    assert staff.post(url, json={"ground": "bad_conduct", "note": "x"}, headers=auth).status_code == 422
    winner_only = staff.post(url, json={"ground": "refuses_contract", "note": "拒签"}, headers=auth)
    assert winner_only.status_code == 409  # not the winner
    not_revoked = staff.post(
        url, json={"ground": "decryption_bidder_fault", "note": "无法解密"}, headers=auth
    )
    assert not_revoked.status_code == 409  # the opening record does not say so
    done = staff.post(
        url, json={"ground": "withdrawal_after_deadline", "note": "截止后书面撤销投标文件"}, headers=auth
    )
    assert done.status_code == 200 and done.get_json()["status"] == "forfeited"
    sec = db_session.get(BidSecurity, mine["id"])
    assert sec.held_fen == 0 and [m.kind for m in sec.movements] == ["deposit", "forfeit"]
    leaf = db_session.scalar(select(AuditLeaf).where(AuditLeaf.action == "bidding:security:forfeit"))
    assert leaf is not None and "实施条例第35条" in (leaf.payload or "")


def test_a_failed_tender_starts_the_refund_clock_for_everyone(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    paid = [_issue(client, tender, b) for b in tender.bidders[:2]]
    for m in paid:
        _pay(client, m["account_no"], REQUIRED)
    with app.test_request_context():
        with pytest.raises(DomainError):
            services.schedule_refunds(tender.section, actor=tender.world.staff)
        tender.section.status = SectionStatus.FAILED.value
        tender.section.failed_reason = "有效投标不足3家"
        assert services.schedule_refunds(tender.section, actor=tender.world.staff) == 2
    for m in paid:
        sec = db_session.get(BidSecurity, m["id"])
        assert sec.status == "refund_due" and sec.refund_due_at > now()


def test_the_bidder_pages_issue_an_account_and_take_a_guarantee_file(
    app: Flask, tender: Tender, db_session: Any
) -> None:
    bidder = tender.bidders[0]
    browser = app.test_client()
    login(browser, bidder.user)
    page = browser.get(f"/bidding/security/sections/{tender.section.id}")
    assert page.status_code == 200 and "子账号" in page.get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert token
    browser.post(
        f"/bidding/security/sections/{tender.section.id}/account", data={"csrf_token": token.group(1)}
    )
    doc = json.dumps(_guarantee(tender, bidder)).encode()
    browser.post(
        f"/bidding/security/sections/{tender.section.id}/guarantee",
        data={"csrf_token": token.group(1), "document": (io.BytesIO(doc), "guarantee.json")},
        content_type="multipart/form-data",
    )
    sec = services.security_of(tender.section, bidder.org.id)
    assert sec is not None and sec.status == "secured" and sec.form == "guarantee"
    text = browser.get(f"/bidding/security/sections/{tender.section.id}").get_data(as_text=True)
    assert "电子保函" in text
    assert dt.datetime(2026, 3, 2, tzinfo=CST)  # the frozen world's date, for readers


def test_the_simulated_bank_command_pays_replays_and_reconciles(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    mine = _issue(client, tender, tender.bidders[0])
    runner = app.test_cli_runner()
    paid = runner.invoke(
        args=[
            "bidding",
            "bank-simulate",
            "pay",
            "--account",
            mine["account_no"],
            "--amount",
            "200000.00",
            "--replay",
        ]
    )
    assert paid.exit_code == 0, paid.output
    assert "callback: booked" in paid.output and "duplicate, nothing booked" in paid.output
    lost = _issue(client, tender, tender.bidders[1])
    quiet = runner.invoke(
        args=[
            "bidding",
            "bank-simulate",
            "pay",
            "--account",
            lost["account_no"],
            "--amount",
            "1.00",
            "--no-callback",
        ]
    )
    assert quiet.exit_code == 0 and "no callback sent" in quiet.output
    day = local_date(now()).isoformat()
    run = runner.invoke(args=["bidding", "bank-simulate", "reconcile", "--day", day])
    assert run.exit_code == 0, run.output
    assert "1 booked from the statement, 0 differences" in run.output
    assert db_session.get(BidSecurity, mine["id"]).status == "secured"
    partial = db_session.get(BidSecurity, lost["id"])
    assert partial.status == "awaiting" and partial.received_fen == 100  # 1 yuan of 200,000: not secured


def test_staff_pages_forfeit_with_a_ground_from_the_list_and_other_regulators_see_nothing(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    import re

    from app.core.permissions import OrgKind, Role
    from tests.factories import make_org, make_user

    mine = _issue(client, tender, tender.bidders[0])
    _pay(client, mine["account_no"], REQUIRED)
    after_deadline()
    tender.section.status = SectionStatus.OPENED.value
    db_session.flush()
    staff, _auth = _staff(app, tender)
    page = staff.get(f"/bidding/security/sections/{tender.section.id}/ledger").get_data(as_text=True)
    assert (
        tender.bidders[0].org.name in page and "投标截止后撤销投标文件" in page and "实施条例第74条" in page
    )
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    resp = staff.post(
        f"/bidding/security/securities/{mine['id']}/forfeit",
        data={
            "csrf_token": token.group(1),
            "ground": "withdrawal_after_deadline",
            "note": "截止后撤销投标文件",
        },
    )
    assert resp.status_code == 302
    assert db_session.get(BidSecurity, mine["id"]).status == "forfeited"
    stranger = app.test_client()
    login(stranger, make_user(Role.REGULATOR, make_org(OrgKind.REGULATOR)))
    assert stranger.get(f"{API}/sections/{tender.section.id}/ledger").status_code == 404
    assert stranger.get(f"/bidding/security/sections/{tender.section.id}/ledger").status_code == 404
    supervising = app.test_client()
    login(supervising, tender.world.regulator)
    read = supervising.get(f"{API}/sections/{tender.section.id}/ledger").get_json()
    assert [s["bidder"] for s in read["securities"]] == [tender.bidders[0].org.name]
    assert supervising.post(f"/bidding/security/securities/{mine['id']}/refund").status_code in {400, 403}


def test_the_ledger_exports_keep_a_formula_in_a_name_as_text(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    """A bidder's name is typed by the bidder: ``=HYPERLINK(...)`` must not become a live formula in the
    CSV or XLSX ledger (the escaping every export shares, app.core.spreadsheets)."""
    payer = tender.bidders[0]
    payer.org.name = '=HYPERLINK("http://x","y")'
    db_session.commit()
    mine = _issue(client, tender, payer)
    _pay(client, mine["account_no"], REQUIRED)
    tender.section.status = SectionStatus.OPENED.value  # from the opening the ledger names the bidder
    db_session.commit()
    staff, _auth = _staff(app, tender)
    day = local_date(now()).isoformat()
    text = staff.get(f"/bidding/security/ledger.csv?day={day}").get_data(as_text=True)
    assert '\'=HYPERLINK("http://x","y")' in text.replace('""', '"')
    assert ",=HYPERLINK" not in text and ',"=HYPERLINK' not in text
    xlsx = staff.get(f"/bidding/security/ledger.xlsx?day={day}")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    cells = [c for row in sheet.iter_rows() for c in row if c.value == '=HYPERLINK("http://x","y")']
    assert cells and all(c.data_type == "s" and c.quotePrefix for c in cells)


def test_every_export_writes_through_the_shared_escaping() -> None:
    """No module writes a CSV or an XLSX sheet without app.core.spreadsheets' escaping."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "app"
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name == "spreadsheets.py" or ("csv.writer" not in text and "Workbook(" not in text):
            continue
        assert (
            "spreadsheets.safe_row" in text or "spreadsheets.safe_cell" in text or "csv.writer" not in text
        ), path
        assert "append_xlsx_row" in text or "Workbook(" not in text, path
        assert ".append(row)" not in text or "Workbook(" not in text, path


def test_only_a_bidder_that_may_take_part_opens_a_sub_account_or_lodges_a_guarantee(
    client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    """In an invitation tender (or one with a prequalification) only the invited (qualified) bidders take
    part: another bidder is refused a sub-account and a guarantee, as it is refused the documents and the
    envelopes, and nothing is written (no security row, no audit leaf)."""
    from sqlalchemy import func

    from app.projects.enums import Procedure

    invited, stranger = tender.bidders[0], tender.bidders[1]
    tender.section.procedure = Procedure.INVITED.value
    tender.section.invited_org_ids = [invited.org.id]
    db_session.flush()
    leaves = db_session.scalar(select(func.count()).select_from(AuditLeaf))
    refused = client.post(f"{API}/sections/{tender.section.id}/account", headers=stranger.headers())
    assert refused.status_code == 403, refused.get_json()
    lodged = client.post(
        f"{API}/sections/{tender.section.id}/guarantee",
        json=_guarantee(tender, stranger),
        headers=stranger.headers(),
    )
    assert lodged.status_code == 403, lodged.get_json()
    assert db_session.scalars(select(BidSecurity).where(BidSecurity.org_id == stranger.org.id)).all() == []
    assert db_session.scalar(select(func.count()).select_from(AuditLeaf)) == leaves
    assert _issue(client, tender, invited)["account_no"]
