"""Which audit entries must not show who acted, yet.

The audit log records every submission with its actor, but before the opening nobody but the bidder may
learn who submitted (SPEC §3.3). Domains register *sealers*: functions that say whether a leaf is still
sealed now. Pages and exports show a sealed leaf's action, time and digests (so it can still be verified)
but not its actor, organization, object id or payload."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.core.models import AuditLeaf

Sealer = Callable[[AuditLeaf], bool]
SEALERS: list[Sealer] = []


def register(sealer: Sealer) -> Sealer:
    if sealer not in SEALERS:
        SEALERS.append(sealer)
    return sealer


def is_sealed(leaf: AuditLeaf) -> bool:
    return any(sealer(leaf) for sealer in SEALERS)


@dataclass(frozen=True)
class LeafView:
    """What a reader may see of a leaf."""

    idx: int
    created_at: Any
    action: str
    actor_id: int | None
    actor_role: str | None
    org_id: int | None
    object_type: str | None
    object_id: str | None
    source_ip: str | None
    payload: str | None
    payload_sha256: str
    leaf_hash: bytes
    sealed: bool


def view_of(leaf: AuditLeaf) -> LeafView:
    sealed = is_sealed(leaf)
    return LeafView(
        idx=leaf.idx,
        created_at=leaf.created_at,
        action=leaf.action,
        actor_id=None if sealed else leaf.actor_id,
        actor_role=None if sealed else leaf.actor_role,
        org_id=None if sealed else leaf.org_id,
        object_type=leaf.object_type,
        object_id=None if sealed else leaf.object_id,
        source_ip=None if sealed else leaf.source_ip,
        payload=None if sealed else leaf.payload,
        payload_sha256=leaf.payload_sha256,
        leaf_hash=leaf.leaf_hash,
        sealed=sealed,
    )
