"""Bidding models: keys, sealed envelopes, the opening ceremony and its record."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Organization, User
from app.core.clock import now
from app.core.db import UTCDateTime, db

from .enums import CeremonyStatus, DecryptStatus, EntryStatus, EnvelopeKind, EnvelopeStatus, KeyAlgorithm

BigInt = BigInteger().with_variant(Integer(), "sqlite")


def _in(column: str, values: list[str], *, nullable: bool = False) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    clause = f"{column} IN ({quoted})"
    return f"({column} IS NULL OR {clause})" if nullable else clause


class CustodianKey(db.Model):  # type: ignore[name-defined]
    """A key custodian's personal age recipient (``age1…``): opening-key shares are encrypted to it.

    The custodian keeps the matching identity file (from ``age-keygen``) on its own machine."""

    __tablename__ = "custodian_key"
    __table_args__ = (
        Index(
            "uq_custodian_key_active",
            "user_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    age_recipient: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class BidderKey(db.Model):  # type: ignore[name-defined]
    """A bidder organization's registered signing key (stand-in for a CA certificate, CA锁)."""

    __tablename__ = "bidder_key"
    __table_args__ = (
        CheckConstraint(_in("algorithm", [a.value for a in KeyAlgorithm]), name="algorithm_valid"),
        CheckConstraint("valid_until IS NULL OR valid_until > valid_from", name="validity_order"),
        CheckConstraint("(revoked_at IS NULL) = (revoked_reason IS NULL)", name="revoked_has_reason"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True, comment="SHA-256 of the public key, 16 hex")
    algorithm: Mapped[str] = mapped_column(String(16), default=KeyAlgorithm.ED25519.value)
    public_key: Mapped[str] = mapped_column(Text, comment="base64 of the raw public key")
    label: Mapped[str] = mapped_column(String(100), default="")
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    organization: Mapped[Organization] = relationship()

    def valid_at(self, at: dt.datetime) -> bool:
        if self.revoked_at is not None and self.revoked_at <= at:
            return False
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)


class OpeningKeyShare(db.Model):  # type: ignore[name-defined]
    """One SLIP-39 share of a section's opening key, stored only encrypted to its custodian's recipient."""

    __tablename__ = "opening_key_share"
    __table_args__ = (UniqueConstraint("section_id", "member_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    custodian_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    member_index: Mapped[int] = mapped_column(Integer)
    share_set_id: Mapped[int] = mapped_column(Integer, comment="SLIP-39 identifier of this key's share set")
    custodian_recipient: Mapped[str] = mapped_column(String(100))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, comment="age file of the mnemonic")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    custodian: Mapped[User] = relationship()


class SealedEnvelope(db.Model):  # type: ignore[name-defined]
    """A sealed bid envelope (密封投标文件): an age file the server cannot read before the opening.

    One slot per (section, bidder, kind, name); replacing an envelope supersedes the previous one (kept)."""

    __tablename__ = "sealed_envelope"
    __table_args__ = (
        CheckConstraint(_in("kind", [k.value for k in EnvelopeKind]), name="kind_valid"),
        CheckConstraint(_in("status", [s.value for s in EnvelopeStatus]), name="status_valid"),
        CheckConstraint(
            _in("decrypt_status", [s.value for s in DecryptStatus], nullable=True),
            name="decrypt_status_valid",
        ),
        CheckConstraint("(status = 'active') = (ended_at IS NULL)", name="ended_iff_not_active"),
        CheckConstraint("size > 0", name="size_positive"),
        UniqueConstraint("section_id", "org_id", "idempotency_key"),
        Index(
            "uq_sealed_envelope_active_slot",
            "section_id",
            "org_id",
            "kind",
            "name",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    submitted_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), comment="summary, or the document's label")
    status: Mapped[str] = mapped_column(String(16), default=EnvelopeStatus.ACTIVE.value)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInt)
    blob_path: Mapped[str] = mapped_column(String(255), unique=True, comment="relative to BLOB_DIR")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, comment="superseded or withdrawn at")
    audit_leaf_idx: Mapped[int] = mapped_column(BigInt, comment="receipt leaf; tree size at receipt = +1")
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    signing_key_id: Mapped[int | None] = mapped_column(ForeignKey("bidder_key.id"))
    signature: Mapped[str | None] = mapped_column(Text, comment="base64 Ed25519 over the envelope statement")
    source_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    client_fingerprint: Mapped[str | None] = mapped_column(String(200), comment="X-Client-Fingerprint")
    decrypt_status: Mapped[str | None] = mapped_column(String(16))
    decrypt_note: Mapped[str | None] = mapped_column(Text)
    plaintext_path: Mapped[str | None] = mapped_column(
        String(255), comment="at-rest encrypted, after opening"
    )
    plaintext_size: Mapped[int | None] = mapped_column(BigInt)

    organization: Mapped[Organization] = relationship()
    signing_key: Mapped[BidderKey | None] = relationship()


class EnvelopeUpload(db.Model):  # type: ignore[name-defined]
    """A resumable upload in progress (tus-like): chunks are appended to a part file under BLOB_DIR/tmp."""

    __tablename__ = "envelope_upload"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    length: Mapped[int] = mapped_column(BigInt, comment="declared total size")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    envelope_id: Mapped[int | None] = mapped_column(ForeignKey("sealed_envelope.id"))


class OpeningCeremony(db.Model):  # type: ignore[name-defined]
    """The online opening (开标) of one section. At most one ceremony collects shares or has completed.

    Every ceremony starts by counting the bidders with a receipted envelope (``bidder_count``), before any
    share is taken: with fewer than 3 it ends ``not_opened`` and the section fails unopened (招标投标法
    Art. 28, 实施条例 Art. 44)."""

    __tablename__ = "opening_ceremony"
    __table_args__ = (
        CheckConstraint(_in("status", [s.value for s in CeremonyStatus]), name="status_valid"),
        CheckConstraint(
            "(status = 'postponed') = (postponed_reason IS NOT NULL)", name="postponed_has_reason"
        ),
        CheckConstraint("(status = 'completed') = (completed_at IS NOT NULL)", name="completed_iff_at"),
        Index(
            "uq_opening_ceremony_live",
            "section_id",
            unique=True,
            sqlite_where=text("status IN ('collecting', 'decrypting', 'completed')"),
            postgresql_where=text("status IN ('collecting', 'decrypting', 'completed')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=CeremonyStatus.COLLECTING.value)
    started_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    postponed_reason: Mapped[str | None] = mapped_column(Text)
    record_sha256: Mapped[str | None] = mapped_column(String(64), comment="digest of the published record")
    valid_bids: Mapped[int | None] = mapped_column(Integer)
    bidder_count: Mapped[int | None] = mapped_column(
        Integer,
        comment="bidders with a receipted envelope, counted at the start before anything is decrypted",
    )

    shares: Mapped[list[SubmittedShare]] = relationship(
        back_populates="ceremony", order_by="SubmittedShare.id"
    )
    entries: Mapped[list[OpeningRecordEntry]] = relationship(
        back_populates="ceremony", order_by="OpeningRecordEntry.position"
    )
    objections: Mapped[list[OnSiteObjection]] = relationship(
        back_populates="ceremony", order_by="OnSiteObjection.id"
    )
    confirmations: Mapped[list[RecordConfirmation]] = relationship(
        back_populates="ceremony", order_by="RecordConfirmation.id"
    )


class SubmittedShare(db.Model):  # type: ignore[name-defined]
    """A custodian's decrypted share, held encrypted under the platform data key only until the ceremony
    ends (then erased: ``share_enc`` set to NULL). Shares are refused before the bid deadline."""

    __tablename__ = "submitted_share"
    __table_args__ = (UniqueConstraint("ceremony_id", "key_share_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ceremony_id: Mapped[int] = mapped_column(ForeignKey("opening_ceremony.id"), index=True)
    key_share_id: Mapped[int] = mapped_column(ForeignKey("opening_key_share.id"))
    submitted_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    share_enc: Mapped[bytes | None] = mapped_column(LargeBinary, comment="erased when the ceremony ends")
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    ceremony: Mapped[OpeningCeremony] = relationship(back_populates="shares")
    key_share: Mapped[OpeningKeyShare] = relationship()


class OpeningRecordEntry(db.Model):  # type: ignore[name-defined]
    """One bidder's line in the opening record (开标记录): declared items, envelope hashes, status."""

    __tablename__ = "opening_record_entry"
    __table_args__ = (
        UniqueConstraint("ceremony_id", "org_id"),
        CheckConstraint(_in("status", [s.value for s in EntryStatus]), name="status_valid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ceremony_id: Mapped[int] = mapped_column(ForeignKey("opening_ceremony.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    position: Mapped[int] = mapped_column(Integer)
    bidder_name: Mapped[str] = mapped_column(String(200))
    declared: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, comment="items from the summary")
    envelopes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, comment="kind, name, sha256")
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")

    ceremony: Mapped[OpeningCeremony] = relationship(back_populates="entries")


class OnSiteObjection(db.Model):  # type: ignore[name-defined]
    """An on-the-spot objection (现场异议) raised by a bidder of the section at its opening and answered on
    the spot by the tenderer (条例 Art. 44). Each is a case of the complaints domain (``case_id``, with its
    history); the row keeps what the opening record shows. Rows from before cases have no case."""

    __tablename__ = "onsite_objection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ceremony_id: Mapped[int] = mapped_column(ForeignKey("opening_ceremony.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    raised_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    body: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("complaint_case.id"), unique=True, comment="the objection case (complaints domain)"
    )

    ceremony: Mapped[OpeningCeremony] = relationship(back_populates="objections")
    organization: Mapped[Organization] = relationship()


class RecordConfirmation(db.Model):  # type: ignore[name-defined]
    """A bidder's confirmation of the opening record, optionally signed with its registered key."""

    __tablename__ = "record_confirmation"
    __table_args__ = (UniqueConstraint("ceremony_id", "org_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ceremony_id: Mapped[int] = mapped_column(ForeignKey("opening_ceremony.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    confirmed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    record_sha256: Mapped[str] = mapped_column(String(64))
    signing_key_id: Mapped[int | None] = mapped_column(ForeignKey("bidder_key.id"))
    signature: Mapped[str | None] = mapped_column(Text)
    accepted: Mapped[bool] = mapped_column(Boolean, default=True)

    ceremony: Mapped[OpeningCeremony] = relationship(back_populates="confirmations")
    organization: Mapped[Organization] = relationship()
