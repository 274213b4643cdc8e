"""States and kinds of the bidding domain, stored by value."""

from __future__ import annotations

from enum import StrEnum


class EnvelopeKind(StrEnum):
    SUMMARY = "summary"  # 开标一览表: the opening items, JSON
    DOCUMENT = "document"  # 投标文件: any file


class EnvelopeStatus(StrEnum):
    ACTIVE = "active"  # the latest envelope of its slot: it counts
    SUPERSEDED = "superseded"  # replaced before the deadline (history)
    WITHDRAWN = "withdrawn"  # 撤回 before the deadline (history)


class DecryptStatus(StrEnum):
    OK = "ok"
    BIDDER_FAULT = "bidder_fault"  # not addressed / corrupt / unsigned: 视为撤销
    PLATFORM_FAULT = "platform_fault"  # storage or platform failure: 视为撤回, not the bidder's fault


class CeremonyStatus(StrEnum):
    COLLECTING = "collecting"  # waiting for k key shares
    DECRYPTING = "decrypting"  # k shares in: the key is rebuilt in memory and the envelopes are opened
    COMPLETED = "completed"  # key rebuilt, record published, documents stored, key discarded
    POSTPONED = "postponed"  # insufficient shares or a platform failure, with a reason
    NOT_OPENED = "not_opened"  # fewer than 3 bidders at the start: nothing decrypted, the section failed


class EntryStatus(StrEnum):
    """A bid's standing in the opening record (SPEC §3.4)."""

    VALID = "valid"
    REVOKED = "revoked"  # 视为撤销: bidder's fault
    WITHDRAWN = "withdrawn"  # 视为撤回: not the bidder's fault


class KeyAlgorithm(StrEnum):
    """Bidder signing keys; SM2 (CA certificates) can be added later."""

    ED25519 = "ed25519"
