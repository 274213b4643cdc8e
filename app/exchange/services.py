"""Pushing the public records of every trade to the provincial platform (电子招标投标办法 Arts. 41–45).

* **Nothing lost.** Messages are made from the audit log, not from hooks in each domain: :func:`sweep` reads
  the leaves appended since its cursor (leaf indexes are handed out in commit order with no holes, see
  ``app.portal.services.crawl_sections``) and turns each leaf of a public record into one
  :class:`ExchangeMessage`. A crash between two sweeps loses nothing: the next sweep starts at the cursor.
* **Nothing sent twice.** One message per leaf (a unique ``leaf_idx``), one idempotency key per message,
  sent with every attempt: a receiver that got an attempt whose answer was lost drops the repeat. A message is
  marked sent only after the upper platform's 2xx.
* **Retries with backoff.** A failed attempt is retried after 30 s, 1 min, 2 min … (at most 1 h apart); after
  :data:`MAX_ATTEMPTS` (more than a day) it becomes a dead letter that staff see and retry by hand.
* **Adapters.** ``http`` posts JSON to ``EXCHANGE_URL`` signed with HMAC-SHA256 (``EXCHANGE_HMAC_SECRET``);
  ``simulated`` (the default, demo and tests) hands it to the in-process simulated provincial platform, which
  can be taken down for a while (``flask exchange simulate-outage``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Protocol

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.core import audit
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict
from app.core.models import AuditLeaf, Setting
from app.projects.models import Section

from .codes import transaction_code
from .models import ExchangeMessage, SimulatedProvinceRecord, WebhookDelivery
from .webhooks import fan_out

CURSOR_KEY = "exchange.cursor"
OUTAGE_KEY = "exchange.simulated_down_until"
MAX_ATTEMPTS = 30
FIRST_RETRY = dt.timedelta(seconds=30)
LONGEST_RETRY = dt.timedelta(hours=1)
LEASE = dt.timedelta(minutes=5)

#: Audit actions that record a public record, and the kind of message each becomes (data elements: the
#: 《电子招标投标办法》 Art. 41 list — announcements, amendments, opening records, candidate publicity,
#: results, contracts — and the complaint decisions the regulators publish).
KINDS: dict[str, str] = {
    "projects:section:publish": "announcement",  # 招标公告
    "projects:amendment:publish": "amendment",  # 澄清/修改公告
    "projects:section:transition": "termination",  # 终止公告 (cancelled) or 流标公告 (failed)
    "bidding:opening:publish": "opening_record",  # 开标记录 (published when the opening completes)
    "bidding:ceremony:not_opened": "opening_record",  # 不足三家，未开标
    "evaluation:publicity:publish": "candidate_publicity",  # 中标候选人公示
    "evaluation:result:announce": "result",  # 中标（成交）结果公告 (government procurement)
    "evaluation:award:issue": "result",  # 中标结果
    "evaluation:contract:signed": "contract",  # 合同订立
    "contracts:contract:publish": "contract",  # 合同公告 (采购条例 Art. 50), with the signed PDF's hash
    "complaints:case:transition": "case_decision",  # 投诉处理决定 (when published)
}


# -- the cursor --------------------------------------------------------------------------------------------


def _cursor() -> int:
    row = db.session.get(Setting, CURSOR_KEY)
    return int(row.value) if row is not None else -1


def _set_cursor(idx: int) -> None:
    row = db.session.get(Setting, CURSOR_KEY)
    if row is None:
        db.session.add(Setting(key=CURSOR_KEY, value=str(idx)))
    else:
        row.value = str(idx)


# -- making messages from the log --------------------------------------------------------------------------


def _section_of(leaf: AuditLeaf, payload: dict[str, Any]) -> Section | None:
    if leaf.object_type == "section" and leaf.object_id and leaf.object_id.isdigit():
        return db.session.get(Section, int(leaf.object_id))
    if payload.get("section_id"):
        return db.session.get(Section, int(payload["section_id"]))
    if leaf.object_type == "complaint_case" and leaf.object_id and leaf.object_id.isdigit():
        from app.complaints.models import Case

        case = db.session.get(Case, int(leaf.object_id))
        return case.section if case is not None else None
    return None


def _record_of(kind: str, leaf: AuditLeaf, payload: dict[str, Any], section: Section) -> dict[str, Any]:
    """The public record the message carries: the section as the portal publishes it (its OCDS release, so
    nothing confidential can travel), plus what the event itself adds."""
    from app.portal import ocds

    record: dict[str, Any] = {"release": ocds.release(section)}
    if kind == "case_decision":
        from app.complaints import services as complaints
        from app.complaints.models import Case

        case = db.session.get(Case, int(leaf.object_id or 0))
        assert case is not None
        record["decision"] = {
            "number": case.number,
            "decided_at": case.decided_at.isoformat() if case.decided_at else None,
            "published_at": case.published_at.isoformat() if case.published_at else None,
            "remedy": case.remedy,
            "text": complaints.redact(case.decision or ""),
        }
    elif kind == "opening_record":
        from app.bidding import opening

        ceremony = opening.completed_ceremony(section)
        if ceremony is not None:
            record["opening_record"] = opening.record_document(section, ceremony)
        else:
            unopened = opening.not_opened_ceremony(section)
            if unopened is not None:
                record["opening_record"] = opening.not_opened_document(section, unopened)
    elif kind == "amendment":
        record["amendment"] = {k: payload.get(k) for k in ("number", "affects_bids")}
    elif kind == "contract" and leaf.object_type == "contract":
        record["contract"] = {k: payload.get(k) for k in ("sha256", "amount", "publish_due_at", "late")}
    return record


def _message_for(leaf: AuditLeaf) -> ExchangeMessage | None:
    kind = KINDS.get(leaf.action)
    if kind is None:
        return None
    payload = json.loads(leaf.payload or "{}")
    if kind == "case_decision" and (payload.get("to") != "published" or payload.get("kind") != "complaint"):
        return None
    if kind == "termination":
        if payload.get("to") not in {"cancelled", "failed"}:
            return None
        kind = "termination" if payload["to"] == "cancelled" else "failure"
    section = _section_of(leaf, payload)
    if section is None:
        return None
    code = transaction_code(section)
    body = {
        "kind": kind,
        "transaction_code": code,
        "section_code": section.code,
        "occurred_at": leaf.created_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "log": {
            "origin": current_app.config["AUDIT_ORIGIN"],
            "leaf_index": leaf.idx,
            "leaf_hash": bytes(leaf.leaf_hash).hex(),
        },
        "record": _record_of(kind, leaf, payload, section),
    }
    key = hashlib.sha256(f"{current_app.config['AUDIT_ORIGIN']}|{leaf.idx}".encode()).hexdigest()[:64]
    return ExchangeMessage(
        leaf_idx=leaf.idx,
        kind=kind,
        transaction_code=code,
        idempotency_key=key,
        payload=body,
        status="pending",
    )


def sweep(limit: int = 1000) -> int:
    """Turn the public-record leaves appended since the cursor into messages; returns how many were made.
    The caller commits (the cursor moves in the same transaction as the messages it stands for)."""
    after = _cursor()
    leaves = db.session.scalars(
        select(AuditLeaf)
        .where(AuditLeaf.idx > after, AuditLeaf.action.in_(list(KINDS)))
        .order_by(AuditLeaf.idx)
        .limit(limit)
    ).all()
    made = 0
    for leaf in leaves:
        message = _message_for(leaf)
        if message is not None:
            try:
                with db.session.begin_nested():  # a concurrent sweep made it already: keep theirs
                    db.session.add(message)
            except IntegrityError:
                message = None
            if message is not None:
                made += 1
                fan_out(message)
        after = leaf.idx
    if len(leaves) < limit:  # nothing relevant is left below the head: jump the cursor there
        head = db.session.scalar(select(func.max(AuditLeaf.idx)))
        after = max(after, head if head is not None else -1)
    _set_cursor(after)
    return made


# -- delivery ----------------------------------------------------------------------------------------------


class Adapter(Protocol):
    def send(self, message: ExchangeMessage, body: bytes) -> str:
        """Deliver; return the upper platform's receipt. Raise on any failure (it is retried)."""


def wire_body(message: ExchangeMessage) -> bytes:
    return json.dumps(message.payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _secret() -> bytes:
    configured = current_app.config.get("EXCHANGE_HMAC_SECRET")
    if configured:
        return str(configured).encode()
    # a per-installation secret derived from the application secret (set EXCHANGE_HMAC_SECRET in production)
    return hmac.new(str(current_app.config["SECRET_KEY"]).encode(), b"exchange-hmac", hashlib.sha256).digest()


def signature(body: bytes, timestamp: str, secret: bytes | None = None) -> str:
    """HMAC-SHA256 over ``timestamp + "." + body``, hex (the ``X-Exchange-Signature`` header)."""
    return hmac.new(secret or _secret(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class HttpAdapter:
    def send(self, message: ExchangeMessage, body: bytes) -> str:
        url = str(current_app.config.get("EXCHANGE_URL") or "")
        if not url.startswith(("http://", "https://")):
            raise ValueError("EXCHANGE_URL must be an http(s) address")
        timestamp = str(int(now().timestamp()))
        req = urllib.request.Request(  # noqa: S310 - scheme checked above
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Idempotency-Key": message.idempotency_key,
                "X-Exchange-Timestamp": timestamp,
                "X-Exchange-Signature": signature(body, timestamp),
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:  # noqa: S310 - scheme checked above
                answer = resp.read(4096).decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"upper platform answered {err.code}") from err
        try:
            return str(json.loads(answer).get("receipt") or "")[:200]
        except (ValueError, AttributeError):
            return answer[:200]


class SimulatedAdapter:
    """The simulated provincial platform, in process (demo and tests)."""

    def send(self, message: ExchangeMessage, body: bytes) -> str:
        return simulated_receive(message.idempotency_key, body)


def simulated_receive(key: str, body: bytes) -> str:
    """What the simulated upper platform does with a push: refuse while it is down; keep the first copy of
    each idempotency key and count repeats."""
    down = db.session.get(Setting, OUTAGE_KEY)
    if down is not None and now() < dt.datetime.fromisoformat(down.value):
        raise ConnectionError("the provincial platform is unavailable")
    data = json.loads(body)
    existing = db.session.scalar(
        select(SimulatedProvinceRecord).where(SimulatedProvinceRecord.idempotency_key == key)
    )
    if existing is not None:
        existing.repeats += 1
        return f"PROV-{existing.id}"
    record = SimulatedProvinceRecord(
        idempotency_key=key, kind=data["kind"], transaction_code=data["transaction_code"], body=body.decode()
    )
    db.session.add(record)
    db.session.flush()
    return f"PROV-{record.id}"


def simulate_outage(until: dt.datetime | None) -> None:
    """Take the simulated provincial platform down until ``until`` (None: bring it back now)."""
    row = db.session.get(Setting, OUTAGE_KEY)
    if until is None:
        if row is not None:
            db.session.delete(row)
        return
    if row is None:
        db.session.add(Setting(key=OUTAGE_KEY, value=until.isoformat()))
    else:
        row.value = until.isoformat()


def adapter() -> Adapter:
    name = current_app.config.get("EXCHANGE_ADAPTER", "simulated")
    if name == "http":
        return HttpAdapter()
    if name == "simulated":
        return SimulatedAdapter()
    raise ValueError(f"unknown exchange adapter {name!r}")


def backoff(attempts: int) -> dt.timedelta:
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)


Retried = ExchangeMessage | WebhookDelivery


def lease(model: type[Any], limit: int) -> Sequence[Any]:
    """Lease up to ``limit`` due rows of ``model`` (a message or a webhook delivery) to this deliverer and
    commit the lease; another deliverer (another worker or machine) skips them until the lease ends."""
    token = secrets.token_hex(16)
    at = now()
    due = (
        model.status == "pending",
        model.next_attempt_at <= at,
        or_(model.claimed_until.is_(None), model.claimed_until < at),
    )
    batch = select(model.id).where(*due).order_by(model.id).limit(limit)
    db.session.execute(
        update(model)
        .where(model.id.in_(batch.scalar_subquery()), *due)
        .values(claim_token=token, claimed_until=at + LEASE)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return db.session.scalars(select(model).where(model.claim_token == token).order_by(model.id)).all()


def error_text(err: Exception) -> str:
    """``<kind>|<detail>``: the kind (``unreachable``, ``status:<code>``, ``refused``) is what pages show, in
    words (:func:`app.exchange.labels.error_label`); the detail is for the operators."""
    detail = f"{type(err).__name__}: {err}"
    match = re.search(r"answered (\d{3})", str(err))
    if match:
        kind = f"status:{match.group(1)}"
    elif isinstance(err, (OSError, urllib.error.URLError)):
        kind = "unreachable"
    else:
        kind = "refused"
    return f"{kind}|{detail}"[:500]


def attempt(row: Retried, send: Callable[[], str | None], *, dead_action: str) -> bool:
    """One attempt at ``row``: sent on success; on failure retried later with backoff, or a dead letter
    after :data:`MAX_ATTEMPTS` (audited). Commits. Returns whether it was sent."""
    row.attempts += 1
    at = now()
    ok = False
    try:
        receipt = send()
    except Exception as err:  # any failure of the receiver or the network is retried, never lost
        row.last_error = error_text(err)
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "dead"
            audit.record(
                dead_action,
                object_type=row.__tablename__,
                object_id=row.id,
                payload={"attempts": row.attempts, "error": row.last_error},
            )
        else:
            row.next_attempt_at = at + backoff(row.attempts)
    else:
        ok = True
        row.status, row.sent_at, row.last_error = "sent", at, None
        if isinstance(row, ExchangeMessage):
            row.remote_receipt = receipt
    row.claim_token, row.claimed_until = None, None
    db.session.commit()
    return ok


def deliver(limit: int = 100) -> tuple[int, int]:
    """Send the messages that are due, oldest first, one transaction each. Returns (sent, failed)."""
    sent = failed = 0
    push = adapter()
    for message in lease(ExchangeMessage, limit):
        if attempt(
            message, partial(push.send, message, wire_body(message)), dead_action="exchange:message:dead"
        ):
            sent += 1
        else:
            failed += 1
    return sent, failed


def retry_dead(message: ExchangeMessage, *, actor: User) -> None:
    """Staff send a dead letter again (after the upper platform fixed what refused it)."""
    if message.status != "dead":
        raise Conflict(_("Only a message that could not be delivered is retried."), code="not_dead")
    message.status, message.attempts, message.next_attempt_at = "pending", 0, now()
    audit.record(
        "exchange:message:retry",
        actor=actor,
        object_type="exchange_message",
        object_id=message.id,
        payload={"kind": message.kind, "transaction_code": message.transaction_code},
    )


def counts() -> dict[str, int]:
    rows = db.session.execute(
        select(ExchangeMessage.status, func.count()).group_by(ExchangeMessage.status)
    ).all()
    return {status: int(n) for status, n in rows}
