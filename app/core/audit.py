"""The audit log: one append-only RFC 6962/9162 Merkle log of every state change (SPEC §7).

Every domain calls :func:`record` inside its own transaction; the leaf, the perfect subtrees it completes and
the new head are written in that transaction, so a change and its audit leaf commit or roll back together.
The head row is the append lock (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite transactions already start
with ``BEGIN IMMEDIATE``).

Signed tree heads are C2SP tlog-checkpoint signed notes with the platform Ed25519 key, so standard
transparency-log tooling can check them; regulators add witness cosignatures. Leaves and nodes are
protected three times: database triggers (:data:`SQLITE_TRIGGERS`, :data:`POSTGRES_TRIGGERS`), an ORM guard
and :func:`verify_log`, which recomputes everything from the stored columns.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import json
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app, has_app_context, has_request_context, request
from sqlalchemy import event, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from . import events, merkle
from .checkpoint_note import (
    _SIG_PREFIX,
    _note_body,
    _raw_public,
    _split_note,
    _to_public_key,
    note_key_id,
    parse_checkpoint_note,
    verifier_key,
    verify_checkpoint_note,
)
from .checkpoint_note import raw_public_key as raw_public_key  # re-exported
from .checkpoint_note import to_public_key as to_public_key  # re-exported
from .clock import now
from .db import db
from .errors import DomainError
from .models import AuditCheckpoint, AuditHead, AuditLeaf, AuditNode, SigningKey

__all__ = [
    "POSTGRES_DROP_TRIGGERS",
    "POSTGRES_TRIGGERS",
    "SQLITE_DROP_TRIGGERS",
    "SQLITE_TRIGGERS",
    "AuditImmutableError",
    "CosignatureView",
    "InvalidCosignature",
    "VerifyResult",
    "canonical_json",
    "checkpoint",
    "checkpoint_due",
    "checkpoint_if_due",
    "checkpoint_soon",
    "consistency_proof",
    "cosign",
    "cosignature_views",
    "inclusion_proof",
    "leaf_bytes",
    "live_event",
    "note_key_id",
    "parse_checkpoint_note",
    "platform_public_key",
    "platform_verifier_key",
    "record",
    "record_denial",
    "root_hash",
    "tree_size",
    "verify_checkpoint_note",
    "verify_log",
]

LEAF_VERSION = 1
HEAD_ID = 1


class Actor(Protocol):
    @property
    def id(self) -> Any: ...
    @property
    def role(self) -> Any: ...
    @property
    def org_id(self) -> Any: ...


class AuditImmutableError(RuntimeError):
    """Raised by the ORM guard when code tries to change or delete an audit leaf or node."""


class InvalidCosignature(DomainError):
    code = "invalid_cosignature"


# ---------------------------------------------------------------------------------------------------------
# Canonical JSON and the leaf encoding
# ---------------------------------------------------------------------------------------------------------


def _iso_utc(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime in audit data")
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _iso_utc(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable in an audit payload")


# One encoder: json.dumps with options builds a new encoder per call, which shows at 10^6 leaves.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
)


def canonical_json(obj: Any) -> str:
    """Keys sorted, no whitespace, UTF-8; datetimes as ISO UTC (``…Z``), Decimal as str, enums by value."""
    return _ENCODER.encode(obj)


def _payload_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def leaf_bytes(
    *,
    created_at: dt.datetime,
    actor_id: int | None,
    actor_role: str | None,
    org_id: int | None,
    action: str,
    object_type: str | None,
    object_id: str | None,
    source_ip: str | None,
    payload_sha256: str,
) -> bytes:
    """The bytes whose RFC 6962 leaf hash goes into the tree: canonical JSON of the leaf's columns, the
    payload only by digest (so a leaf can be proven without disclosing its payload)."""
    return _ENCODER.encode(
        {
            "v": LEAF_VERSION,
            "time": _iso_utc(created_at),
            "actor_id": actor_id,
            "actor_role": actor_role,
            "org_id": org_id,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "source_ip": source_ip,
            "payload_sha256": payload_sha256,
        }
    ).encode()


def leaf_bytes_of(leaf: AuditLeaf) -> bytes:
    return leaf_bytes(
        created_at=leaf.created_at,
        actor_id=leaf.actor_id,
        actor_role=leaf.actor_role,
        org_id=leaf.org_id,
        action=leaf.action,
        object_type=leaf.object_type,
        object_id=leaf.object_id,
        source_ip=leaf.source_ip,
        payload_sha256=leaf.payload_sha256,
    )


# ---------------------------------------------------------------------------------------------------------
# Appending
# ---------------------------------------------------------------------------------------------------------


_HEAD = AuditHead.__table__
_HEAD_SELECT = select(_HEAD.c.size, _HEAD.c.frontier).where(_HEAD.c.id == HEAD_ID)
_HEAD_UPDATE = _HEAD.update().where(_HEAD.c.id == HEAD_ID)
_NODE_INSERT = AuditNode.__table__.insert()


# The locked head, kept for the rest of the transaction that locked it: a transaction appending N leaves
# (a draw writes six) reads and locks the head once, not N times. Only the transaction holding the row lock
# may append, so nobody else can move the head meanwhile; the cache is dropped when that transaction ends and
# on any rollback, a savepoint's included (its leaves are gone, and PostgreSQL releases a row lock taken
# inside a rolled-back savepoint).
_HEAD_CACHE_KEY = "audit_head_locked"


def _locked_head(session: Session) -> tuple[int, merkle.Frontier]:
    cached = session.info.get(_HEAD_CACHE_KEY)
    if cached is not None and cached[0] is session.get_transaction():
        return cached[1], cached[2]
    size, frontier = _head_state(session, lock=True, cached=False)
    session.info[_HEAD_CACHE_KEY] = (session.get_transaction(), size, frontier)
    return size, frontier


def _head_state(session: Session, *, lock: bool, cached: bool = True) -> tuple[int, merkle.Frontier]:
    """Size and frontier of the log; with ``lock`` the head row stays locked until the transaction ends
    (read once per transaction: see :func:`_locked_head`).

    Core statements on the session's connection: the head is bookkeeping, not an ORM object, and the ORM
    path costs more than the rest of an append."""
    if lock and cached:
        size, frontier = _locked_head(session)
        return size, list(frontier)
    conn = session.connection()
    stmt = _HEAD_SELECT.with_for_update() if lock else _HEAD_SELECT
    row = conn.execute(stmt).one_or_none()
    if row is None:
        if not lock:
            return 0, []
        # The migration seeds the row; this covers a database built with create_all. ON CONFLICT DO NOTHING
        # so two first writers do not collide on PostgreSQL (the loser waits, then finds the row).
        ins = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(_HEAD)
        conn.execute(ins.values(id=HEAD_ID, size=0, frontier=[]).on_conflict_do_nothing())
        row = conn.execute(stmt).one()
    size, hashes = row
    return size, merkle.frontier_from_hashes(size, [bytes.fromhex(h) for h in hashes or []])


def _actor_fields(actor: Actor | None) -> tuple[int | None, str | None, int | None]:
    if actor is None:
        return None, None, None
    role = getattr(actor, "role", None)
    if isinstance(role, enum.Enum):
        role = role.value
    return getattr(actor, "id", None), None if role is None else str(role), getattr(actor, "org_id", None)


def record(
    action: str,
    *,
    actor: Actor | None = None,
    object_type: str | None = None,
    object_id: object = None,
    payload: dict[str, Any] | None = None,
    source_ip: str | None = None,
    keep_source: bool = True,
) -> AuditLeaf:
    """Append one leaf in the current transaction (the caller commits) and return it, flushed (inside
    :func:`batch`, built and hashed now but written when the batch ends). The client address is recorded
    unless ``keep_source`` is False (a member of the public acting anonymously)."""
    session: Session = db.session()
    size, cached = _locked_head(session)
    frontier = list(cached)  # appended to below; the cache moves on only once the leaf is written

    if not keep_source:
        source_ip = None
    elif source_ip is None and has_request_context():
        source_ip = request.remote_addr
    actor_id, actor_role, org_id = _actor_fields(actor)
    payload_text = canonical_json(payload or {})
    leaf = AuditLeaf(
        idx=size,
        created_at=now(),
        actor_id=actor_id,
        actor_role=actor_role,
        org_id=org_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(getattr(object_id, "value", object_id)),
        source_ip=source_ip,
        payload=payload_text,
        payload_sha256=_payload_digest(payload_text),
    )
    leaf.leaf_hash = merkle.leaf_hash(leaf_bytes_of(leaf))
    completed = merkle.append_leaf(frontier, size, leaf.leaf_hash)

    pending: _Batch | None = session.info.get(_BATCH_KEY)
    if pending is not None:  # written when the batch ends (see batch())
        pending.leaves.append(leaf)
        pending.nodes.extend(completed)
    else:
        session.add(leaf)
        session.flush()  # the caller may need the leaf; a duplicate idx must fail here, not at commit
        conn = session.connection()
        if completed:
            conn.execute(_NODE_INSERT, [{"level": lv, "index": ix, "hash": h} for lv, ix, h in completed])
        conn.execute(_HEAD_UPDATE, {"size": size + 1, "frontier": [h.hex() for _, h in frontier]})
    session.info[_HEAD_CACHE_KEY] = (session.get_transaction(), size + 1, frontier)
    # Live monitoring: every committed leaf goes to the bus (sent after commit, dropped on rollback).
    events.publish(session, "audit", live_event(leaf, payload), event_id=str(size))

    session.info[_GREW_KEY] = True  # the commit hook signs a checkpoint if one is due (checkpoint_if_due)
    every = int(current_app.config.get("AUDIT_CHECKPOINT_EVERY") or 0)
    if every > 0 and (size + 1) % every == 0:
        checkpoint(reason="periodic")  # writes a pending batch first: it signs the head with them
    return leaf


# A batch: leaves recorded one after another in one transaction (a draw writes three at its request and
# three at its reveal) are built, hashed and chained exactly as one by one — same idx, contents, leaf hashes,
# subtrees and head — but written together: one INSERT of the leaves, one of the completed subtrees and one
# head update, instead of two or three statements per leaf.
_BATCH_KEY = "audit_batch"


@dataclass
class _Batch:
    leaves: list[AuditLeaf] = field(default_factory=list)
    nodes: list[tuple[int, int, bytes]] = field(default_factory=list)
    broken: bool = False  # a savepoint rolled back inside the batch (see _forget_after_rollback)


@contextmanager
def batch() -> Iterator[None]:
    """Append the leaves :func:`record` makes inside the block in one go when the block ends: the same leaves,
    in the same order, with the same hashes, subtrees and head as one by one. Inside the block the new leaves
    are not in the database yet: nothing there may read the log's tables (a checkpoint, which signs the
    head, and a commit write the pending leaves first), and no savepoint may roll back (refused at the end).
    If the block raises, its pending leaves (and their live events) are dropped with it. Nested blocks join
    the outermost one: what an inner block recorded before raising is kept, as one by one, if the outer
    block catches the error and goes on."""
    session: Session = db.session()
    if _BATCH_KEY in session.info:
        yield
        return
    pending = session.info[_BATCH_KEY] = _Batch()
    queued = events.mark(session)
    try:
        yield
    except BaseException:
        session.info.pop(_BATCH_KEY, None)
        if pending.leaves:  # the cached head counts the dropped leaves: read it again next time
            session.info.pop(_HEAD_CACHE_KEY, None)
            events.drop_since(session, queued)  # no live event for a leaf that is never written
        raise
    try:
        _write_batch(session)
    finally:
        session.info.pop(_BATCH_KEY, None)


def _write_batch(session: Session) -> None:
    """Write the pending leaves of the open batch, if any; the batch stays open (and empty)."""
    pending: _Batch | None = session.info.get(_BATCH_KEY)
    if pending is None or not pending.leaves:
        return
    if pending.broken:
        raise RuntimeError("a savepoint rolled back inside an audit batch: its pending leaves are unusable")
    cached = session.info.get(_HEAD_CACHE_KEY)
    if cached is None or cached[0] is not session.get_transaction():  # pragma: no cover - guarded above
        raise RuntimeError("the audit head moved on outside the batch")
    _, size, frontier = cached
    leaves, nodes = pending.leaves, pending.nodes
    pending.leaves, pending.nodes = [], []
    session.add_all(leaves)
    session.flush()  # one INSERT for all the leaves; a duplicate idx fails here
    conn = session.connection()
    if nodes:
        conn.execute(_NODE_INSERT, [{"level": lv, "index": ix, "hash": h} for lv, ix, h in nodes])
    conn.execute(_HEAD_UPDATE, {"size": size, "frontier": [h.hex() for _, h in frontier]})


def live_event(leaf: AuditLeaf, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the live stream may show of a leaf: never the payload, actor or organization; for a sealed leaf
    (``app.core.audit_sealing``) not the role or object id either. The section it concerns is kept so
    regulators can filter."""
    from .audit_sealing import is_sealed

    sealed = is_sealed(leaf)
    section_id: Any = leaf.object_id if leaf.object_type == "section" else (payload or {}).get("section_id")
    return {
        "idx": leaf.idx,
        "action": leaf.action,
        "object_type": leaf.object_type,
        "object_id": None if sealed else leaf.object_id,
        "actor_role": None if sealed else leaf.actor_role,
        "time": _iso_utc(leaf.created_at),
        "section_id": None if section_id is None else str(section_id),
        "sealed": sealed,
    }


def record_denial(*, permission: str, endpoint: str) -> AuditLeaf:
    """Record a refused request and commit: the request is about to be answered 403 and rolled back."""
    from flask_login import current_user

    actor = current_user if getattr(current_user, "is_authenticated", False) else None
    leaf = record(
        "security:authz:denied",
        actor=actor,
        object_type="endpoint",
        object_id=endpoint,
        payload={"permission": str(permission), "endpoint": endpoint},
    )
    db.session.commit()
    return leaf


# ---------------------------------------------------------------------------------------------------------
# Reading: sizes, roots and proofs served from the stored perfect subtrees
# ---------------------------------------------------------------------------------------------------------


def tree_size() -> int:
    return _head_state(db.session(), lock=False)[0]


def _with_nodes(compute: Callable[[merkle.GetNode], Any]) -> Any:
    """Run a proof computation twice: first to learn which nodes it reads (its control flow depends only on
    sizes), then with those nodes fetched in two queries."""
    wanted: set[tuple[int, int]] = set()

    def record_wanted(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return bytes(32)

    compute(record_wanted)
    found = _fetch_nodes(wanted)

    def get(level: int, index: int) -> bytes:
        try:
            return found[(level, index)]
        except KeyError:
            raise LookupError(f"audit node (level {level}, index {index}) is missing") from None

    return compute(get)


def _fetch_nodes(wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    session = db.session()
    leaves = sorted(ix for lv, ix in wanted if lv == 0)
    inner = sorted((lv, ix) for lv, ix in wanted if lv > 0)
    found: dict[tuple[int, int], bytes] = {}
    if leaves:
        rows = session.execute(select(AuditLeaf.idx, AuditLeaf.leaf_hash).where(AuditLeaf.idx.in_(leaves)))
        found.update({(0, idx): bytes(h) for idx, h in rows})
    if inner:
        # One expanding IN over the (level, index) key: the statement compiles once, whatever the number of
        # nodes (an OR of one term per node was a new statement, compiled anew, for most tree sizes).
        cond = tuple_(AuditNode.level, AuditNode.index).in_(inner)
        nodes = session.execute(select(AuditNode.level, AuditNode.index, AuditNode.hash).where(cond))
        found.update({(lv, ix): bytes(h) for lv, ix, h in nodes})
    return found


def _check_size(size: int) -> None:
    current = tree_size()
    if not 0 <= size <= current:
        raise merkle.InvalidProofError(f"the log has {current} leaves, not {size}")


def root_hash(size: int | None = None) -> bytes:
    """The tree head now, or at an earlier ``size`` (from O(log n) stored subtrees)."""
    if size is None:
        return merkle.root_from_frontier(_head_state(db.session(), lock=False)[1])
    _check_size(size)
    if size == 0:
        return merkle.EMPTY_ROOT
    return bytes(_with_nodes(lambda get: merkle.range_hash(0, size, get)))


def inclusion_proof(index: int, size: int | None = None) -> list[bytes]:
    size = tree_size() if size is None else size
    _check_size(size)
    return list(_with_nodes(lambda get: merkle.inclusion_proof(index, size, get)))


def consistency_proof(old: int, new: int) -> list[bytes]:
    _check_size(new)
    return list(_with_nodes(lambda get: merkle.consistency_proof(old, new, get)))


# ---------------------------------------------------------------------------------------------------------
# Checkpoints: C2SP tlog-checkpoint signed notes
# ---------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _private_key(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("PLATFORM_SIGNING_KEY_PEM must be an Ed25519 key")
    return key


def _platform_private_key() -> Ed25519PrivateKey:
    pem = current_app.config["PLATFORM_SIGNING_KEY_PEM"]
    return _private_key(pem.encode() if isinstance(pem, str) else bytes(pem))


def platform_public_key() -> Ed25519PublicKey:
    """The key the platform signs with now."""
    return _platform_private_key().public_key()


def platform_public_keys() -> list[Ed25519PublicKey]:
    """The key in use and every retired one (newest first): what an earlier key signed still verifies after
    a rotation. Only these count, never a key named by the thing being verified."""
    current = platform_public_key()
    raw = _raw_public(current)
    keys = [current]
    for stored in db.session.scalars(select(SigningKey.public_key).order_by(SigningKey.id.desc())):
        if bytes(stored) != raw:
            keys.append(Ed25519PublicKey.from_public_bytes(bytes(stored)))
    return keys


def retire_signing_key(actor: Actor | None = None) -> SigningKey:
    """Before a rotation: record the key in use as retired (one audit leaf), so that what it signed still
    verifies once the new key is configured. Refused if it is already retired."""
    key = platform_public_key()
    raw = _raw_public(key)
    if db.session.scalar(select(SigningKey.id).where(SigningKey.public_key == raw)) is not None:
        raise DomainError("this key is already retired; configure the new PLATFORM_SIGNING_KEY")
    row = SigningKey(public_key=raw, retired_at=now())
    db.session.add(row)
    db.session.flush()
    record(
        "core:signing_key:retire",
        actor=actor,
        object_type="signing_key",
        object_id=row.id,
        payload={
            "public_key": base64.b64encode(raw).decode(),
            "verifier_key": verifier_key(current_app.config["AUDIT_ORIGIN"], key),
        },
    )
    return row


def platform_verifier_key() -> str:
    """The note verifier key ``<name>+<hex key id>+<base64(0x01 ‖ key)>`` to publish next to the log."""
    return verifier_key(current_app.config["AUDIT_ORIGIN"], platform_public_key())


def _sign_note(body: str) -> str:
    origin = body.split("\n", 1)[0]
    key = _platform_private_key()
    blob = note_key_id(origin, key.public_key()) + key.sign(body.encode())
    return f"{body}\n{_SIG_PREFIX}{origin} {base64.b64encode(blob).decode()}\n"


def checkpoint(reason: str = "on_demand", *, session: Session | None = None) -> AuditCheckpoint:
    """Sign the current tree head (in the current transaction; the caller commits).

    A tree size is signed once: if the newest checkpoint already covers this size, it is returned instead
    (two workers, or a key event and the cadence, asking at the same moment). The head row lock serialises
    signers, so the check cannot race."""
    session = session if session is not None else db.session()
    _write_batch(session)  # the head it signs is in the database with every leaf under it
    size, frontier = _head_state(session, lock=True)
    root = merkle.root_from_frontier(frontier)
    latest = session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1))
    if latest is not None and latest.tree_size == size and bytes(latest.root_hash) == root:
        return latest
    note = _sign_note(_note_body(current_app.config["AUDIT_ORIGIN"], size, root))
    cp = AuditCheckpoint(
        tree_size=size, root_hash=root, created_at=now(), reason=reason, note=note, cosignatures=[]
    )
    session.add(cp)
    session.flush()  # give the checkpoint its id for the caller
    return cp


# The cadence (issue 16): a log is only protected against truncation up to its newest signed checkpoint, so
# one is signed whenever the log has grown and AUDIT_CHECKPOINT_INTERVAL has passed (checked when a
# transaction that appended commits, and when anyone fetches the latest checkpoint), and at once for the key
# events (checkpoint_soon). No timer: nothing to miss when a worker dies.

_GREW_KEY = "audit_grew"
_SOON_KEY = "audit_checkpoint_soon"


def checkpoint_due(
    size: int,
    latest: tuple[int, dt.datetime] | None,
    at: dt.datetime,
    *,
    interval: float,
    every: int,
) -> bool:
    """Should a log of ``size`` leaves whose newest checkpoint is ``latest`` (size, signed at) be signed at
    ``at``? Yes when it has grown and the newest checkpoint is ``interval`` seconds old (or from the future:
    the clock was moved back), or it has grown by ``every`` leaves; a log without checkpoints as soon as it
    has a leaf."""
    if latest is None:
        return size > 0
    cp_size, cp_time = latest
    if size <= cp_size:
        return False
    if every > 0 and size - cp_size >= every:
        return True
    age = (at - cp_time).total_seconds()
    return age >= interval or age < 0


_CP = AuditCheckpoint.__table__
# The cadence's question in one round trip: the head's size and the newest checkpoint's size and time.
_CADENCE_SELECT = select(
    _HEAD.c.size,
    select(_CP.c.tree_size).order_by(_CP.c.tree_size.desc()).limit(1).scalar_subquery(),
    select(_CP.c.created_at).order_by(_CP.c.tree_size.desc()).limit(1).scalar_subquery(),
).where(_HEAD.c.id == HEAD_ID)


def checkpoint_if_due(session: Session | None = None, *, reason: str = "cadence") -> AuditCheckpoint | None:
    """Sign a checkpoint if the cadence asks for one (see :func:`checkpoint_due`); the caller commits."""
    session = session if session is not None else db.session()
    config = current_app.config
    row = session.connection().execute(_CADENCE_SELECT).first()
    size, cp_size, cp_time = row if row is not None else (0, None, None)
    due = checkpoint_due(
        size or 0,
        None if cp_size is None or cp_time is None else (int(cp_size), cp_time),
        now(),
        interval=float(config.get("AUDIT_CHECKPOINT_INTERVAL", 60)),
        every=int(config.get("AUDIT_CHECKPOINT_EVERY") or 0),
    )
    return checkpoint(reason=reason, session=session) if due else None


def checkpoint_soon(reason: str) -> None:
    """Sign a checkpoint when the current transaction commits, covering every leaf it appended: for the
    events the public must be able to hold the platform to at once (an opening, a draw reveal, an award, a
    case decision)."""
    db.session().info[_SOON_KEY] = reason


@event.listens_for(Session, "before_commit")
def _checkpoint_before_commit(session: Session) -> None:
    info = session.info
    if not session.in_nested_transaction():
        _write_batch(session)  # a commit inside a batch block commits its leaves too
    if _GREW_KEY not in info and _SOON_KEY not in info:
        return
    if session.in_nested_transaction() or not has_app_context():
        return  # a savepoint: the enclosing transaction's commit decides
    info.pop(_GREW_KEY, None)
    reason = info.pop(_SOON_KEY, None)
    if reason is not None:
        checkpoint(reason=reason, session=session)
    else:
        checkpoint_if_due(session)


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_HEAD_CACHE_KEY, None)  # a savepoint's too: its leaves and its row lock are gone
    pending: _Batch | None = session.info.get(_BATCH_KEY)
    if pending is not None and pending.leaves:
        pending.broken = True  # they were chained on a head that may be gone
    if not previous_transaction.nested:
        session.info.pop(_GREW_KEY, None)
        session.info.pop(_SOON_KEY, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_head_after_transaction(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # committed, rolled back or closed: the row lock is released
        session.info.pop(_HEAD_CACHE_KEY, None)


COSIGNATURE_MAX_SKEW = dt.timedelta(minutes=10)
"""How far in the future a cosignature's timestamp may be (clock skew between the witness and us)."""


def _legacy_signature(submission: str) -> bytes:
    """The bare base64 Ed25519 signature of the pre-C2SP format, or a JSON object carrying it."""
    text = submission.strip()
    if text.startswith("{"):
        try:
            text = str(json.loads(text)["signature"])
        except (ValueError, KeyError, TypeError):
            raise ValueError("not a cosignature object") from None
    return base64.b64decode(text, validate=True)


def cosign(cp: AuditCheckpoint, *, actor: Actor, cosignature: str, public_key_b64: str) -> AuditCheckpoint:
    """Add a regulator's witness cosignature, checked against ``public_key_b64`` (the registered key).

    The standard form is a C2SP tlog-cosignature/v1 signature line (``— <name> <base64>``, see
    :mod:`app.core.signed_note`): it is appended to the checkpoint's signed note, so the note as served
    carries the platform's signature and every cosignature, readable by standard note and witness tooling.
    The pre-C2SP form — a bare Ed25519 signature over the note text, base64, or a JSON object with a
    ``signature`` — is still accepted and kept in ``cosignatures`` only, as before.
    """
    from . import signed_note

    text = _split_note(cp.note)[0]
    entry: dict[str, Any]
    try:
        key = _to_public_key(public_key_b64)
        if cosignature.strip().startswith(signed_note.SIG_PREFIX.strip()):
            line = signed_note.parse_signature_line(cosignature.strip()).line
            verifier = signed_note.Verifier.cosigner(signed_note.parse_signature_line(line).name, key)
            timestamp = signed_note.verify_cosignature_line(line, text, verifier)
            if dt.datetime.fromtimestamp(timestamp, dt.UTC) > now() + COSIGNATURE_MAX_SKEW:
                raise InvalidCosignature("时间戳在未来 / the cosignature's timestamp is in the future")
            entry = {
                "format": "cosignature/v1",
                "name": verifier.name,
                "verifier_key": verifier.vkey,
                "timestamp": timestamp,
                "line": line,
            }
            cp.note = signed_note.append_signatures(cp.note, [line])
        else:
            signature = _legacy_signature(cosignature)
            key.verify(signature, text.encode())
            entry = {"signature": base64.b64encode(signature).decode()}
    except (ValueError, InvalidSignature):  # signed_note.InvalidNoteError and binascii.Error are ValueErrors
        raise InvalidCosignature("签名无效 / the cosignature does not verify") from None
    entry = {
        "actor_id": str(getattr(actor, "id", "")),
        "public_key": base64.b64encode(_raw_public(key)).decode(),
        **entry,
        "time": _iso_utc(now()),
    }
    cp.cosignatures = [*(cp.cosignatures or []), entry]  # a new list: JSON columns track assignment only
    payload = {"tree_size": cp.tree_size, "public_key": entry["public_key"]}
    if "line" in entry:
        payload |= {"format": entry["format"], "line": entry["line"]}
    record(
        "audit:checkpoint:cosigned",
        actor=actor,
        object_type="audit_checkpoint",
        object_id=cp.id,
        payload=payload,
    )
    return cp


@dataclass(frozen=True)
class CosignatureView:
    """One stored cosignature, re-verified for display."""

    actor_id: str
    format: str  # "cosignature/v1" or "legacy"
    public_key: str
    signature: str  # the signature line, or the legacy base64 signature
    name: str | None
    signed_at: dt.datetime | None  # the cosigner's own timestamp (cosignature/v1 only)
    recorded_at: str
    valid: bool


def cosignature_views(cp: AuditCheckpoint) -> list[CosignatureView]:
    """The checkpoint's cosignatures, each checked again over the note text: new ones as C2SP lines (which
    must also still be in the served note), old ones as bare Ed25519 signatures."""
    from . import signed_note

    text, lines = _split_note(cp.note)
    out: list[CosignatureView] = []
    for c in cp.cosignatures or []:
        valid, signed_at = False, None
        if c.get("format") == "cosignature/v1":
            try:
                verifier = signed_note.parse_vkey(c["verifier_key"])
                ts = signed_note.verify_cosignature_line(c["line"], text, verifier)
                valid = c["line"] in lines and verifier.public_key == base64.b64decode(c["public_key"])
                signed_at = dt.datetime.fromtimestamp(ts, dt.UTC)
            except (ValueError, KeyError):
                valid = False
        else:
            try:
                _to_public_key(c["public_key"]).verify(base64.b64decode(c["signature"]), text.encode())
                valid = True
            except (ValueError, KeyError, InvalidSignature):
                valid = False
        out.append(
            CosignatureView(
                actor_id=str(c.get("actor_id", "")),
                format=str(c.get("format", "legacy")),
                public_key=str(c.get("public_key", "")),
                signature=str(c.get("line") or c.get("signature", "")),
                name=c.get("name"),
                signed_at=signed_at,
                recorded_at=str(c.get("time", "")),
                valid=valid,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------------------
# Verification of the whole log
# ---------------------------------------------------------------------------------------------------------


@dataclass
class VerifyResult:
    ok: bool
    size: int
    problems: list[str] = field(default_factory=list)
    checkpoints: int = 0
    root: bytes = merkle.EMPTY_ROOT


MAX_PROBLEMS = 100


def verify_log(batch: int = 10000, *, pinned: Iterable[tuple[str, str]] = ()) -> VerifyResult:
    """Recompute every leaf, every stored subtree and the root from the stored columns, in one streaming pass;
    compare with the head, with every signed checkpoint and with ``pinned`` (label, note) checkpoints kept
    outside the platform (a witness's state); report leaves that no checkpoint has covered for longer than
    the cadence allows (:func:`uncovered_problem`)."""
    session: Session = db.session()
    conn = session.connection()
    problems: list[str] = []

    def problem(text: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(text)
        elif len(problems) == MAX_PROBLEMS:
            problems.append("… further problems not listed")

    head_size, head_frontier = _head_state(session, lock=False)
    public_key = platform_public_keys()
    checkpoints: dict[int, list[tuple[int | str, bytes]]] = {}
    for cp_id, cp_size, cp_root, note in conn.execute(
        select(AuditCheckpoint.id, AuditCheckpoint.tree_size, AuditCheckpoint.root_hash, AuditCheckpoint.note)
    ):
        checkpoints.setdefault(cp_size, []).append((cp_id, bytes(cp_root)))
        if not verify_checkpoint_note(note, public_key):
            problem(f"checkpoint {cp_id}: signature does not verify with any registered platform key")
        else:
            _, note_size, note_root = parse_checkpoint_note(note)
            if note_size != cp_size or note_root != bytes(cp_root):
                problem(f"checkpoint {cp_id}: columns differ from the signed note")
    stored_sizes = len(checkpoints)
    newest_stored = max(checkpoints, default=None)
    for label, note in pinned:
        if not verify_checkpoint_note(note, public_key):
            problem(f"checkpoint {label}: signature does not verify with any registered platform key")
            continue
        _, note_size, note_root = parse_checkpoint_note(note)
        checkpoints.setdefault(note_size, []).append((label, note_root))

    def check_checkpoints(at: int, root: bytes) -> None:
        for cp_id, cp_root in checkpoints.get(at, ()):
            if cp_root != root:
                problem(
                    f"checkpoint {cp_id} (size {at}): root differs from the one recomputed from the leaves"
                )

    # Completed subtrees arrive level by level in index order; a running digest per level is compared with one
    # over the stored audit_node rows, so every stored node is checked in O(log n) memory.
    level_digest = [hashlib.sha256() for _ in range(64)]

    check_checkpoints(0, merkle.EMPTY_ROOT)
    dialect = conn.dialect.name
    created_col: Any = AuditLeaf.created_at
    if dialect == "postgresql":  # the leaf's ISO form, made by the server rather than per row in Python
        created_col = func.to_char(
            func.timezone("UTC", AuditLeaf.created_at), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
        )
    stmt = select(
        AuditLeaf.idx,
        created_col,
        AuditLeaf.actor_id,
        AuditLeaf.actor_role,
        AuditLeaf.org_id,
        AuditLeaf.action,
        AuditLeaf.object_type,
        AuditLeaf.object_id,
        AuditLeaf.source_ip,
        AuditLeaf.payload,
        AuditLeaf.payload_sha256,
        AuditLeaf.leaf_hash,
    ).order_by(AuditLeaf.idx)
    sha256 = hashlib.sha256
    esc = json.encoder.encode_basestring  # what the canonical encoder uses for str with ensure_ascii=False
    stored_time = _stored_time_iso
    sqlite_text = dialect == "sqlite"
    stack: list[bytes] = []
    size = 0
    for rows in _stream(conn, stmt, batch):
        for idx, created, a_id, a_role, o_id, action, o_type, obj_id, ip, payload, p_sha, stored_hash in rows:
            if idx != size:
                problem(f"leaf {size}: missing (the next stored leaf is {idx})")
            if sha256(payload.encode()).hexdigest() != p_sha:
                problem(f"leaf {idx}: payload does not match its payload_sha256")
            # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" (naive UTC): slicing it is the leaf's ISO form. Text
            # in any other shape gives another hash, which is reported as an altered leaf, as it should be.
            if sqlite_text:
                time_iso = f"{created[:10]}T{created[11:]}Z"
            elif type(created) is str:
                time_iso = created
            else:
                time_iso = stored_time(created)
            # leaf_bytes() spelled out (keys in sorted order); test_audit checks the two agree.
            data = (
                f'{{"action":{esc(action)},'
                f'"actor_id":{"null" if a_id is None else a_id},'
                f'"actor_role":{"null" if a_role is None else esc(a_role)},'
                f'"object_id":{"null" if obj_id is None else esc(obj_id)},'
                f'"object_type":{"null" if o_type is None else esc(o_type)},'
                f'"org_id":{"null" if o_id is None else o_id},'
                f'"payload_sha256":{esc(p_sha)},'
                f'"source_ip":{"null" if ip is None else esc(ip)},'
                f'"time":"{time_iso}","v":{LEAF_VERSION}}}'
            )
            h = sha256(("\x00" + data).encode()).digest()
            if h != stored_hash:
                problem(f"leaf {idx}: leaf_hash does not match its columns (the leaf was altered)")
            # merkle.append_leaf inlined, on bare hashes (their levels are the set bits of size): each
            # trailing 1-bit of the old size is one perfect subtree completed by this leaf.
            if size & 1:
                level, bits = 1, size
                while bits & 1:
                    h = sha256(b"\x01" + stack.pop() + h).digest()
                    level_digest[level].update(h)
                    level += 1
                    bits >>= 1
            stack.append(h)
            size += 1
            if size in checkpoints:
                check_checkpoints(size, merkle.root_from_frontier(merkle.frontier_from_hashes(size, stack)))

    root = merkle.root_from_frontier(merkle.frontier_from_hashes(size, stack))
    if size != head_size:
        problem(f"the head says {head_size} leaves, {size} are stored")
    elif root != merkle.root_from_frontier(head_frontier):
        problem("the head's frontier differs from the one recomputed from the leaves")
    for cp_size, entries in checkpoints.items():
        if cp_size > size:
            for cpn, _ in entries:
                problem(f"checkpoint {cpn} covers {cp_size} leaves, only {size} are stored (log truncated)")

    uncovered = uncovered_problem(session, size, newest_stored)
    if uncovered:
        problem(uncovered)

    expected = {level: (level_digest[level], size >> level) for level in range(1, size.bit_length())}
    _check_stored_nodes(conn, batch, expected, problem)
    return VerifyResult(ok=not problems, size=size, problems=problems, checkpoints=stored_sizes, root=root)


def uncovered_problem(session: Session, size: int, newest: int | None) -> str | None:
    """A log is protected against truncation only up to its newest checkpoint, and the cadence signs one
    when a transaction appends AUDIT_CHECKPOINT_INTERVAL after the newest. So leaves after the newest
    checkpoint that span more than the interval plus AUDIT_CHECKPOINT_GRACE, or more than
    AUDIT_CHECKPOINT_EVERY of them, mean that checkpoints were deleted (or the cadence is off). Measured
    between leaves, not against the clock: a quiet log, or a moved demo clock, is no problem."""
    covered = newest or 0
    if size <= covered:
        return None
    config = current_app.config
    every = int(config.get("AUDIT_CHECKPOINT_EVERY") or 0)
    allowed = float(config.get("AUDIT_CHECKPOINT_INTERVAL", 60)) + float(
        config.get("AUDIT_CHECKPOINT_GRACE", 600)
    )
    times = dict(
        session.execute(
            select(AuditLeaf.idx, AuditLeaf.created_at).where(AuditLeaf.idx.in_([covered, size - 1]))
        ).all()
    )
    first, last = times.get(covered), times.get(size - 1)
    span = (last - first).total_seconds() if first is not None and last is not None else 0.0
    if span <= allowed and not (every > 0 and size - covered > every):
        return None
    since = "no checkpoint at all" if newest is None else f"the newest checkpoint covers {covered}"
    return (
        f"no checkpoint covers the last {size - covered} leaves ({since}; they span {span:.0f} s, "
        f"the cadence allows {allowed:.0f} s): checkpoints were deleted, or the cadence is off"
    )


def _stream(conn: Any, stmt: Any, batch: int) -> Iterator[list[Any]]:
    """Rows of a SELECT in batches, straight from the DB-API cursor: SQLAlchemy's per-row result processing
    is a third of the time at 10^6 rows. PostgreSQL gets a server-side (named) cursor. Parameters are
    rendered inline, so only use it with integer literals."""
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    raw = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        cursor = raw.cursor(name=f"audit_verify_{secrets.token_hex(4)}")
        cursor.itersize = batch
    else:
        cursor = raw.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch):
            yield rows
    finally:
        cursor.close()


def _stored_time_iso(value: Any) -> str:
    """The leaf's ``time`` from a stored ``created_at``: SQLite text (naive UTC) or a driver datetime."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return _iso_utc(value)


def _check_stored_nodes(
    conn: Any, batch: int, expected: dict[int, tuple[Any, int]], problem: Callable[[str], None]
) -> None:
    """Stream audit_node in (level, index) order; per level, compare count and digest with ``expected``."""
    stored: dict[int, tuple[Any, int]] = {}
    stmt = select(AuditNode.level, AuditNode.index, AuditNode.hash).order_by(AuditNode.level, AuditNode.index)
    current, digest, want = -1, hashlib.sha256(), 0
    for rows in _stream(conn, stmt, batch):
        for level, index, h in rows:
            if level != current:
                if current >= 0:
                    stored[current] = (digest, want)
                current, digest, want = level, hashlib.sha256(), 0
            if index != want:
                problem(f"audit_node level {level}: index {want} missing or out of place")
                want = index
            want += 1
            digest.update(h)
    if current >= 0:
        stored[current] = (digest, want)
    for level in sorted(set(expected) | set(stored)):
        exp_digest, exp_count = expected.get(level, (None, 0))
        got_digest, got_count = stored.get(level, (None, 0))
        if exp_count != got_count:
            problem(f"audit_node level {level}: {got_count} stored, {exp_count} expected")
        elif exp_digest is not None and got_digest is not None and exp_digest.digest() != got_digest.digest():
            problem(f"audit_node level {level}: stored hashes differ from those recomputed from the leaves")
            _locate_node_mismatch(conn, batch, level, problem)


def _locate_node_mismatch(conn: Any, batch: int, level: int, problem: Callable[[str], None]) -> None:
    """Name the stored nodes of ``level`` that are not the hash of their stored children. When a leaf was
    rewritten together with its leaf_hash, its level-1 parent is what still remembers the original."""
    if level == 1:
        children = select(AuditLeaf.idx, AuditLeaf.leaf_hash).order_by(AuditLeaf.idx)
    else:
        children = (
            select(AuditNode.index, AuditNode.hash)
            .where(AuditNode.level == level - 1)
            .order_by(AuditNode.index)
        )
    batch += batch % 2  # whole pairs per partition (a pair split by a gap is skipped)
    for rows in _stream(conn, children, batch):
        pairs = {
            rows[i][0] // 2: (rows[i][1], rows[i + 1][1])
            for i in range(len(rows) - 1)
            if rows[i][0] % 2 == 0 and rows[i + 1][0] == rows[i][0] + 1
        }
        if not pairs:
            continue
        parents = conn.execute(
            select(AuditNode.index, AuditNode.hash).where(
                AuditNode.level == level, AuditNode.index.between(min(pairs), max(pairs))
            )
        )
        for index, h in parents:
            pair = pairs.get(index)
            if pair is not None and merkle.node_hash(*pair) != h:
                first = index << level
                problem(
                    f"audit_node (level {level}, index {index}) is not the hash of its children: "
                    f"leaves {first}–{first + (1 << level) - 1} were rewritten"
                )


# ---------------------------------------------------------------------------------------------------------
# Immutability: ORM guard and database triggers
# ---------------------------------------------------------------------------------------------------------

_IMMUTABLE = (AuditLeaf, AuditNode)


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, _IMMUTABLE):
            raise AuditImmutableError(f"{type(obj).__name__} rows are append-only: delete refused")
    for obj in session.dirty:
        if isinstance(obj, _IMMUTABLE) and session.is_modified(obj, include_collections=False):
            raise AuditImmutableError(f"{type(obj).__name__} rows are append-only: update refused")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_audit_changes(state: Any) -> None:
    mapper = state.bind_mapper
    if (state.is_update or state.is_delete) and mapper is not None and mapper.class_ in _IMMUTABLE:
        raise AuditImmutableError(f"{state.bind_mapper.class_.__name__} rows are append-only")


_TABLES = ("audit_leaf", "audit_node")

SQLITE_TRIGGERS: list[str] = [
    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
    for table in _TABLES
    for op in ("UPDATE", "DELETE")
]
SQLITE_DROP_TRIGGERS: list[str] = [
    f"DROP TRIGGER IF EXISTS {table}_no_{op}" for table in _TABLES for op in ("update", "delete")
]

POSTGRES_TRIGGERS: list[str] = [
    """CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$""",
    *(
        stmt
        for table in _TABLES
        for stmt in (
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
        )
    ),
]
POSTGRES_DROP_TRIGGERS: list[str] = [
    *(
        stmt
        for table in _TABLES
        for stmt in (
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        )
    ),
    "DROP FUNCTION IF EXISTS audit_append_only()",
]
