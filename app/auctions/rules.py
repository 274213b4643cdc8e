"""The statutory periods of a listing, one row per rule with its article (docs/rules.md, "Auctions").

Counting follows the platform's rule for "at least N days" (app/projects/rules.py, 民法典 Arts. 201, 203): the
start day is not counted, the period ends at 24:00 Beijing time of its last day, a calendar period whose last
day is a rest day runs on to the next working day. A listing that is one instant short is refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from flask_babel import gettext as _

from app.core.calendar import WorkCalendar, satisfies_minimum

from .enums import ListingKind

Moment = Literal["notice_at", "listing_starts_at", "listing_ends_at"]


@dataclass(frozen=True)
class PeriodRule:
    """At least ``days`` (``unit``) from ``start`` to ``end`` (fields of the listing); ``field`` is the one a
    refusal names."""

    start: Moment
    end: Moment
    days: int
    unit: Literal["calendar", "working"]
    basis: str
    field: str


PERIOD_RULES: dict[ListingKind, tuple[PeriodRule, ...]] = {
    ListingKind.LAND: (
        # 国土资源部令第39号 Art. 11: the notice at least 20 日 before the listing starts (Art. 10 is the
        # reserve price, kept secret until the end).
        PeriodRule(
            "notice_at", "listing_starts_at", 20, "calendar",
            "国土资源部令第39号第十一条", "listing_starts_at",
        ),
        # Art. 18: 挂牌时间不得少于10日 (the 2002 令第11号 had 10 个工作日; the 2007 text says 日).
        PeriodRule(
            "listing_starts_at", "listing_ends_at", 10, "calendar",
            "国土资源部令第39号第十八条", "listing_ends_at",
        ),
    ),
    ListingKind.MINERAL_RIGHTS: (
        # 矿业权出让交易规则 (自然资源部, 自然资规〔2023〕1号): the notice at least 20 working days before the
        # listing starts, the listing at least 10 working days (articles to be confirmed: docs/rules.md).
        PeriodRule(
            "notice_at", "listing_starts_at", 20, "working",
            "矿业权出让交易规则（自然资规〔2023〕1号）", "listing_starts_at",
        ),
        PeriodRule(
            "listing_starts_at", "listing_ends_at", 10, "working",
            "矿业权出让交易规则（自然资规〔2023〕1号）", "listing_ends_at",
        ),
    ),
    ListingKind.STATE_PROPERTY: (
        # 32号令 Art. 13: 正式披露信息时间不得少于20个工作日 — the disclosure runs from the notice to the end
        # of the listing.
        PeriodRule(
            "notice_at", "listing_ends_at", 20, "working",
            "企业国有资产交易监督管理办法（国资委、财政部令第32号）第十三条", "listing_ends_at",
        ),
    ),
}  # fmt: skip


def period_errors(
    kind: ListingKind, moments: dict[str, dt.datetime], calendar: WorkCalendar
) -> dict[str, list[str]]:
    """The fields whose period is shorter than the law allows, each with the rule in words."""
    errors: dict[str, list[str]] = {}
    for rule in PERIOD_RULES[kind]:
        if satisfies_minimum(
            moments[rule.start], moments[rule.end], rule.days, unit=rule.unit, calendar=calendar
        ):
            continue
        if rule.unit == "working":
            text = _(
                "At least %(days)d working days are required (%(basis)s).", days=rule.days, basis=rule.basis
            )
        else:
            text = _("At least %(days)d days are required (%(basis)s).", days=rule.days, basis=rule.basis)
        errors.setdefault(rule.field, []).append(text)
    return errors
