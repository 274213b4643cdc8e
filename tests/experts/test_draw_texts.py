"""The frozen texts of a draw round, byte for byte: what the digests (hence the seed) are over and what the
public record shows, pinned for a fixed small pool so that a faster way of writing them cannot change them."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from app.core.db import db
from app.experts import draw_record, draws
from app.experts.draws import Slot
from tests.experts.conftest import World

KEY = b"pin key"
POOL = {
    "draw": 41,
    "round": 2,
    "section": 9,
    "evaluation_date": "2026-03-05",
    "specialties": {
        "B02": [[5, 1], [9, None], [11, 1]],
        "A0101": [[3, 1], [7, 2], [12, 8], [100000, 77]],
        "C": [],
    },
}
ROWS = [(4, "employer_tenderer"), (8, "declared_conflict,on_leave"), (15, "over_age")]
# Computed before the freeze was made faster (issue 21); never to be recomputed from the code under test.
PINNED = {
    "pool": (
        '{"draw":41,"evaluation_date":"2026-03-05","round":2,"section":9,"specialties":{"A0101":[[3,1],[7,2],'
        '[12,8],[100000,77]],"B02":[[5,1],[9,null],[11,1]],"C":[]}}',
        "1b566f7c50e439daff4250a2dd5e5fd0b9eaa8a5e5c09d8cc514795aeb8f5bac",
    ),
    "exclusions": (
        '[[4,"employer_tenderer"],[8,"declared_conflict,on_leave"],[15,"over_age"]]',
        "78f4e0b12b077ea3645a824d5774386b92416eade0de08fcc8d1e1f959b9900f",
    ),
    "public_pool": (
        '{"draw":41,"evaluation_date":"2026-03-05","round":2,"section":9,"specialties":{"A0101":'
        '[["684b5bfc87a62c35b4e6f5d6","c5ee29e5d451abe07bfa42cf"],'
        '["3052123da21e36a142d07fda","f545f1ee11585aadee599eaf"],'
        '["f1a5de675ef292e60ed10cb4","1a9258875a7f99a18f7da3c1"],'
        '["cfe8241344c7a6713a36605c","bb20453a72c80fb4c64463a8"]],"B02":'
        '[["c0ddae42012020ffd20de752","c5ee29e5d451abe07bfa42cf"],'
        '["cde72f5d68e58cd8525c3302","615cd2a4be0c1273961e3f39"],'
        '["412e7da450452ca6dee3e041","c5ee29e5d451abe07bfa42cf"]],"C":[]}}',
        "72964a9b54bb95d2d5df92908fc3668d73ef667fef9fb7aafe66fcf3528cac09",
    ),
    "public_exclusions": (
        '[["336a178e8f58c275d3a78c64","employer_tenderer"],["bedbd292916282a1d5178cee",'
        '"declared_conflict,on_leave"],["4579262efaac80b4a2a8d8c0","over_age"]]',
        "92d030d488d6dd30fbdca05f26402229da750c74236308fa44fba1619b5eea48",
    ),
}


def test_the_direct_writers_fall_back_to_the_general_form_on_other_values() -> None:
    odd = {**POOL, "specialties": {"A": [[1, True], [2, 3]], "B": [["7", 1]], "C": [[1, 2, 3]]}}
    assert draws.pool_canonical(odd) == draws.canonical(odd)
    rows: list[Any] = [(True, "a"), (2, 'b"c'), (3, 4)]
    assert draws.exclusions_canonical(rows) == draws.canonical([list(r) for r in sorted(rows)])
    assert draws.exclusions_canonical([(2, 'b"c'), (1, "é")]) == '[[1,"\\u00e9"],[2,"b\\"c"]]'
    assert draws.exclusions_canonical([]) == "[]"


def _pinned(name: str, text: str) -> None:
    expected, digest = PINNED[name]
    assert text == expected
    assert hashlib.sha256(text.encode()).hexdigest() == digest


def test_the_frozen_texts_of_a_fixed_pool_are_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    names = draw_record.Pseudonyms(KEY)
    _pinned("pool", draws.canonical(POOL))
    _pinned("pool", draws.pool_canonical(POOL))
    as_tuples = {**POOL, "specialties": {c: [tuple(i) for i in v] for c, v in POOL["specialties"].items()}}
    _pinned("pool", draws.pool_canonical(as_tuples))
    _pinned("exclusions", draws.exclusions_canonical(list(reversed(ROWS))))
    _pinned("public_pool", draw_record.public_pool_text(names, POOL))
    _pinned("public_exclusions", draws.canonical(names.exclusions(ROWS)))
    monkeypatch.setattr(draw_record, "pseudonym_key", lambda data_key=None: KEY)
    public_pool, public_exclusions = draw_record.public_texts(POOL, ROWS)
    _pinned("public_pool", public_pool)
    _pinned("public_exclusions", public_exclusions)


def test_a_frozen_round_holds_the_general_canonical_forms(world: World) -> None:
    """The texts a draw stores are the plain canonical JSON of what they hold: the fast ways of writing them
    (and of working out the eligible lists) agree with the general form on a real freeze."""
    world.pool(9, codes=("A010101",))
    world.pool(4, codes=("A010102", "A010101"))
    world.expert(employer=world.owner)  # excluded: employed by the tenderer
    world.expert(employer=world.agency, codes=("A010102",))
    draw = world.request([Slot("A0101", 5, 2)])
    draws.witness(draw, "dice 3 6 1 4 2 5", actor=world.regulator)
    db.session.commit()
    (rnd,) = draw.rounds
    pool = json.loads(rnd.pool)
    assert rnd.pool == draws.canonical(pool) == draws.pool_canonical(pool)
    (items,) = pool["specialties"].values()
    assert len(items) == 13 and [i for i, _e in items] == sorted({i for i, _e in items})
    exclusions = json.loads(rnd.exclusions)
    assert len(exclusions) == 2 and rnd.exclusions == draws.canonical(exclusions)
    names = draw_record.Pseudonyms()
    assert rnd.public_pool == draws.canonical(names.pool(pool))
    assert rnd.public_exclusions == draws.canonical(names.exclusions(exclusions))
    assert rnd.pool_digest == hashlib.sha256(rnd.public_pool.encode()).hexdigest()
    assert rnd.exclusions_digest == hashlib.sha256(rnd.public_exclusions.encode()).hexdigest()
    assert draws.verify_draw(draw).ok
