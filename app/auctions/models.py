"""Listings (挂牌), bidder registrations (竞买报名) and bids (报价/竞价)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.clock import now, to_local
from app.core.db import UTCDateTime, db

from .enums import BidPhase, ListingKind, ListingStatus, RegistrationStatus, UnsoldReason


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class AuctionListing(db.Model):  # type: ignore[name-defined]
    """A listing (挂牌) of a land use right (国有建设用地使用权) or of state-owned property (国有产权): the
    notice, the listing period, the start price and increment, the sealed reserve price (底价) and, after the
    listing period, the timed auction (限时竞价) with its countdown.

    ``current_price`` and ``last_seq`` are kept on the row because the bid transaction locks this row: the
    lock orders bids, so the sequence number of a bid is its commit order."""

    __tablename__ = "auction_listing"
    __table_args__ = (
        CheckConstraint(_in("status", [s.value for s in ListingStatus]), name="status_valid"),
        CheckConstraint(_in("kind", [k.value for k in ListingKind]), name="kind_valid"),
        CheckConstraint(
            "unsold_reason IS NULL OR " + _in("unsold_reason", [r.value for r in UnsoldReason]),
            name="unsold_reason_valid",
        ),
        CheckConstraint("start_price > 0 AND increment > 0 AND deposit >= 0", name="amounts_positive"),
        CheckConstraint("countdown_seconds BETWEEN 30 AND 3600", name="countdown_range"),
        CheckConstraint(
            "notice_at <= listing_starts_at AND listing_starts_at < listing_ends_at", name="periods_ordered"
        ),
        CheckConstraint(
            "(status IN ('sold', 'unsold', 'terminated')) = (ended_at IS NOT NULL)", name="ended_when_final"
        ),
        CheckConstraint(
            "(status = 'terminated') = (termination_reason IS NOT NULL AND terminated_by IS NOT NULL)",
            name="reason_when_terminated",
        ),
        CheckConstraint("(status = 'sold') = (winner_id IS NOT NULL)", name="winner_when_sold"),
        CheckConstraint("(status = 'unsold') = (unsold_reason IS NOT NULL)", name="reason_when_unsold"),
        CheckConstraint(
            "status != 'timed_bidding' OR countdown_ends_at IS NOT NULL", name="countdown_when_timed"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(
        String(32), unique=True, comment="public reference; the reserve ciphertext is bound to it"
    )
    catalogue_item_id: Mapped[int] = mapped_column(ForeignKey("catalogue_item.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_org_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id"), index=True, comment="the transferor (出让人/转让方)"
    )
    created_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    status: Mapped[str] = mapped_column(String(16), default=ListingStatus.DRAFT.value, index=True)
    notice_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, comment="the listing notice is published")
    listing_starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    listing_ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    start_price: Mapped[Decimal] = mapped_column(Numeric(16, 2), comment="起始价, yuan")
    increment: Mapped[Decimal] = mapped_column(Numeric(16, 2), comment="增价幅度, yuan")
    deposit: Mapped[Decimal] = mapped_column(Numeric(16, 2), comment="竞买保证金 required, yuan")
    countdown_seconds: Mapped[int] = mapped_column(
        Integer, default=240, comment="timed auction: each valid bid restarts this countdown"
    )
    reserve_enc: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="sealed reserve price (底价), AES-GCM at rest; NULL: no reserve"
    )
    reserve_price: Mapped[Decimal | None] = mapped_column(
        Numeric(16, 2), comment="the reserve, opened at the end only"
    )
    current_price: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    last_seq: Mapped[int] = mapped_column(Integer, default=0, comment="sequence number of the last bid")
    countdown_ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="the instant the listing or the countdown ended (server clock)"
    )
    winner_id: Mapped[int | None] = mapped_column(ForeignKey("auction_registration.id", use_alter=True))
    unsold_reason: Mapped[str | None] = mapped_column(String(32))
    termination_reason: Mapped[str | None] = mapped_column(
        String(500), comment="终止: why the center stopped the listing before its end"
    )
    terminated_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    registrations: Mapped[list[AuctionRegistration]] = relationship(
        back_populates="listing",
        foreign_keys="AuctionRegistration.listing_id",
        order_by="AuctionRegistration.bidder_number",
    )
    bids: Mapped[list[AuctionBid]] = relationship(back_populates="listing", order_by="AuctionBid.seq")
    winner: Mapped[AuctionRegistration | None] = relationship(foreign_keys=[winner_id], post_update=True)

    @property
    def status_enum(self) -> ListingStatus:
        return ListingStatus(self.status)

    @property
    def kind_enum(self) -> ListingKind:
        return ListingKind(self.kind)


class AuctionRegistration(db.Model):  # type: ignore[name-defined]
    """A bidder organization's registration (竞买报名) for one listing: its pseudonym (竞买号), the recorded
    deposit (保证金到账确认) and the staff's qualification review (资格审查)."""

    __tablename__ = "auction_registration"
    __table_args__ = (
        UniqueConstraint("listing_id", "org_id", name="auction_registration_once"),
        UniqueConstraint("listing_id", "bidder_number", name="auction_bidder_number_unique"),
        CheckConstraint(_in("status", [s.value for s in RegistrationStatus]), name="status_valid"),
        CheckConstraint(
            "status != 'qualified' OR deposit_confirmed_at IS NOT NULL", name="qualified_needs_deposit"
        ),
        CheckConstraint(
            "deposit_refunded_at IS NULL OR (deposit_refund_due_at IS NOT NULL"
            " AND deposit_refund_reference IS NOT NULL AND deposit_refunded_by IS NOT NULL)",
            name="refund_recorded_whole",
        ),
        CheckConstraint(
            "NOT (deposit_applied AND deposit_refund_due_at IS NOT NULL)", name="applied_or_refunded"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("auction_listing.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    bidder_number: Mapped[int] = mapped_column(
        Integer, comment="the pseudonym shown for this bidder until the end"
    )
    status: Mapped[str] = mapped_column(String(16), default=RegistrationStatus.APPLIED.value)
    deposit_amount: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    deposit_reference: Mapped[str | None] = mapped_column(String(64), comment="bank transfer reference")
    deposit_confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deposit_confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    review_note: Mapped[str] = mapped_column(String(500), default="")
    deposit_refund_due_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="5 working days after the end (令第39号 Art. 24); NULL: none due or applied"
    )
    deposit_applied: Mapped[bool] = mapped_column(
        default=False, comment="the winner's deposit counts toward the price (抵作价款), never refunded"
    )
    deposit_refunded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deposit_refunded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    deposit_refund_reference: Mapped[str | None] = mapped_column(
        String(64), comment="bank reference of the refund transfer"
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    listing: Mapped[AuctionListing] = relationship(back_populates="registrations", foreign_keys=[listing_id])

    @property
    def status_enum(self) -> RegistrationStatus:
        return RegistrationStatus(self.status)

    @property
    def deposit_refund_last_day(self) -> dt.date | None:
        """The last day (Beijing time) of the refund period: it ends at 24:00 of that day."""
        if self.deposit_refund_due_at is None:
            return None
        return to_local(self.deposit_refund_due_at - dt.timedelta(microseconds=1)).date()


class AuctionBid(db.Model):  # type: ignore[name-defined]
    """One accepted bid (报价 during the listing, 竞价 in the timed auction). Refused bids leave no row.
    ``seq`` is the commit order; ``leaf_idx`` the audit leaf that records it (the bidder checks inclusion)."""

    __tablename__ = "auction_bid"
    __table_args__ = (
        UniqueConstraint("listing_id", "seq", name="auction_bid_seq_unique"),
        CheckConstraint(_in("phase", [p.value for p in BidPhase]), name="phase_valid"),
        CheckConstraint("amount > 0 AND seq >= 1", name="bid_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("auction_listing.id"), index=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("auction_registration.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer, comment="commit order within the listing")
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    phase: Mapped[str] = mapped_column(String(16))
    placed_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, comment="server clock read inside the transaction, after the listing lock"
    )
    countdown_ends_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="timed auction: the countdown this bid started"
    )
    leaf_idx: Mapped[int] = mapped_column(Integer, comment="the audit leaf recording this bid")

    listing: Mapped[AuctionListing] = relationship(back_populates="bids")
    registration: Mapped[AuctionRegistration] = relationship()
