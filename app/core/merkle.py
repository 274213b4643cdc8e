"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and verification. Pure functions, no database.

Coordinates: a *node* ``(level, index)`` is the root of the perfect subtree covering leaves
``[index·2^level, (index+1)·2^level)``; level 0 is a leaf hash. Proof generation takes a callable
``get_node(level, index) -> bytes`` so the storage layer can serve the few nodes a proof needs
(the perfect subtrees are stored once, when completed) instead of the whole tree.

A *frontier* is the list of ``(level, hash)`` roots of the perfect subtrees that make up a tree of size
``n`` — one per set bit of ``n``, largest first. Appending a leaf merges equal-sized subtrees like a
binary counter, so it costs O(1) hashes amortized and yields the nodes it completed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "GetNode",
    "InvalidProofError",
    "append_leaf",
    "consistency_proof",
    "frontier_from_hashes",
    "inclusion_proof",
    "largest_power_of_two_below",
    "leaf_hash",
    "mth",
    "node_hash",
    "range_hash",
    "root_from_frontier",
    "root_from_leaves",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256

EMPTY_ROOT = _sha256(b"").digest()
"""MTH({}) — the hash of the empty string (RFC 9162 §2.1.1)."""

Frontier = list[tuple[int, bytes]]
GetNode = Callable[[int, int], bytes]


class InvalidProofError(ValueError):
    """Arguments that no valid proof can have (index out of range, sizes in the wrong order)."""


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 ‖ d)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return _sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The RFC split point k: the largest power of two strictly smaller than ``n`` (n ≥ 2)."""
    if n < 2:
        raise ValueError("needs n >= 2")
    return 1 << ((n - 1).bit_length() - 1)


def mth(entries: Sequence[bytes]) -> bytes:
    """MTH(D[n]) by the recursive definition of RFC 9162 §2.1.1, over raw entries. The reference."""
    n = len(entries)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hash(entries[0])
    k = largest_power_of_two_below(n)
    return node_hash(mth(entries[:k]), mth(entries[k:]))


def root_from_leaves(leaf_hashes: Iterable[bytes]) -> bytes:
    """The tree head over already-hashed leaves, in one streaming pass (O(log n) memory)."""
    frontier: Frontier = []
    for size, h in enumerate(leaf_hashes):
        append_leaf(frontier, size, h)
    return root_from_frontier(frontier)


def append_leaf(frontier: Frontier, size: int, leaf: bytes) -> list[tuple[int, int, bytes]]:
    """Append ``leaf`` (a leaf hash) to the tree of ``size`` leaves whose frontier is given, in place.

    Returns the perfect subtrees this append completed, as ``(level, index, hash)`` with level ≥ 1,
    smallest first; the caller stores them so proofs need only O(log n) look-ups.
    """
    completed: list[tuple[int, int, bytes]] = []
    level, h = 0, leaf
    new_size = size + 1
    while frontier and frontier[-1][0] == level:
        _, left = frontier.pop()
        h = node_hash(left, h)
        level += 1
        completed.append((level, (new_size >> level) - 1, h))
    frontier.append((level, h))
    return completed


def frontier_from_hashes(size: int, hashes: Sequence[bytes]) -> Frontier:
    """Rebuild ``(level, hash)`` pairs from the bare hashes of a frontier: the levels are the set bits of
    ``size``, largest first."""
    levels = [b for b in range(size.bit_length() - 1, -1, -1) if size >> b & 1]
    if len(levels) != len(hashes):
        raise ValueError(f"a tree of {size} leaves has {len(levels)} frontier hashes, not {len(hashes)}")
    return list(zip(levels, hashes, strict=True))


def root_from_frontier(frontier: Sequence[tuple[int, bytes]]) -> bytes:
    """Fold the perfect subtrees right to left: the RFC tree puts the partial right edge deepest."""
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1][1]
    for _, h in reversed(frontier[:-1]):
        root = node_hash(h, root)
    return root


def range_hash(start: int, end: int, get_node: GetNode) -> bytes:
    """MTH(D[start:end]) for a range the RFC recursion can produce (``start`` aligned to a power of two
    at least ``end - start``): a perfect subtree is one look-up, a right edge is at most log n of them."""
    n = end - start
    if n <= 0:
        raise ValueError("empty range")
    if n & (n - 1) == 0 and start % n == 0:
        level = n.bit_length() - 1
        return get_node(level, start >> level)
    k = largest_power_of_two_below(n)
    return node_hash(range_hash(start, start + k, get_node), range_hash(start + k, end, get_node))


def inclusion_proof(index: int, size: int, get_node: GetNode) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 §2.1.1, leaf-side first."""
    if not 0 <= index < size:
        raise InvalidProofError(f"leaf {index} is not in a tree of size {size}")
    proof: list[bytes] = []
    start, end, m = 0, size, index
    # Walk down from the root, collecting siblings; reversed at the end so the leaf's sibling comes first.
    while end - start > 1:
        k = largest_power_of_two_below(end - start)
        if m < k:
            proof.append(range_hash(start + k, end, get_node))
            end = start + k
        else:
            proof.append(range_hash(start, start + k, get_node))
            start, m = start + k, m - k
    proof.reverse()
    return proof


def consistency_proof(old: int, new: int, get_node: GetNode) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 6962 §2.1.2."""
    if not 0 <= old <= new:
        raise InvalidProofError(f"no consistency proof from size {old} to size {new}")
    if old == 0 or old == new:
        return []
    proof: list[bytes] = []
    start, end, m, complete = 0, new, old, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                proof.append(range_hash(start, end, get_node))
            break
        k = largest_power_of_two_below(n)
        if m <= k:
            proof.append(range_hash(start + k, end, get_node))
            end = start + k
        else:
            proof.append(range_hash(start, start + k, get_node))
            start, m, complete = start + k, m - k, False
    proof.reverse()
    return proof


HASH_SIZE = 32
"""Every hash in a tree head or proof is a SHA-256 output; anything else is refused before hashing."""


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show the leaf hash ``leaf`` at ``index`` in the tree ``root``?

    Step by step as the RFC writes it, plus the hash-size checks its types imply (``leaf``, ``root`` and
    every proof node are 32-byte SHA-256 outputs): an empty or truncated leaf hash never verifies, not even
    against an equally malformed root of a one-leaf tree.
    """
    if not 0 <= index < size:  # 1. leaf_index >= tree_size fails
        return False
    if len(leaf) != HASH_SIZE or len(root) != HASH_SIZE or any(len(p) != HASH_SIZE for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf  # 2.-3.
    for p in proof:  # 4.
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root  # 5.


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of size ``new`` an append-only extension of the one of size ``old``?

    The RFC algorithm covers ``0 < old < new``. At the edges this follows the transparency-dev/merkle
    reference (whose probe set the tests run in full): ``old == new > 0`` holds exactly when the proof is
    empty and the two roots are equal; ``old == 0`` never verifies — the RFC defines no consistency proof
    from the empty tree (every tree extends it, so a caller that needs that case checks
    ``old_root == EMPTY_ROOT`` itself rather than accepting a "proof" of it).
    """
    if not 0 < old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    if not proof:  # 1. an empty consistency_path fails
        return False
    if len(old_root) != HASH_SIZE or len(new_root) != HASH_SIZE or any(len(p) != HASH_SIZE for p in proof):
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # 2. first is an exact power of 2: prepend first_hash
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1  # 3.
    while fn & 1:  # 4.
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # 5.
    for c in path[1:]:  # 6.
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0  # 7.
