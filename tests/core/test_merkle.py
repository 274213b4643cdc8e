"""The Merkle functions against the Certificate Transparency reference vectors and a naive MTH."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import pytest

from app.core import merkle

# The eight reference entries of the CT / trillian test suites, and the tree head after each one.
CT_ENTRIES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # empty tree
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, proof) — 0-based indices.
CT_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


def naive_node(entries: list[bytes]) -> merkle.GetNode:
    """A get_node over an in-memory list, computed from the definition (independent of the frontier)."""

    def get(level: int, index: int) -> bytes:
        width = 1 << level
        chunk = entries[index * width : (index + 1) * width]
        assert len(chunk) == width, "asked for a node that is not a complete subtree"
        return merkle.mth(chunk)

    return get


def entries(n: int) -> list[bytes]:
    return [f"entry-{i}".encode() for i in range(n)]


def test_hash_prefixes_and_empty_tree() -> None:
    assert merkle.EMPTY_ROOT.hex() == CT_ROOTS[0]
    assert merkle.leaf_hash(b"").hex() == CT_ROOTS[1]
    a, b = (merkle.leaf_hash(e) for e in CT_ENTRIES[:2])
    assert merkle.node_hash(a, b).hex() == CT_ROOTS[2]


@pytest.mark.parametrize("size", range(len(CT_ROOTS)))
def test_reference_roots_every_way(size: int) -> None:
    data = CT_ENTRIES[:size]
    assert merkle.mth(data).hex() == CT_ROOTS[size]
    assert merkle.root_from_leaves(merkle.leaf_hash(d) for d in data).hex() == CT_ROOTS[size]
    if size:
        assert merkle.range_hash(0, size, naive_node(CT_ENTRIES)).hex() == CT_ROOTS[size]


def test_the_split_is_the_largest_power_of_two_below() -> None:
    splits = [merkle.largest_power_of_two_below(n) for n in (2, 3, 4, 5, 7, 8, 9, 1000)]
    assert splits == [1, 2, 2, 4, 4, 4, 8, 512]


@pytest.mark.parametrize(("index", "size", "proof"), CT_INCLUSION)
def test_reference_inclusion_proofs(index: int, size: int, proof: list[str]) -> None:
    got = merkle.inclusion_proof(index, size, naive_node(CT_ENTRIES))
    assert [p.hex() for p in got] == proof
    root = bytes.fromhex(CT_ROOTS[size])
    leaf = merkle.leaf_hash(CT_ENTRIES[index])
    assert merkle.verify_inclusion(leaf, index, size, got, root)


@pytest.mark.parametrize(("old", "new", "proof"), CT_CONSISTENCY)
def test_reference_consistency_proofs(old: int, new: int, proof: list[str]) -> None:
    got = merkle.consistency_proof(old, new, naive_node(CT_ENTRIES))
    assert [p.hex() for p in got] == proof
    assert merkle.verify_consistency(
        old, new, bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new]), got
    )


def test_proof_of_leaf_3_in_7_has_four_nodes_in_the_consistency_case_and_three_for_inclusion() -> None:
    data = CT_ENTRIES[:7]
    get = naive_node(data)
    # RFC 6962 §2.1.3 examples: PROOF(3, D[7]) = [c, d, g, l], PATH(3, D[7]) = [c, g, l]
    assert len(merkle.consistency_proof(3, 7, get)) == 4
    assert len(merkle.inclusion_proof(3, 7, get)) == 3
    assert len(merkle.inclusion_proof(6, 7, get)) == 2  # PATH(6, D[7]) = [k, j]


def test_frontier_append_matches_naive_root_and_yields_every_perfect_subtree() -> None:
    data = entries(70)
    frontier: merkle.Frontier = []
    stored: dict[tuple[int, int], bytes] = {}
    for size, entry in enumerate(data):
        lh = merkle.leaf_hash(entry)
        stored[(0, size)] = lh
        for level, index, h in merkle.append_leaf(frontier, size, lh):
            stored[(level, index)] = h
        assert merkle.root_from_frontier(frontier) == merkle.mth(data[: size + 1])
        levels = [lvl for lvl, _ in frontier]
        assert sum(1 << lvl for lvl in levels) == size + 1 and levels == sorted(levels, reverse=True)
        rebuilt = merkle.frontier_from_hashes(size + 1, [h for _, h in frontier])
        assert rebuilt == frontier
    # Every stored node is the MTH of its range, and every complete subtree was stored.
    get = naive_node(data)
    assert all(h == get(level, index) for (level, index), h in stored.items())
    assert len(stored) == sum(70 >> lvl for lvl in range(7))


def test_inclusion_proofs_for_every_leaf_of_every_size_up_to_70() -> None:
    data = entries(70)
    get = naive_node(data)
    for size in range(1, 71):
        root = merkle.mth(data[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, get)
            assert len(proof) <= math.ceil(math.log2(size))
            leaf = merkle.leaf_hash(data[index])
            assert merkle.verify_inclusion(leaf, index, size, proof, root)
            if size > 1:
                # Wrong index, wrong size, wrong leaf, truncated or padded proof: all refused.
                assert not merkle.verify_inclusion(leaf, (index + 1) % size, size, proof, root)
                assert not merkle.verify_inclusion(leaf, index, size * 2, proof, root)
                assert not merkle.verify_inclusion(merkle.leaf_hash(b"x"), index, size, proof, root)
                assert not merkle.verify_inclusion(leaf, index, size, proof[:-1], root)
                assert not merkle.verify_inclusion(leaf, index, size, [*proof, root], root)


def test_consistency_proofs_verify_for_all_sizes_up_to_64() -> None:
    data = entries(64)
    get = naive_node(data)
    roots = [merkle.mth(data[:n]) for n in range(65)]
    for new in range(65):
        for old in range(new + 1):
            proof = merkle.consistency_proof(old, new, get)
            assert merkle.verify_consistency(old, new, roots[old], roots[new], proof) is (old > 0), (old, new)
            if 0 < old < new:
                assert len(proof) <= math.ceil(math.log2(new)) + 1
                assert not merkle.verify_consistency(old, new, roots[old], roots[new], proof[:-1])
                assert not merkle.verify_consistency(old, new, roots[new], roots[old], proof)
                flipped = [bytes([proof[0][0] ^ 16]) + proof[0][1:], *proof[1:]]
                assert not merkle.verify_consistency(old, new, roots[old], roots[new], flipped)
                if old > 1:
                    assert not merkle.verify_consistency(old - 1, new, roots[old], roots[new], proof)


def test_a_rewritten_old_leaf_breaks_consistency() -> None:
    data = entries(40)
    old_root = merkle.mth(data[:17])
    forged = list(data)
    forged[5] = b"rewritten history"
    proof = merkle.consistency_proof(17, 40, naive_node(forged))
    # The proof is honest about the forged tree, so it cannot link the published old head to it.
    assert not merkle.verify_consistency(17, 40, old_root, merkle.mth(forged), proof)
    assert merkle.verify_consistency(17, 40, merkle.mth(forged[:17]), merkle.mth(forged), proof)


def test_bad_arguments() -> None:
    get = naive_node(entries(4))
    with pytest.raises(merkle.InvalidProofError):
        merkle.inclusion_proof(4, 4, get)
    with pytest.raises(merkle.InvalidProofError):
        merkle.consistency_proof(5, 4, get)
    assert not merkle.verify_inclusion(merkle.EMPTY_ROOT, 0, 0, [], merkle.EMPTY_ROOT)
    assert not merkle.verify_consistency(1, 2, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    assert not merkle.verify_consistency(0, 3, merkle.EMPTY_ROOT, merkle.mth(entries(3)), [])


# The full transparency-dev/merkle probe set (vendored with its licence): valid proofs and the mutations of
# each one (flipped bits, truncated, padded, swapped roots, wrong sizes), plus the edge cases around empty
# trees and malformed hashes.
PROBES = Path(__file__).resolve().parents[1] / "vectors" / "transparency-dev-merkle" / "testdata"
PROBE_FILES = sorted(PROBES.rglob("*.json"))


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


@pytest.mark.parametrize("path", PROBE_FILES, ids=lambda p: str(p.relative_to(PROBES)))
def test_transparency_dev_probe(path: Path) -> None:
    probe = json.loads(path.read_text())
    proof = [_b64(p) for p in probe["proof"] or []]
    if path.relative_to(PROBES).parts[0] == "inclusion":
        ok = merkle.verify_inclusion(
            _b64(probe["leafHash"]), probe["leafIdx"], probe["treeSize"], proof, _b64(probe["root"])
        )
    else:
        ok = merkle.verify_consistency(
            probe["size1"], probe["size2"], _b64(probe["root1"]), _b64(probe["root2"]), proof
        )
    assert ok is not probe["wantErr"], probe["desc"]


def test_the_probe_set_is_complete() -> None:
    kinds = {p.relative_to(PROBES).parts[0] for p in PROBE_FILES}
    assert kinds == {"inclusion", "consistency"} and len(PROBE_FILES) == 196
    wanted = [json.loads(p.read_text())["wantErr"] for p in PROBE_FILES]
    assert True in wanted and False in wanted


def test_rfc_9162_edge_cases_named_in_issue_16() -> None:
    # No consistency "proof" from the empty tree, whatever the roots and path; equal sizes need equal roots.
    assert not merkle.verify_consistency(0, 3, merkle.EMPTY_ROOT, merkle.mth(entries(3)), [])
    assert not merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    assert merkle.verify_consistency(3, 3, merkle.mth(entries(3)), merkle.mth(entries(3)), [])
    # Hashes are 32 bytes: an empty leaf hash does not match an empty root.
    assert not merkle.verify_inclusion(b"", 0, 1, [], b"")
    leaf = merkle.leaf_hash(b"a")
    assert merkle.verify_inclusion(leaf, 0, 1, [], leaf)
    assert not merkle.verify_inclusion(leaf[:31], 0, 1, [], leaf[:31])
