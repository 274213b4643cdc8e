"""RFC 3797 selection: the RFC's worked example in MD5 mode, and SHA-256 mode deterministic."""

from __future__ import annotations

import hashlib

from app.experts import draws, selection

# RFC 3797 §6: 25 volunteers; sources 9319 / 2 5 12 8 10 / 9 18 26 34 41 45 (each source sorted).
RFC_KEY = b"9319./2.5.8.10.12./9.18.26.34.41.45./"
RFC_SELECTED = [17, 7, 2, 16, 25, 23, 8, 24, 19, 13, 22, 5, 18, 9, 1, 4]
RFC_DIGESTS = [
    "990DD0A5692A029A98B5E01AA28F3459",
    "3691E55CB63FCC37914430B2F70B5EC6",
    "FE814EDF564C190AC1D25753979990FA",
    "1863CCACEB568C31D7DDBDF1D4E91387",
    "F4AB33DF4889F0AF29C513905BE1D758",
]


def test_key_string_is_built_as_in_the_rfc() -> None:
    assert selection.key_string([[9319], [2, 5, 12, 8, 10], [9, 18, 26, 34, 41, 45]]) == RFC_KEY


def test_rfc3797_worked_example_in_md5_mode() -> None:
    volunteers = list(range(1, 26))
    assert selection.select(RFC_KEY, volunteers, 16, hash_name="md5") == RFC_SELECTED
    picks = list(selection.picks(RFC_KEY, 25, hash_name="md5"))
    assert [p.digest for p in picks[:5]] == RFC_DIGESTS
    assert [p.modulus for p in picks[:3]] == [25, 24, 23]


def test_the_first_picks_do_not_depend_on_how_many_are_drawn() -> None:
    items = list(range(100))
    assert selection.select(b"k/", items, 5) == selection.select(b"k/", items, 9)[:5]


def test_sha256_mode_is_deterministic_and_differs_from_md5() -> None:
    items = list(range(1, 26))
    first = selection.select(RFC_KEY, items, 10)
    assert first == selection.select(RFC_KEY, items, 10)
    assert first != RFC_SELECTED[:10]
    assert len(set(first)) == 10
    # Recompute pick 0 by hand: SHA-256(0x0000 ‖ key ‖ 0x0000) mod 25.
    digest = hashlib.sha256(b"\x00\x00" + RFC_KEY + b"\x00\x00").digest()
    assert first[0] == items[int.from_bytes(digest, "big") % 25]


def test_skipped_picks_stay_picked() -> None:
    items = list(range(20))
    accepted, skipped = selection.select_filtered(b"s/", items, 5, lambda x: x % 2 == 0)
    assert len(accepted) == 5 and all(x % 2 == 0 for x in accepted)
    order = selection.select(b"s/", items, 20)
    assert [x for x in order if x % 2 == 0][:5] == accepted
    assert set(skipped) <= {x for x in order[: order.index(accepted[-1])] if x % 2}


def test_panel_selection_keeps_one_expert_per_employer() -> None:
    pool = {
        "specialties": {
            "A01": [[i, i // 2] for i in range(1, 41)],
            "A06": [[i, i // 2] for i in range(1, 41)],
        }
    }
    wanted = [{"specialty": "A01", "seats": 4, "backups": 2}, {"specialty": "A06", "seats": 3, "backups": 1}]
    seed = hashlib.sha256(b"seed").hexdigest()
    result = draws.select_panel(pool, wanted, seed, hash_name="sha256")
    chosen = [i for c in result.values() for i in c["seats"] + c["backups"]]
    assert len(chosen) == 10 == len(set(chosen))
    assert len({i // 2 for i in chosen}) == 10
    assert result == draws.select_panel(pool, wanted, seed, hash_name="sha256")


def test_entropy_bits_match_the_rfc_examples() -> None:
    assert round(selection.entropy_bits(200, 7), 1) == 41.1
    assert round(selection.entropy_bits(500, 9), 1) == 62.1
