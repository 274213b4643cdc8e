"""Bid validity extensions and the bidders' answers (实施条例 Art. 25)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.clock import now
from app.core.db import UTCDateTime, db


class ValidityExtension(db.Model):  # type: ignore[name-defined]
    """ValidityExtension — 延长投标有效期: the tenderer's request, before the bid validity lapses, that every
    bidder keep its bid (and its bid security) valid until a later end."""

    __tablename__ = "bid_validity_extension"
    __table_args__ = (CheckConstraint("new_end_at > previous_end_at", name="extends"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    previous_end_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, comment="the validity end in force when the extension was requested"
    )
    new_end_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    requested_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))

    answers: Mapped[list[ValidityAnswer]] = relationship(
        back_populates="extension", order_by="ValidityAnswer.id"
    )


class ValidityAnswer(db.Model):  # type: ignore[name-defined]
    """One bidder's answer to an extension: accept (the bid stays, unchanged) or refuse (the bid is withdrawn
    from the evaluation and the bid security refunded)."""

    __tablename__ = "bid_validity_answer"
    __table_args__ = (UniqueConstraint("extension_id", "org_id", name="one_answer_per_bidder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    extension_id: Mapped[int] = mapped_column(ForeignKey("bid_validity_extension.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    accepted: Mapped[bool] = mapped_column(Boolean)
    answered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    answered_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))

    extension: Mapped[ValidityExtension] = relationship(back_populates="answers")
