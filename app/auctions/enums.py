"""States and kinds of the auctions domain, stored by value, with the transition table."""

from __future__ import annotations

from enum import StrEnum


class ListingKind(StrEnum):
    LAND = "land"  # 国有建设用地使用权出让 (catalogue TD…)
    STATE_PROPERTY = "state_property"  # 企业国有产权转让 (catalogue CQ…)
    MINERAL_RIGHTS = "mineral_rights"  # 矿业权出让 (catalogue TD-02)


class ListingStatus(StrEnum):
    DRAFT = "draft"
    ANNOUNCED = "announced"  # 挂牌公告 published; bidders register, no quotes yet
    LISTING = "listing"  # 挂牌期: registered, qualified bidders quote rising prices
    TIMED_BIDDING = "timed_bidding"  # 限时竞价: every valid bid restarts the countdown
    SOLD = "sold"  # 成交
    UNSOLD = "unsold"  # 流拍 (no bid, or the reserve not met)
    TERMINATED = "terminated"  # 终止: stopped by the center before its end, with the reason


class RegistrationStatus(StrEnum):
    APPLIED = "applied"  # 报名: waiting for the deposit and the qualification review
    QUALIFIED = "qualified"  # 资格审查通过: may quote
    REJECTED = "rejected"


class BidPhase(StrEnum):
    LISTING = "listing"  # 挂牌报价
    TIMED = "timed"  # 限时竞价


class UnsoldReason(StrEnum):
    NO_BIDS = "no_bids"  # 无人报价
    RESERVE_NOT_MET = "reserve_not_met"  # 最高报价低于底价


ENDED = frozenset({ListingStatus.SOLD, ListingStatus.UNSOLD, ListingStatus.TERMINATED})
#: The states a listing may be terminated from (终止挂牌): published, not ended.
TERMINABLE = frozenset({ListingStatus.ANNOUNCED, ListingStatus.LISTING, ListingStatus.TIMED_BIDDING})

TRANSITIONS: dict[ListingStatus, frozenset[ListingStatus]] = {
    ListingStatus.DRAFT: frozenset({ListingStatus.ANNOUNCED}),
    ListingStatus.ANNOUNCED: frozenset({ListingStatus.LISTING, ListingStatus.TERMINATED}),
    ListingStatus.LISTING: frozenset(
        {ListingStatus.TIMED_BIDDING, ListingStatus.SOLD, ListingStatus.UNSOLD, ListingStatus.TERMINATED}
    ),
    ListingStatus.TIMED_BIDDING: frozenset(
        {ListingStatus.SOLD, ListingStatus.UNSOLD, ListingStatus.TERMINATED}
    ),
    ListingStatus.SOLD: frozenset(),
    ListingStatus.UNSOLD: frozenset(),
    ListingStatus.TERMINATED: frozenset(),
}

REGISTRATION_TRANSITIONS: dict[RegistrationStatus, frozenset[RegistrationStatus]] = {
    RegistrationStatus.APPLIED: frozenset({RegistrationStatus.QUALIFIED, RegistrationStatus.REJECTED}),
    RegistrationStatus.QUALIFIED: frozenset(),
    RegistrationStatus.REJECTED: frozenset(),
}
