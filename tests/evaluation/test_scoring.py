"""The arithmetic of evaluation: qualification, both methods, the price formula, (trimmed) means, outliers and
the documented tie-break."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from app.evaluation import scoring
from app.evaluation.scoring import Bid, Settings, Sheet

T = dt.datetime(2026, 3, 23, 1, 0, tzinfo=dt.UTC)
CRITERIA: list[dict[str, object]] = [
    {"name": "technical", "weight": "50"},
    {"name": "commercial", "weight": "20"},
    {"name": "价格", "weight": "30"},
]


def bid(org: int, price: str, seconds: int = 0) -> Bid:
    return Bid(org, f"bidder {org}", Decimal(price), T + dt.timedelta(seconds=seconds))


def sheet(member: int, points: dict[int, tuple[str, str]], fail: dict[int, str] | None = None) -> Sheet:
    fail = fail or {}
    s = Sheet(member)
    for org, (tech, comm) in points.items():
        s.qualification[org] = (org not in fail, fail.get(org, ""))
        s.points[org] = {"technical": Decimal(tech), "commercial": Decimal(comm)}
    return s


def test_lowest_price_ranks_qualified_bids_by_price_with_reasons_for_failures() -> None:
    bids = [bid(1, "9500000"), bid(2, "9300000"), bid(3, "9400000")]
    sheets = [Sheet(m, qualification={1: (True, ""), 2: (True, ""), 3: (True, "")}) for m in range(5)]
    for s in sheets[:3]:
        s.qualification[2] = (False, "项目经理资格不符")
    sheets[4].qualification[3] = (False, "业绩不足")  # one of five: still qualified
    results = scoring.rank("lowest_price", bids, sheets, [], Settings())
    assert [(r.bid.org_id, r.rank) for r in results] == [(3, 1), (1, 2), (2, None)]
    failed = next(r for r in results if r.bid.org_id == 2)
    assert not failed.qualified and failed.fail_reasons == ["项目经理资格不符"] * 3


def test_comprehensive_scoring_uses_weighted_criteria_and_the_price_formula() -> None:
    bids = [bid(1, "10000000"), bid(2, "8000000"), bid(3, "5000000")]
    points = {1: ("45", "18"), 2: ("40", "15"), 3: ("20", "10")}
    sheets = [sheet(m, points, fail={3: "报价低于成本"}) for m in range(5)]
    results = scoring.rank("comprehensive", bids, sheets, CRITERIA, Settings())
    by_org = {r.bid.org_id: r for r in results}
    # benchmark = the lowest *qualified* price (8,000,000): 30 × 8/10 = 24 and 30 × 8/8 = 30
    assert by_org[1].price_score == Decimal("24.00") and by_org[2].price_score == Decimal("30.00")
    assert by_org[1].total == Decimal("87.00") and by_org[2].total == Decimal("85.00")
    assert [r.bid.org_id for r in results if r.rank] == [1, 2]
    assert by_org[3].rank is None and by_org[3].total is None
    mean_benchmark = scoring.rank("comprehensive", bids[:2], sheets, CRITERIA, Settings(benchmark="mean"))
    assert {r.bid.org_id: r.price_score for r in mean_benchmark} == {1: Decimal("27.00"), 2: Decimal("30.00")}


def test_aggregation_is_the_mean_below_seven_and_the_trimmed_mean_from_seven() -> None:
    values = [Decimal(v) for v in ("60", "70", "70", "70", "95")]
    assert scoring.aggregate(values, Settings(), panel=5) == Decimal("73.00")
    assert scoring.aggregate(values, Settings(aggregation="trimmed"), panel=5) == Decimal("70.00")
    seven = [*values, Decimal("70"), Decimal("71")]
    assert scoring.aggregate(seven, Settings(), panel=7) == Decimal("70.20")  # drops 60 and 95
    assert scoring.aggregate(seven, Settings(aggregation="mean"), panel=7) == Decimal("72.29")
    assert scoring.aggregate(seven, Settings(trim_min_panel=9), panel=7) == Decimal("72.29")


def test_totals_far_from_the_panel_mean_are_flagged() -> None:
    bids = [bid(1, "9000000"), bid(2, "9100000")]
    normal = {1: ("40", "15"), 2: ("38", "15")}
    sheets = [sheet(m, normal) for m in range(4)] + [sheet(9, {1: ("10", "5"), 2: ("38", "15")})]
    flagged = scoring.outliers(bids, sheets, Settings(outlier_threshold=Decimal("15")))
    assert [(m, org) for m, org, *_ in flagged] == [(9, 1)]
    assert scoring.outliers(bids, sheets, Settings(outlier_threshold=Decimal("50"))) == []


def test_ties_break_on_lower_price_then_earlier_receipt_then_organization() -> None:
    sheets = [
        sheet(m, {1: ("40", "10"), 2: ("40", "10"), 3: ("40", "10"), 4: ("40", "10")}) for m in range(5)
    ]
    no_price: list[dict[str, object]] = [
        {"name": "technical", "weight": "70"},
        {"name": "commercial", "weight": "30"},
    ]
    bids = [bid(4, "9000000", 1), bid(3, "9000000", 5), bid(2, "8900000", 9), bid(1, "9000000", 5)]
    ranked = scoring.rank("comprehensive", bids, sheets, no_price, Settings())
    # equal totals: 8.9M first; then among 9.0M the earlier receipt (org 4 at +1s); then org 1 before org 3
    assert [r.bid.org_id for r in ranked] == [2, 4, 1, 3]
    lowest = scoring.rank("lowest_price", bids, sheets, [], Settings())
    assert [r.bid.org_id for r in lowest] == [2, 4, 1, 3]
