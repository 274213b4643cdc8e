"""The arithmetic of evaluation, free of the database: qualification, scores, aggregation, outliers and
ranking. Every number is a :class:`~decimal.Decimal` rounded half-up to 0.01 at the end of each step.

Rules (documented here once, shown on the report):

* **Qualification** (资格审查): a bidder fails when more than half of the counted members fail it; every
  failing member gives a reason, and the report lists them.
* **Lowest evaluated price** (经评审的最低投标价法): qualified bidders ranked by price, ascending.
* **Comprehensive scoring** (综合评估法): the section's weighted criteria. The price criterion (named
  ``price``/``价格``/``报价``/``投标报价``, or marked ``"kind": "price"``) is computed, not scored:
  ``weight × benchmark / price`` with benchmark = the lowest qualified price (``benchmark="lowest"``) or
  their mean (``"mean"``), capped at the weight. Members score every other criterion from 0 to its weight;
  a bidder's subjective score is the aggregate of the members' totals: the mean, or — with ``trimmed``
  aggregation, the default once the panel has ``trim_min_panel`` (7) members or more — the mean without
  one highest and one lowest total.
* **Outliers**: a member's total for a bidder further than ``outlier_threshold`` points from the panel mean
  for that bidder is flagged and must be explained by that member before the report is drawn up.
* **Tie-break** (deterministic): higher total score (comprehensive only), then lower price, then the earlier
  receipt time of the bid's summary envelope, then the lower organization id.
* **SME price deduction** (中小企业价格扣除, government procurement; 财库〔2020〕46号 Art. 9 as
  amended by 财库〔2022〕19号): a bidder that declared itself a small or micro enterprise (中小企业声明函)
  is evaluated at its price less the section's rate — the evaluated price (评审价) — in the price score,
  the benchmark and the ranking by price; the price it bid stays the award and contract amount.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
PRICE_NAMES = frozenset({"price", "价格", "报价", "投标报价", "价格分"})
QUALIFICATION = "qualification"


def q(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Settings:
    aggregation: str = "auto"  # "mean", "trimmed", or "auto" (trimmed when the panel ≥ trim_min_panel)
    trim_min_panel: int = 7
    outlier_threshold: Decimal = Decimal("15")
    benchmark: str = "lowest"  # or "mean"

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Settings:
        return cls(
            aggregation=str(data.get("aggregation", "auto")),
            trim_min_panel=int(str(data.get("trim_min_panel", 7))),
            outlier_threshold=Decimal(str(data.get("outlier_threshold", "15"))),
            benchmark=str(data.get("benchmark", "lowest")),
        )

    def as_dict(self) -> dict[str, str | int]:
        return {
            "aggregation": self.aggregation,
            "trim_min_panel": self.trim_min_panel,
            "outlier_threshold": str(self.outlier_threshold),
            "benchmark": self.benchmark,
        }


#: The declared enterprise sizes that earn the SME price deduction (46号 Art. 9: small and micro only).
DEDUCTED_SIZES = frozenset({"small", "micro"})


@dataclass(frozen=True)
class Bid:
    org_id: int
    name: str
    price: Decimal
    received_at: dt.datetime
    sme_size: str = ""  # declared in the summary (中小企业声明函): medium, small, micro, or ""
    deduction_rate: Decimal = Decimal("0")  # the section's SME price deduction, in percent

    @property
    def deducted(self) -> bool:
        return self.deduction_rate > 0 and self.sme_size in DEDUCTED_SIZES

    @property
    def evaluated_price(self) -> Decimal:
        """评审价: the price less the SME deduction for a small or micro enterprise, else the price."""
        if not self.deducted:
            return self.price
        return q(self.price * (Decimal("100") - self.deduction_rate) / Decimal("100"))


@dataclass
class Sheet:
    """One counted member's judgement: {org: (qualified, reason)} and {org: {criterion: points}}."""

    member_id: int
    qualification: dict[int, tuple[bool, str]] = field(default_factory=dict)
    points: dict[int, dict[str, Decimal]] = field(default_factory=dict)

    def total(self, org_id: int) -> Decimal:
        return sum(self.points.get(org_id, {}).values(), Decimal("0"))


@dataclass
class Result:
    bid: Bid
    qualified: bool
    fail_reasons: list[str] = field(default_factory=list)
    subjective: Decimal | None = None
    price_score: Decimal | None = None
    total: Decimal | None = None
    rank: int | None = None


def is_price(criterion: dict[str, object]) -> bool:
    return criterion.get("kind") == "price" or str(criterion.get("name", "")).strip().lower() in PRICE_NAMES


def subjective_criteria(criteria: list[dict[str, object]]) -> list[dict[str, object]]:
    return [c for c in criteria if not is_price(c)]


def price_weight(criteria: list[dict[str, object]]) -> Decimal:
    return sum((Decimal(str(c["weight"])) for c in criteria if is_price(c)), Decimal("0"))


def aggregate(values: list[Decimal], settings: Settings, panel: int) -> Decimal:
    """Mean, or trimmed mean (drop one highest and one lowest) when configured or when ``panel`` ≥
    ``trim_min_panel`` under ``auto``."""
    if not values:
        return Decimal("0")
    trimmed = settings.aggregation == "trimmed" or (
        settings.aggregation == "auto" and panel >= settings.trim_min_panel
    )
    ordered = sorted(values)
    if trimmed and len(ordered) >= 3:
        ordered = ordered[1:-1]
    return q(sum(ordered, Decimal("0")) / len(ordered))


def qualification(bids: list[Bid], sheets: list[Sheet]) -> dict[int, tuple[bool, list[str]]]:
    out: dict[int, tuple[bool, list[str]]] = {}
    for bid in bids:
        fails = [
            s.qualification[bid.org_id][1]
            for s in sheets
            if not s.qualification.get(bid.org_id, (True, ""))[0]
        ]
        out[bid.org_id] = (len(fails) * 2 <= len(sheets), fails)
    return out


def price_score(price: Decimal, benchmark: Decimal, weight: Decimal) -> Decimal:
    """``weight × benchmark / price``, capped at the weight (a price below the benchmark cannot exist when
    the benchmark is the lowest price, but can under ``benchmark="mean"``)."""
    if price <= 0:
        return Decimal("0")
    return q(min(weight, weight * benchmark / price))


def outliers(
    bids: list[Bid], sheets: list[Sheet], settings: Settings
) -> list[tuple[int, int, Decimal, Decimal]]:
    """(member id, org id, member total, panel mean) of every total further than the threshold from the
    panel mean for that bidder."""
    found: list[tuple[int, int, Decimal, Decimal]] = []
    if len(sheets) < 2:
        return found
    for bid in bids:
        totals = [(s.member_id, s.total(bid.org_id)) for s in sheets]
        mean = q(sum((t for _, t in totals), Decimal("0")) / len(totals))
        for member_id, total in totals:
            if abs(total - mean) > settings.outlier_threshold:
                found.append((member_id, bid.org_id, total, mean))
    return found


def _tie_key(result: Result) -> tuple[Decimal, Decimal, dt.datetime, int]:
    return (
        -(result.total or Decimal("0")),
        result.bid.evaluated_price,
        result.bid.received_at,
        result.bid.org_id,
    )


def rank(
    method: str, bids: list[Bid], sheets: list[Sheet], criteria: list[dict[str, object]], settings: Settings
) -> list[Result]:
    """Every bid with its qualification, scores and rank (None when it failed qualification)."""
    quals = qualification(bids, sheets)
    results = [Result(bid=b, qualified=quals[b.org_id][0], fail_reasons=quals[b.org_id][1]) for b in bids]
    valid = [r for r in results if r.qualified]
    if method == "comprehensive" and valid:
        weight = price_weight(criteria)
        prices = [r.bid.evaluated_price for r in valid]
        benchmark = (
            min(prices) if settings.benchmark == "lowest" else q(sum(prices, Decimal("0")) / len(prices))
        )
        for r in valid:
            r.subjective = aggregate([s.total(r.bid.org_id) for s in sheets], settings, len(sheets))
            r.price_score = price_score(r.bid.evaluated_price, benchmark, weight) if weight else Decimal("0")
            r.total = q(r.subjective + r.price_score)
    for position, r in enumerate(sorted(valid, key=_tie_key), start=1):
        r.rank = position
    return sorted(results, key=lambda r: (r.rank is None, r.rank or 0, r.bid.org_id))
