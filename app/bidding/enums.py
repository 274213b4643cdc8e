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


class SecurityForm(StrEnum):
    """How a bidder secures its bid (投标保证金)."""

    CASH = "cash"  # transfer into the section's virtual sub-account
    GUARANTEE = "guarantee"  # 电子保函, verified against the issuer's signature


class SecurityStatus(StrEnum):
    """A bidder's bid security in one section; moves only along ``security.services.TRANSITIONS``."""

    AWAITING = "awaiting"  # sub-account issued, not (fully) paid
    SECURED = "secured"  # paid in full before the deadline, or a verified guarantee
    LATE = "late"  # money arrived after the deadline: it does not secure the bid, it goes back
    REFUND_DUE = "refund_due"  # the refund clock runs (contract signed, failed tender, withdrawal …)
    REFUNDED = "refunded"  # principal and interest paid back
    RELEASED = "released"  # a guarantee given back (nothing to pay)
    FORFEITED = "forfeited"  # kept on a ground the law lists


class ForfeitureGround(StrEnum):
    """The only grounds on which a bid security is not returned."""

    WITHDRAWAL_AFTER_DEADLINE = "withdrawal_after_deadline"  # 实施条例 Art. 35 ¶2
    DECRYPTION_BIDDER_FAULT = "decryption_bidder_fault"  # 20号令 Art. 31 视为撤销 → 实施条例 Art. 35
    REFUSES_CONTRACT = "refuses_contract"  # 实施条例 Art. 74: winner will not sign
    NO_PERFORMANCE_SECURITY = "no_performance_security"  # 实施条例 Art. 74
    ADDS_CONDITIONS = "adds_conditions"  # 实施条例 Art. 74: extra conditions when signing


class BankDirection(StrEnum):
    CREDIT = "credit"  # money into a sub-account
    DEBIT = "debit"  # money out of a sub-account


class MovementKind(StrEnum):
    """What a bank movement of the security ledger is."""

    DEPOSIT = "deposit"  # a bidder's payment
    INTEREST = "interest"  # the bank's demand-deposit interest, credited before a refund
    REFUND = "refund"  # principal and interest paid back to the payer account
    FORFEIT = "forfeit"  # transferred to the tenderer on a forfeiture ground


class SmeSize(StrEnum):
    """The enterprise size a bidder declares with its bid (中小企业声明函, 财库〔2020〕46号 Arts. 4, 11)."""

    MEDIUM = "medium"
    SMALL = "small"
    MICRO = "micro"
