"""Statutory time rules and the publication checks (SPEC §2; reference file §§3–4).

Counting rule for "at least N days between a start instant and a deadline" (decided for the platform,
the common reading of 招标投标法 Art. 24 — documents issued 3月1日, earliest deadline 3月21日):

* the start day is not counted and the deadline day counts;
* calendar unit (日): satisfied iff the deadline's local (Asia/Shanghai) date ≥ the start's local date + N;
* working unit (工作日): satisfied iff the deadline's local date ≥ the N-th working day after the start's
  local date (national holiday calendar plus the management office's overrides, ``WorkCalendar``).

The time of day does not matter: a deadline at 09:30 on the earliest day is legal. When the platform moves
a deadline itself (an amendment affecting bids, :func:`earliest_deadline_date`), it keeps the time of day and,
if the day found is not a working day, moves on to the next working day: an opening is held on a working day.

Default rule sets per catalogue category (:data:`DEFAULT_RULES`), with their sources:

* engineering construction: sale ≥ 5 日 (条例 16), issue → deadline ≥ 20 日 (法 24), amendment affecting bids
  ≥ 15 日 before the deadline (法 23, 条例 21), objection to documents ≥ 10 日 before the deadline (条例 22);
* government procurement: sale ≥ 5 工作日 (87号令 Art. 18), issue → deadline ≥ 20 日 — calendar days
  (采购法 35; 87号令 Art. 20 says 日, not 工作日), amendment ≥ 15 日 (87号令 Art. 27); no objection lead time
  (challenges, 质疑, run 7 工作日 from knowing — complaints domain);
* state-owned property rights: disclosure ≥ 20 工作日 (国资委 32号令 Art. 13, [S]), other numbers as
  construction;
* land & mineral rights and other: not researched (reference file §1) — construction defaults, which the
  management office adjusts per item.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _

from app.core.calendar import WorkCalendar, local_date

from .enums import Category, DayUnit, EvaluationMethod, Procedure


@dataclass(frozen=True)
class RuleSet:
    min_sale_days: int
    sale_day_unit: DayUnit
    min_bid_days: int
    bid_day_unit: DayUnit
    amendment_lead_days: int
    amendment_day_unit: DayUnit
    objection_lead_days: int | None
    objection_day_unit: DayUnit
    legal_basis: str
    #: the source of the periods when a procedure sets its own (named in refusals); "" → the tendering laws
    period_basis: str = ""


_CONSTRUCTION = RuleSet(
    5, DayUnit.CALENDAR, 20, DayUnit.CALENDAR, 15, DayUnit.CALENDAR, 10, DayUnit.CALENDAR,
    "招标投标法第23、24条；实施条例第16、21、22条",
)  # fmt: skip

DEFAULT_RULES: dict[Category, RuleSet] = {
    Category.ENGINEERING_CONSTRUCTION: _CONSTRUCTION,
    Category.GOVERNMENT_PROCUREMENT: RuleSet(
        5, DayUnit.WORKING, 20, DayUnit.CALENDAR, 15, DayUnit.CALENDAR, None, DayUnit.WORKING,
        "政府采购法第35条；财政部令第87号第18、20、27条",
    ),
    Category.LAND_MINERAL: _CONSTRUCTION,
    Category.STATE_PROPERTY: RuleSet(
        5, DayUnit.CALENDAR, 20, DayUnit.WORKING, 15, DayUnit.CALENDAR, 10, DayUnit.CALENDAR,
        "企业国有资产交易监督管理办法（国资委、财政部令第32号）第13条",
    ),
    Category.OTHER: _CONSTRUCTION,
}  # fmt: skip

#: Bid security (投标保证金) ≤ 2 % of the estimated value (实施条例 Art. 26);
#: government procurement: of the budget (政府采购法实施条例 Art. 33).
BID_SECURITY_MAX_RATIO = Decimal("0.02")
#: Construction works (工程施工): at most 80万元 as well (七部委30号令 Art. 37 as amended 2013; reference
#: file §3, marked [S]/[U] there — the cap is what every provincial rule repeats).
BID_SECURITY_WORKS_CAP = Decimal("800000")
#: Refunds: within 5 日 of the contract, with the bank's interest, to the winner and every other bidder
#: (实施条例 Art. 57); within 5 日 of a written withdrawal before the deadline (实施条例 Art. 35). Government
#: procurement counts 5 工作日: from the award notice for unsuccessful suppliers, from the contract for the
#: winner (政府采购法实施条例 Art. 33).
BID_SECURITY_REFUND_DAYS = 5

#: 投标有效期 (实施条例 Art. 25): the tender documents state the bid validity period, counted from the bid
#: deadline; the bid security's validity equals it (Art. 26). An extension is asked of every bidder before
#: the period lapses: a bidder who refuses withdraws its bid and takes back its security; one who accepts may
#: not change its bid. Evaluation and award do not proceed on a bid whose validity has lapsed.
BID_VALIDITY_DEFAULT_DAYS = 90
BID_VALIDITY_BASIS = "招标投标法实施条例第25条"
#: 中小企业价格扣除 (政府采购促进中小企业发展管理办法, 财库〔2020〕46号 Art. 9, rates as amended by
#: 财库〔2022〕19号): goods and services not reserved for SMEs deduct 10-20 % from the price of a small or
#: micro enterprise, works 3-5 %; the deducted price (评审价) is used for the price score, the bid price
#: stays the contract price.
SME_DEDUCTION_GOODS_SERVICES = (Decimal("10"), Decimal("20"))
SME_DEDUCTION_WORKS = (Decimal("3"), Decimal("5"))
SME_DEDUCTION_BASIS = "财库〔2020〕46号第9条、财库〔2022〕19号"


#: 履约保证金: at most 10 % of the contract amount (实施条例 Art. 58; 政府采购法实施条例 Art. 48).
PERFORMANCE_SECURITY_MAX_PCT = Decimal("10")


def check_performance_security(pct: Decimal | None, category: Category | str | None) -> RuleCheck:
    """The performance security the documents ask of the winner, in percent of the contract amount: none,
    or more than 0 and at most 10 %."""
    if pct is None:
        return RuleCheck("performance_security_pct", True, "")
    params = {"pct": f"{pct:g}", "max": f"{PERFORMANCE_SECURITY_MAX_PCT:g}"}
    if not pct.is_finite() or not Decimal("0") < pct <= PERFORMANCE_SECURITY_MAX_PCT:
        procurement = category is not None and Category(category) is Category.GOVERNMENT_PROCUREMENT
        msg = (
            _(
                "A performance security is more than 0 and at most %(max)s%% of the contract amount, not "
                "%(pct)s%% (政府采购法实施条例第48条).",
                **params,
            )
            if procurement
            else _(
                "A performance security is more than 0 and at most %(max)s%% of the contract amount, not "
                "%(pct)s%% (招标投标法实施条例第58条).",
                **params,
            )
        )
        return RuleCheck("performance_security_pct", False, msg, params)
    return RuleCheck("performance_security_pct", True, "", params)


def sme_deduction_range(works: bool) -> tuple[Decimal, Decimal]:
    return SME_DEDUCTION_WORKS if works else SME_DEDUCTION_GOODS_SERVICES


def check_sme_deduction(rate: Decimal | None, category: Category | str | None, works: bool) -> RuleCheck:
    """The section's SME price deduction: government procurement only, within the legal range."""
    if rate is None:
        return RuleCheck("sme_deduction_rate", True, "")
    low, high = sme_deduction_range(works)
    params = {"rate": f"{rate:g}", "low": f"{low:g}", "high": f"{high:g}"}
    if category is None or Category(category) is not Category.GOVERNMENT_PROCUREMENT:
        msg = _("The SME price deduction applies to government procurement only (财库〔2020〕46号第9条).")
        return RuleCheck("sme_deduction_rate", False, msg, params)
    if not low <= rate <= high:
        msg = (
            _(
                "An SME price deduction for works lies between %(low)s%% and %(high)s%%, not %(rate)s%% "
                "(财库〔2020〕46号第9条、财库〔2022〕19号).",
                **params,
            )
            if works
            else _(
                "An SME price deduction for goods and services lies between %(low)s%% and %(high)s%%, not "
                "%(rate)s%% (财库〔2020〕46号第9条、财库〔2022〕19号).",
                **params,
            )
        )
        return RuleCheck("sme_deduction_rate", False, msg, params)
    return RuleCheck("sme_deduction_rate", True, "", params)


@dataclass(frozen=True)
class ProcedureRule:
    """What a procedure beyond open tendering changes (SPEC §2): who may use it, what it needs before
    publication, and — for the government procurement methods — its own statutory periods, which replace the
    category's tendering periods (``None``: the category's periods, as lengthened by the catalogue, apply).

    ``min_response_days`` runs from the documents (or the public notice) being available to the response
    deadline; for 单一来源 it is the public notice before negotiation."""

    categories: frozenset[Category] | None  # None: every category
    needs_approval: bool = False
    min_invited: int = 0
    min_sale_days: int | None = None
    sale_day_unit: DayUnit = DayUnit.WORKING
    min_response_days: int | None = None
    response_day_unit: DayUnit = DayUnit.WORKING
    amendment_lead_days: int | None = None
    amendment_day_unit: DayUnit = DayUnit.WORKING
    legal_basis: str = ""


_GP = frozenset({Category.GOVERNMENT_PROCUREMENT})

PROCEDURE_RULES: dict[Procedure, ProcedureRule] = {
    Procedure.OPEN: ProcedureRule(None, legal_basis="招标投标法第10条；政府采购法第26条"),
    # 法 Art. 11, 17; 条例 Art. 8 (state-funded projects tender openly unless approved); 采购法 Art. 29.
    # At least 3 invited; the tendering periods stay (法 24: ≥ 20 日).
    Procedure.INVITED: ProcedureRule(
        None, needs_approval=True, min_invited=3,
        legal_basis="招标投标法第11、17条；实施条例第8条；政府采购法第29条",
    ),
    # 74号令 Art. 29: documents to first responses ≥ 3 工作日; changes ≥ 3 工作日 before that deadline.
    Procedure.COMPETITIVE_NEGOTIATION: ProcedureRule(
        _GP, min_sale_days=3, min_response_days=3, amendment_lead_days=3,
        legal_basis="政府采购法第30、38条；财政部令第74号第29条",
    ),
    # 财库〔2014〕214号 Art. 10: documents on sale ≥ 5 工作日; issue to response deadline ≥ 10 日;
    # changes ≥ 5 日 before the deadline.
    Procedure.COMPETITIVE_CONSULTATION: ProcedureRule(
        _GP, min_sale_days=5, min_response_days=10, response_day_unit=DayUnit.CALENDAR,
        amendment_lead_days=5, amendment_day_unit=DayUnit.CALENDAR,
        legal_basis="政府采购竞争性磋商采购方式管理暂行办法（财库〔2014〕214号）第10条",
    ),
    # 74号令 Art. 45: inquiry notice to response deadline ≥ 3 工作日; changes ≥ 3 工作日 before it.
    Procedure.INQUIRY: ProcedureRule(
        _GP, min_sale_days=3, min_response_days=3, amendment_lead_days=3,
        legal_basis="政府采购法第32、40条；财政部令第74号第45条",
    ),
    # 采购法实施条例 Art. 38 and 74号令 Art. 38: the single-source notice is public ≥ 5 工作日 before the
    # negotiation (anyone may object during it); approval by the finance department (采购法 Art. 27).
    Procedure.SINGLE_SOURCE: ProcedureRule(
        _GP, needs_approval=True, min_sale_days=5, min_response_days=5, amendment_lead_days=5,
        legal_basis="政府采购法第31条；政府采购法实施条例第38条；财政部令第74号第38条",
    ),
}  # fmt: skip


def procedure_rule_set(base: RuleSet, procedure: Procedure | str, category: Category | str) -> RuleSet:
    """The section's clock under ``procedure``: the procedure's own statutory periods where it has them and
    applies to ``category``; the category's (``base``) otherwise — a method the category may not use never
    shortens its periods (:func:`check_procedure` refuses it)."""
    rule = PROCEDURE_RULES[Procedure(procedure)]
    if rule.min_response_days is None or (
        rule.categories is not None and Category(category) not in rule.categories
    ):
        return base
    assert rule.min_sale_days is not None and rule.amendment_lead_days is not None
    return RuleSet(
        min_sale_days=rule.min_sale_days,
        sale_day_unit=rule.sale_day_unit,
        min_bid_days=rule.min_response_days,
        bid_day_unit=rule.response_day_unit,
        amendment_lead_days=rule.amendment_lead_days,
        amendment_day_unit=rule.amendment_day_unit,
        objection_lead_days=None,  # procurement: challenges (质疑) run from knowing, no lead time
        objection_day_unit=DayUnit.WORKING,
        legal_basis=rule.legal_basis,
        period_basis=rule.legal_basis,
    )


def check_procedure(
    procedure: Procedure | str, category: Category | str, *, approval_ref: str, invited: int
) -> RuleCheck:
    """Whether the section may use ``procedure``: the category allows it, its approval is recorded, enough
    bidders are invited."""
    proc, rule = Procedure(procedure), PROCEDURE_RULES[Procedure(procedure)]
    name = procedure_label(proc)
    if rule.categories is not None and Category(category) not in rule.categories:
        return RuleCheck(
            "procedure",
            False,
            _(
                "%(procedure)s is a government procurement method (%(basis)s).",
                procedure=name,
                basis=rule.legal_basis,
            ),
        )
    if rule.needs_approval and not (approval_ref or "").strip():
        return RuleCheck(
            "procedure",
            False,
            _(
                "%(procedure)s needs an approval: record its reference (%(basis)s).",
                procedure=name,
                basis=rule.legal_basis,
            ),
        )
    if invited < rule.min_invited:
        return RuleCheck(
            "procedure",
            False,
            _(
                "%(procedure)s invites at least %(min)d bidders; %(n)d invited (%(basis)s).",
                procedure=name,
                min=rule.min_invited,
                n=invited,
                basis=rule.legal_basis,
            ),
        )
    return RuleCheck(
        "procedure", True, _("Procedure: %(procedure)s (%(basis)s).", procedure=name, basis=rule.legal_basis)
    )


def procedure_label(procedure: Procedure | str) -> str:
    from app.core.labels import label

    return label("procedure", Procedure(procedure).value)


#: The law is not configuration (SPEC §2 refinements): these minimums are floors. A catalogue item may
#: lengthen a period (more days, or working days instead of calendar days), never shorten it; the
#: objection lead time of 实施条例 Art. 22 is fixed where the regime has one. Land, state property and
#: "other" items keep the construction floors (or their own, above) until a shorter statutory period is
#: researched and written here with its source — a shorter period is a code change, not a catalogue edit.
STATUTORY_FLOORS: dict[Category, RuleSet] = DEFAULT_RULES

#: Contracts and procurement intentions (app/contracts). Floors set by law, never configuration.
#: 招标投标法 Art. 46: the contract is signed within 30 日 of the award notice (also
#: ``EVALUATION_CONTRACT_DAYS``, app/evaluation/services.py, and the ``contract_due`` alert).
CONTRACT_SIGN_DAYS = 30
CONTRACT_SIGN_BASIS = "招标投标法第46条"
#: 政府采购法实施条例 Art. 50: the purchaser publishes the government procurement contract within 2 工作日 of
#: signing it (on the media designated by the finance department).
CONTRACT_PUBLISH_WORKING_DAYS = 2
CONTRACT_PUBLISH_BASIS = "政府采购法实施条例第50条"
#: 政府采购法 Art. 49: a supplementary contract for more of the same may not exceed 10 % of the original
#: amount.
CONTRACT_SUPPLEMENT_MAX_RATIO = Decimal("0.10")
CONTRACT_SUPPLEMENT_BASIS = "政府采购法第49条"
#: 财库〔2020〕10号 §3: procurement intentions are published, in principle, no later than 30 日 before the
#: procurement starts (the tender announcement of a government procurement section).
INTENTION_LEAD_DAYS = 30
INTENTION_BASIS = "财库〔2020〕10号"
#: Retention (reference §2.7): government procurement files ≥ 15 years from the end of the procurement
#: (政府采购法 Art. 42); the platform keeps every category as long (app/evaluation/archive.py).
ARCHIVE_RETENTION_YEARS = 15
ARCHIVE_RETENTION_BASIS = "政府采购法第42条"

#: The periods a catalogue item carries, with the article each floor comes from (shown in refusals).
PERIODS: tuple[tuple[str, str, str], ...] = (
    ("min_sale_days", "sale_day_unit", "实施条例第16条 / 87号令第18条"),
    ("min_bid_days", "bid_day_unit", "招标投标法第24条 / 政府采购法第35条"),
    ("amendment_lead_days", "amendment_day_unit", "招标投标法第23条 / 实施条例第21条 / 87号令第27条"),
)


def at_least(days: int, unit: DayUnit | str, floor_days: int, floor_unit: DayUnit | str) -> bool:
    """Whether a period of ``days`` ``unit`` is never shorter than ``floor_days`` ``floor_unit``: the same
    unit with at least as many days, or working days where the floor counts calendar days (N working days
    always span at least N calendar days). Calendar days where the floor counts working days are refused:
    around a holiday they are shorter."""
    if DayUnit(unit) is DayUnit(floor_unit) or DayUnit(floor_unit) is DayUnit.CALENDAR:
        return days >= floor_days
    return False


def floor_problems(category: Category | str, values: dict[str, Any]) -> dict[str, list[str]]:
    """Field → why ``values`` (a catalogue item's periods) go below the statutory floors of ``category``."""
    floor = STATUTORY_FLOORS[Category(category)]
    problems: dict[str, list[str]] = {}
    for days_field, unit_field, basis in PERIODS:
        days, unit = values.get(days_field), values.get(unit_field)
        if not isinstance(days, int) or unit not in {u.value for u in DayUnit}:
            continue  # reported by the form checks
        floor_days, floor_unit = getattr(floor, days_field), getattr(floor, unit_field)
        if not at_least(days, unit, floor_days, floor_unit):
            problems[days_field] = [
                _(
                    "At least %(min)d %(unit)s (%(basis)s): the catalogue may lengthen a statutory period, "
                    "never shorten it.",
                    min=floor_days,
                    unit=unit_label(floor_unit),
                    basis=basis,
                )
            ]
    if floor.objection_lead_days is not None:
        days, unit = values.get("objection_lead_days"), values.get("objection_day_unit")
        if days != floor.objection_lead_days or unit != floor.objection_day_unit.value:
            problems["objection_lead_days"] = [
                _(
                    "Fixed by statute: objections to the documents are raised at least %(min)d %(unit)s "
                    "before the bid deadline (实施条例第22条).",
                    min=floor.objection_lead_days,
                    unit=unit_label(floor.objection_day_unit),
                )
            ]
    return problems


def effective_rules(item: Any) -> RuleSet:
    """The rules a section of ``item`` trades under: the item's periods where they respect the floors, the
    floors otherwise (an item stored before the floors were enforced cannot shorten a period)."""
    floor = STATUTORY_FLOORS[Category(item.category)]
    chosen: dict[str, Any] = {}
    for days_field, unit_field, _basis in PERIODS:
        days, unit = getattr(item, days_field), DayUnit(getattr(item, unit_field))
        if at_least(days, unit, getattr(floor, days_field), getattr(floor, unit_field)):
            chosen[days_field], chosen[unit_field] = days, unit
        else:
            chosen[days_field], chosen[unit_field] = getattr(floor, days_field), getattr(floor, unit_field)
    if floor.objection_lead_days is not None:
        chosen["objection_lead_days"] = floor.objection_lead_days
        chosen["objection_day_unit"] = floor.objection_day_unit
    else:
        chosen["objection_lead_days"] = item.objection_lead_days
        chosen["objection_day_unit"] = DayUnit(item.objection_day_unit)
    return RuleSet(legal_basis=item.legal_basis or floor.legal_basis, **chosen)


# -- counting ---------------------------------------------------------------------------------------------


def earliest_date(start: dt.datetime, days: int, unit: DayUnit | str, calendar: WorkCalendar) -> dt.date:
    """The first local date on which a deadline is at least ``days`` days (``unit``) after ``start``."""
    start_day = local_date(start)
    if DayUnit(unit) is DayUnit.CALENDAR:
        return start_day + dt.timedelta(days=days)
    return calendar.add_working_days(start_day, days)


def days_between(start: dt.datetime, end: dt.datetime, unit: DayUnit | str, calendar: WorkCalendar) -> int:
    """Days (``unit``) from ``start`` to ``end`` counted as the rule counts them: start day excluded, end day
    included. ``days_between(a, b) >= n`` iff :func:`satisfies` ``(a, b, n)``."""
    a, b = local_date(start), local_date(end)
    if DayUnit(unit) is DayUnit.CALENDAR:
        return (b - a).days
    return calendar.working_days_between(a, b)


def satisfies(
    start: dt.datetime, deadline: dt.datetime, days: int, unit: DayUnit | str, calendar: WorkCalendar
) -> bool:
    """Whether ``deadline`` is at least ``days`` days (``unit``) after ``start`` (module docstring)."""
    return local_date(deadline) >= earliest_date(start, days, unit, calendar)


def earliest_deadline(
    start: dt.datetime, days: int, unit: DayUnit | str, calendar: WorkCalendar, *, keep_time_of: dt.datetime
) -> dt.datetime:
    """The earliest deadline ``days`` days after ``start`` at the local time of day of ``keep_time_of``,
    moved on to a working day if needed. Used when the platform itself moves a deadline."""
    from app.core.clock import CST

    day = calendar.next_workday(earliest_date(start, days, unit, calendar))
    local_time = keep_time_of.astimezone(CST).timetz().replace(tzinfo=None)
    return dt.datetime.combine(day, local_time, tzinfo=CST).astimezone(dt.UTC)


def unit_label(unit: DayUnit | str) -> str:
    return _("working days") if DayUnit(unit) is DayUnit.WORKING else _("calendar days")


def fmt_day(instant: dt.datetime) -> str:
    return local_date(instant).isoformat()


# -- publication checks -----------------------------------------------------------------------------------


@dataclass
class RuleCheck:
    """One rule checked before publication: shown in the publish wizard, joined into the refusal."""

    code: str
    ok: bool
    message: str
    data: dict[str, Any] = field(default_factory=dict)


def check_sale_period(
    available_from: dt.datetime, available_until: dt.datetime, rules: Any, calendar: WorkCalendar
) -> RuleCheck:
    days = days_between(available_from, available_until, rules.sale_day_unit, calendar)
    ok = satisfies(available_from, available_until, rules.min_sale_days, rules.sale_day_unit, calendar)
    params = {
        "start": fmt_day(available_from),
        "end": fmt_day(available_until),
        "days": days,
        "min": rules.min_sale_days,
        "unit": unit_label(rules.sale_day_unit),
    }
    if ok:
        msg = _("Documents available %(start)s → %(end)s: %(days)d %(unit)s (at least %(min)d).", **params)
    elif getattr(rules, "period_basis", ""):
        msg = _(
            "Documents are available only %(days)d %(unit)s (%(start)s → %(end)s); the law requires at "
            "least %(min)d (%(basis)s).",
            basis=rules.period_basis,
            **params,
        )
    else:
        msg = _(
            "Documents are available only %(days)d %(unit)s (%(start)s → %(end)s); the law requires at "
            "least %(min)d (实施条例第16条 / 87号令第18条).",
            **params,
        )
    return RuleCheck("sale_period", ok, msg, params)


def check_bid_period(
    available_from: dt.datetime, deadline: dt.datetime, rules: Any, calendar: WorkCalendar
) -> RuleCheck:
    days = days_between(available_from, deadline, rules.bid_day_unit, calendar)
    ok = satisfies(available_from, deadline, rules.min_bid_days, rules.bid_day_unit, calendar)
    params = {
        "start": fmt_day(available_from),
        "end": fmt_day(deadline),
        "days": days,
        "min": rules.min_bid_days,
        "unit": unit_label(rules.bid_day_unit),
        "earliest": earliest_date(
            available_from, rules.min_bid_days, rules.bid_day_unit, calendar
        ).isoformat(),
    }
    if ok:
        msg = _(
            "Bid deadline %(end)s is %(days)d %(unit)s after the documents become available on %(start)s "
            "(at least %(min)d).",
            **params,
        )
    elif getattr(rules, "period_basis", ""):
        msg = _(
            "The response deadline (%(end)s) is only %(days)d %(unit)s after the documents become "
            "available (%(start)s); the law requires at least %(min)d (%(basis)s). "
            "The earliest legal deadline is %(earliest)s.",
            basis=rules.period_basis,
            **params,
        )
    else:
        msg = _(
            "The bid deadline (%(end)s) is only %(days)d %(unit)s after the documents become "
            "available (%(start)s); the law requires at least %(min)d (招标投标法第24条 / 政府采购法第35条). "
            "The earliest legal deadline is %(earliest)s.",
            **params,
        )
    return RuleCheck("bid_period", ok, msg, params)


def bid_security_limit(estimated_value: Decimal, category: Category | str | None = None) -> Decimal:
    """The most a section may require as bid security, in yuan (exact: 2 % in decimal arithmetic, the works
    cap
    for construction)."""
    limit = estimated_value * BID_SECURITY_MAX_RATIO
    if category is not None and Category(category) is Category.ENGINEERING_CONSTRUCTION:
        limit = min(limit, BID_SECURITY_WORKS_CAP)
    return limit


def check_bid_security(
    estimated_value: Decimal, bid_security: Decimal, category: Category | str | None = None
) -> RuleCheck:
    exact = bid_security_limit(estimated_value, category)
    limit = exact.quantize(Decimal("0.01"))
    ok = Decimal("0") <= bid_security <= exact
    params = {"security": f"{bid_security:,.2f}", "limit": f"{limit:,.2f}"}
    capped = exact < estimated_value * BID_SECURITY_MAX_RATIO
    if not ok and capped:
        msg = _(
            "Bid security %(security)s yuan exceeds the cap for construction works (at most %(limit)s yuan: "
            "2%% of the estimated value and no more than 800,000 yuan, 30号令第37条).",
            **params,
        )
        return RuleCheck("bid_security", False, msg, params)
    if ok:
        msg = _("Bid security %(security)s yuan is within 2%% of the estimated value (%(limit)s).", **params)
    else:
        msg = _(
            "Bid security %(security)s yuan exceeds 2%% of the estimated value (at most %(limit)s yuan, "
            "实施条例第26条).",
            **params,
        )
    return RuleCheck("bid_security", ok, msg, params)


def check_panel(panel_size: int, pool_count: int, specialties: dict[str, int]) -> RuleCheck:
    problems = []
    if panel_size < 5 or panel_size % 2 == 0:
        problems.append(_("the panel must have an odd number of at least 5 members"))
    if pool_count * 3 < panel_size * 2 or pool_count > panel_size:
        problems.append(_("experts drawn from the pool must be at least two thirds of the panel"))
    if specialties and sum(specialties.values()) != pool_count:
        problems.append(_("the specialty counts must add up to the number of pool experts"))
    if any(int(n) < 0 for n in specialties.values()):
        problems.append(_("specialty counts cannot be negative"))
    params = {"size": panel_size, "pool": pool_count}
    if problems:
        msg = _(
            "Evaluation panel is not legal (招标投标法第37条): %(problems)s.", problems="; ".join(problems)
        )
        return RuleCheck("panel", False, msg, params)
    return RuleCheck(
        "panel", True, _("Panel of %(size)d with %(pool)d experts from the pool.", **params), params
    )


def check_scoring(method: str, criteria: list[dict[str, Any]]) -> RuleCheck:
    if method != EvaluationMethod.COMPREHENSIVE:
        return RuleCheck("scoring", True, _("Lowest evaluated price method."))
    total = sum(Decimal(str(c.get("weight", 0))) for c in criteria)
    ok = bool(criteria) and total == 100 and all(Decimal(str(c.get("weight", 0))) > 0 for c in criteria)
    params = {"total": f"{total}"}
    if ok:
        return RuleCheck("scoring", True, _("Scoring criteria weights add up to 100."), params)
    return RuleCheck(
        "scoring", False, _("Scoring criteria weights add up to %(total)s, not 100.", **params), params
    )


@dataclass(frozen=True)
class PrequalRule:
    """资格预审 of a works tender (招标投标法实施条例 Art. 15–19): the prequalification documents are on
    sale at least 5 日 (Art. 16); applications are due at least 5 日 after the sale ends (Art. 17); fewer
    than 3 qualified applicants means the prequalification is redone before any tender (Art. 19). Days are
    calendar days counted as elsewhere here (start day excluded, end day included)."""

    min_sale_days: int = 5
    sale_day_unit: DayUnit = DayUnit.CALENDAR
    sale_basis: str = "招标投标法实施条例第16条"
    min_submission_days: int = 5
    submission_day_unit: DayUnit = DayUnit.CALENDAR
    submission_basis: str = "招标投标法实施条例第17条"
    min_qualified: int = 3
    qualified_basis: str = "招标投标法实施条例第19条"
    review_basis: str = "招标投标法实施条例第18条"


PREQUALIFICATION = PrequalRule()


def check_prequal_periods(
    available_from: dt.datetime,
    available_until: dt.datetime,
    deadline: dt.datetime,
    calendar: WorkCalendar,
    rule: PrequalRule = PREQUALIFICATION,
) -> list[RuleCheck]:
    """The two statutory periods of a prequalification, each refused with its rule and article when short."""
    sale_days = days_between(available_from, available_until, rule.sale_day_unit, calendar)
    sale_ok = available_until > available_from and satisfies(
        available_from, available_until, rule.min_sale_days, rule.sale_day_unit, calendar
    )
    sale = {
        "start": fmt_day(available_from),
        "end": fmt_day(available_until),
        "days": sale_days,
        "min": rule.min_sale_days,
        "unit": unit_label(rule.sale_day_unit),
        "basis": rule.sale_basis,
    }
    if sale_ok:
        sale_msg = _(
            "Prequalification documents on sale %(start)s → %(end)s: %(days)d %(unit)s (at least %(min)d, "
            "%(basis)s).",
            **sale,
        )
    else:
        sale_msg = _(
            "The prequalification documents are on sale only %(days)d %(unit)s (%(start)s → %(end)s); the "
            "law requires at least %(min)d (%(basis)s: 资格预审文件的发售期不得少于5日).",
            **sale,
        )
    sub_days = days_between(available_until, deadline, rule.submission_day_unit, calendar)
    sub_ok = deadline > available_until and satisfies(
        available_until, deadline, rule.min_submission_days, rule.submission_day_unit, calendar
    )
    sub = {
        "start": fmt_day(available_until),
        "end": fmt_day(deadline),
        "days": sub_days,
        "min": rule.min_submission_days,
        "unit": unit_label(rule.submission_day_unit),
        "basis": rule.submission_basis,
        "earliest": earliest_date(
            available_until, rule.min_submission_days, rule.submission_day_unit, calendar
        ).isoformat(),
    }
    if sub_ok:
        sub_msg = _(
            "Applications due %(end)s, %(days)d %(unit)s after the sale ends on %(start)s (at least %(min)d, "
            "%(basis)s).",
            **sub,
        )
    else:
        sub_msg = _(
            "The application deadline (%(end)s) is only %(days)d %(unit)s after the sale of the "
            "prequalification documents ends (%(start)s); the law requires at least %(min)d (%(basis)s: "
            "自资格预审文件停止发售之日起不得少于5日). The earliest legal deadline is %(earliest)s.",
            **sub,
        )
    return [
        RuleCheck("prequal_sale_period", sale_ok, sale_msg, sale),
        RuleCheck("prequal_application_period", sub_ok, sub_msg, sub),
    ]
