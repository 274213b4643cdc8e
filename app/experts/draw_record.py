"""The public record of an expert draw (docs/verify-a-draw.md) and the panel's secrecy until publication.

Until the section's result is determined (中标结果确定: awarded or archived; or the trade ended as failed or
cancelled) the evaluation committee stays confidential (招标投标法 Art. 37, 12号令 Art. 8), so nothing
that decides the panel is shown to anyone beyond the drawing staff and the supervising regulator: the
public record holds the commitment and the digests only, and the audit log pages, exports and live stream
show the witness and reveal leaves as "not shown yet" (an audit sealer). From publication on the record
holds every input — the frozen pool in order, the exclusions, the wanted seats, the server random, the
witness entropy, the seed and the selection — so anyone can recompute the draw with
``ggzy-audit draw URL`` (:mod:`app.core.draw_verify`).

Names stay private: experts and employers appear under pseudonyms, HMAC-SHA-256 (the first 96 bits, hex)
under a platform key derived from the data key (``"e:<id>"`` for an expert, ``"o:<id>"`` for an
employer), so the same expert carries the same pseudonym in every draw (until the data key is rotated)
and the public cannot reverse it. Rounds frozen since record format 2 store the pseudonymous pool and
exclusions as frozen, and their digests — hence the seed — are over those texts, so the public recomputes
them; format 1 rounds (frozen before) have digests over the private identifiers, which only the regulator's
verify page can recompute.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from itertools import compress
from operator import itemgetter
from typing import Any

from sqlalchemy import select

from app.core.crypto import derive
from app.core.db import db
from app.core.models import AuditLeaf

from .enums import RoundStatus
from .models import DrawRound, ExpertDraw

RECORD_KIND = "ggzy-expert-draw"
RECORD_VERSION = 2
PSEUDONYM_LABEL = "expert_draw.pseudonym"
PSEUDONYM_HEX = 24  # 96 bits: a collision among a million experts has odds below 10⁻¹⁶
PUBLISHED_SECTION_STATUSES = frozenset({"awarded", "archived", "failed", "cancelled"})
# The leaves whose payload carries what decides the panel (witness entropy, server random, seed, the
# selection digest, from which a small pool's panel could be searched out).
SEALED_ACTIONS = frozenset({"experts:draw:witness", "experts:draw:reveal"})


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


# --- pseudonyms --------------------------------------------------------------------------------------------


def pseudonym_key(data_key: str | None = None) -> bytes:
    from app.core.crypto import data_keys

    return derive(PSEUDONYM_LABEL, data_key or data_keys()[0])


# Process-wide memo of pseudonyms per key: a worker draws from the same experts again and again, and one
# HMAC costs a few microseconds (tens of thousands per freeze). Bounded; emptied when full.
_MEMO: dict[bytes, tuple[dict[int, str], dict[int | None, str]]] = {}
MEMO_MAX = 200_000


class Pseudonyms:
    """Expert and employer pseudonyms under one key: HMAC-SHA-256(key, "e:<id>" or "o:<id>"), hex, first
    ``PSEUDONYM_HEX`` digits. The HMAC's inner and outer states are computed once (RFC 2104 with the
    64-byte block of SHA-256), then copied per identifier."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key if key is not None else pseudonym_key()
        block = (self.key if len(self.key) <= 64 else hashlib.sha256(self.key).digest()).ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        memo = _MEMO.get(self.key)
        if memo is None or len(memo[0]) + len(memo[1]) > MEMO_MAX:
            memo = _MEMO[self.key] = ({}, {})
        self._experts, self._orgs = memo

    def _mac(self, text: str) -> str:
        inner = self._inner.copy()
        inner.update(text.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:PSEUDONYM_HEX]

    def expert(self, expert_id: int) -> str:
        value = self._experts.get(expert_id)
        if value is None:
            value = self._experts[expert_id] = self._mac(f"e:{expert_id}")
        return value

    def org(self, org_id: int | None) -> str:
        oid = -1 if org_id is None else org_id
        value = self._orgs.get(oid)
        if value is None:
            value = self._orgs[oid] = self._mac(f"o:{oid}")
        if org_id is None:  # remembered under None too, so that orgs() finds it by a plain lookup
            self._orgs[None] = value
        return value

    def experts(self, ids: list[int]) -> list[str]:
        """``[self.expert(i) for i in ids]``: the remembered ones looked up in one pass, the rest computed."""
        found = list(map(self._experts.get, ids))
        if None in found:
            found = [name if name is not None else self.expert(i) for i, name in zip(ids, found, strict=True)]
        return found  # type: ignore[return-value]  # no None is left

    def orgs(self, ids: list[int | None]) -> list[str]:
        """``[self.org(i) for i in ids]``, as experts() does it."""
        found = list(map(self._orgs.get, ids))
        if None in found:
            found = [name if name is not None else self.org(i) for i, name in zip(ids, found, strict=True)]
        return found  # type: ignore[return-value]  # no None is left

    def pool(self, pool: dict[str, Any]) -> dict[str, Any]:
        """The frozen pool with every [expert, employer] pair replaced by pseudonyms, order kept."""
        experts, orgs, expert, org = self._experts, self._orgs, self.expert, self.org
        out = dict(pool)
        out["specialties"] = {
            code: [
                [experts[e] if e in experts else expert(e), orgs[o] if o in orgs else org(o)]
                for e, o in items
            ]
            for code, items in pool["specialties"].items()
        }
        return out

    def exclusions(self, rows: Iterable[tuple[int, str]] | list[list[Any]]) -> list[list[str]]:
        """[[pseudonym, "reason,reason"], …] in the frozen order (by expert id)."""
        return [[self.expert(int(e)), str(r)] for e, r in rows]


def public_pool_text(names: Pseudonyms, pool: dict[str, Any]) -> str:
    """``canonical(names.pool(pool))``, written directly: tens of thousands of pairs of hex strings need no
    lists built nor escaping checked, and the pseudonyms of a list are looked up in one pass (the tests pin
    the text and compare it with the general form)."""
    parts = []
    lists = pool["specialties"]
    for code in sorted(lists):
        items = lists[code]
        if items:
            experts, orgs = names.experts([e for e, _o in items]), names.orgs([o for _e, o in items])
            pairs = zip(experts, orgs, strict=True)
            body = '[["' + '"],["'.join(map('","'.join, pairs)) + '"]]'
        else:
            body = "[]"
        parts.append(f"{canonical(code)}:{body}")
    head = canonical({**{k: v for k, v in pool.items() if k != "specialties"}, "specialties": 0})
    return head.replace('"specialties":0', '"specialties":{' + ",".join(parts) + "}", 1)


def public_exclusions_text(names: Pseudonyms, rows: list[tuple[int, str]]) -> str:
    """``canonical(names.exclusions(rows))``, written directly: a pseudonym needs no escaping, and the few
    distinct reason strings are encoded once each."""
    if not rows:
        return "[]"
    reasons = [str(r) for _e, r in rows]
    quoted = {r: canonical(r) for r in set(reasons)}
    pairs = zip(names.experts([int(e) for e, _r in rows]), map(quoted.__getitem__, reasons), strict=True)
    return '[["' + '],["'.join(map('",'.join, pairs)) + "]]"


def public_texts(pool: dict[str, Any], excl_rows: list[tuple[int, str]]) -> tuple[str, str]:
    """The pseudonymous pool and exclusions as frozen (format 2), canonical JSON; ``excl_rows`` sorted."""
    names = Pseudonyms()
    return public_pool_text(names, pool), public_exclusions_text(names, excl_rows)


def matches_frozen(rnd: DrawRound) -> bool:
    """A format 2 round: its public texts are the private ones with each expert and each employer replaced by
    one pseudonym of its own — the same one wherever it occurs, two never sharing one. That is what makes
    the selection over the public pool the selection over the private one (it depends only on positions and
    equalities), whatever key made the pseudonyms (the data key may have been rotated since)."""
    if rnd.public_pool is None:
        return True
    private, public = json.loads(rnd.pool), json.loads(rnd.public_pool)
    if {k: v for k, v in private.items() if k != "specialties"} != {
        k: v for k, v in public.items() if k != "specialties"
    }:
        return False
    experts: dict[Any, Any] = {}
    orgs: dict[Any, Any] = {}

    def same(names: dict[Any, Any], a: Any, b: Any) -> bool:
        return names.setdefault(a, b) == b

    lists_private, lists_public = private["specialties"], public["specialties"]
    if set(lists_private) != set(lists_public):
        return False
    for code, items in lists_private.items():
        if len(items) != len(lists_public[code]):
            return False
        for (e, o), (pe, po) in zip(items, lists_public[code], strict=True):
            if not (same(experts, e, pe) and same(orgs, o, po)):
                return False
    excl_private = json.loads(rnd.exclusions or "[]")
    excl_public = json.loads(rnd.public_exclusions or "[]")
    if len(excl_private) != len(excl_public):
        return False
    for (e, reasons), (pe, public_reasons) in zip(excl_private, excl_public, strict=True):
        if reasons != public_reasons or not same(experts, e, pe):
            return False
    return len(set(experts.values())) == len(experts) and len(set(orgs.values())) == len(orgs)


def digest_input(rnd: DrawRound) -> str:
    """The text the round's pool digest (hence the seed) is over: the pseudonymous pool from format 2 on."""
    return rnd.public_pool if rnd.public_pool is not None else rnd.pool


def exclusions_input(rnd: DrawRound) -> str:
    return rnd.public_exclusions if rnd.public_exclusions is not None else rnd.exclusions


def round_format(rnd: DrawRound) -> int:
    return 2 if rnd.public_pool is not None else 1


# One entry of a public pool as public_pool_text writes it: ["<expert>","<employer>"], always this wide.
_ENTRY = re.compile(r'\["([0-9a-f]{N})","[0-9a-f]{N}"\]'.replace("N", str(PSEUDONYM_HEX)))
_ENTRY_WIDTH = 2 * PSEUDONYM_HEX + 7


def _names_by_position(
    public_text: str, private: dict[str, list[list[int]]], picked: set[int]
) -> dict[int, str] | None:
    """The pseudonyms of the picked experts read off the public pool text at their positions, without
    parsing the megabytes of the rest: every entry public_pool_text writes has the same width. None when
    the text is not laid out so (a list of another length, an entry of another form): parse it then."""
    anchor = public_text.find('"specialties":{')
    if anchor < 0:
        return None
    name_of: dict[int, str] = {}
    for code, items in private.items():
        positions = list(compress(range(len(items)), map(picked.__contains__, map(itemgetter(0), items))))
        if not positions:
            continue
        key = canonical(code) + ":["
        start = public_text.find(key, anchor)
        if start < 0:
            return None
        start += len(key)
        end = start + len(items) * (_ENTRY_WIDTH + 1) - 1  # the entries and the commas between them
        if public_text[end : end + 1] != "]":
            return None  # not as many entries of that width as the frozen list has
        for p in positions:
            at = start + p * (_ENTRY_WIDTH + 1)
            found = _ENTRY.fullmatch(public_text, at, at + _ENTRY_WIDTH)
            if found is None or public_text[at + _ENTRY_WIDTH] not in ",]":
                return None
            name_of[items[p][0]] = found.group(1)
    return name_of


def public_selection(
    rnd: DrawRound,
    result: dict[str, Any],
    private_pool: dict[str, Any] | None = None,
    *,
    by_position: bool = False,
) -> dict[str, Any]:
    """The selection with pseudonyms: read off the public pool position by position (format 2), or
    pseudonymized under the current key (format 1). ``private_pool``: the round's pool, already parsed.
    ``by_position`` (the reveal, on the text this server wrote at the freeze): the picked entries are read
    at their offsets in the text rather than from the parsed whole; verification always parses it."""
    parts = ("seats", "backups", "skipped")
    if rnd.public_pool is not None:
        private = (private_pool or json.loads(rnd.pool))["specialties"]
        picked = {e for picks in result.values() for part in parts for e in picks.get(part, [])}
        found = _names_by_position(rnd.public_pool, private, picked) if by_position else None
        if found is not None:
            name_of = found
        else:
            public = json.loads(rnd.public_pool)["specialties"]
            name_of = {}
            for code, items in private.items():
                names = public[code]
                if len(names) != len(items):
                    raise ValueError(f"the public list of {code} does not line up with the frozen one")
                for position, item in enumerate(items):
                    if item[0] in picked:
                        name_of[item[0]] = str(names[position][0])

        def name(expert_id: int) -> str:
            return name_of[expert_id]
    else:
        name = Pseudonyms().expert
    return {
        code: {part: [name(e) for e in picks.get(part, [])] for part in parts}
        for code, picks in result.items()
    }


def selection_digest(
    rnd: DrawRound,
    result: dict[str, Any],
    private_pool: dict[str, Any] | None = None,
    *,
    by_position: bool = False,
) -> str:
    """What the reveal leaf records: over the public selection from format 2 on (the private one before)."""
    from .draws import sha256_hex

    if rnd.public_pool is not None:
        return sha256_hex(canonical(public_selection(rnd, result, private_pool, by_position=by_position)))
    return sha256_hex(canonical(result))


# --- publication -------------------------------------------------------------------------------------------


def section_status(section_id: int) -> str | None:
    from app.projects.models import Section

    return db.session.scalar(select(Section.status).where(Section.id == section_id))


def is_published(draw: ExpertDraw) -> bool:
    """The panel is revealed once the section's result is determined (or the trade ended without one)."""
    return section_status(draw.section_id) in PUBLISHED_SECTION_STATUSES


def draw_leaf_sealed(leaf: Any) -> bool:
    """Audit sealer: the witness and reveal leaves of a draw round stay "not shown yet" on the audit pages,
    exports and live stream until the draw is published."""
    if leaf.action not in SEALED_ACTIONS:
        return False
    try:
        draw_id = int(json.loads(leaf.payload)["draw_id"])
    except (TypeError, ValueError, KeyError):
        return True
    from app.projects.models import Section

    status = db.session.scalar(
        select(Section.status)
        .join(ExpertDraw, ExpertDraw.section_id == Section.id)
        .where(ExpertDraw.id == draw_id)
    )
    return status not in PUBLISHED_SECTION_STATUSES


def _audit_indexes(round_ids: list[int]) -> dict[int, dict[str, int]]:
    rows = db.session.execute(
        select(AuditLeaf.object_id, AuditLeaf.action, AuditLeaf.idx)
        .where(
            AuditLeaf.object_type == "expert_draw_round", AuditLeaf.object_id.in_([str(i) for i in round_ids])
        )
        .order_by(AuditLeaf.idx)
    ).all()
    out: dict[int, dict[str, int]] = {i: {} for i in round_ids}
    for object_id, action, idx in rows:
        step = action.rsplit(":", 1)[-1]
        out[int(str(object_id))].setdefault(step, int(idx))
    return out


def public_record(draw: ExpertDraw, *, published: bool | None = None) -> dict[str, Any]:
    """The record as served at ``/experts/public/draws/<id>.json``: digests and the commitment until
    publication, every input from then on (docs/verify-a-draw.md)."""
    status = section_status(draw.section_id)
    if published is None:
        published = status in PUBLISHED_SECTION_STATUSES
    indexes = _audit_indexes([r.id for r in draw.rounds])
    rounds = []
    for rnd in draw.rounds:
        step_keys = ("freeze", "commit", "witness", "reveal") if published else ("freeze", "commit")
        entry: dict[str, Any] = {
            "number": rnd.number,
            "format": round_format(rnd),
            "status": rnd.status,
            "algorithm": rnd.algorithm,
            "wanted": rnd.wanted,
            "pool_digest": rnd.pool_digest,
            "exclusions_digest": rnd.exclusions_digest,
            "commitment": rnd.commitment,
            "audit_leaves": {k: v for k, v in indexes[rnd.id].items() if k in step_keys},
        }
        if published and rnd.status == RoundStatus.REVEALED and rnd.result is not None:
            names = Pseudonyms()
            pool = (
                json.loads(digest_input(rnd))
                if rnd.public_pool is not None
                else names.pool(json.loads(rnd.pool))
            )
            exclusions = (
                json.loads(rnd.public_exclusions)
                if rnd.public_exclusions is not None
                else names.exclusions(json.loads(rnd.exclusions or "[]"))
            )
            selection = public_selection(rnd, json.loads(rnd.result))
            from .draws import sha256_hex

            entry.update(
                {
                    "pool": pool,
                    "exclusions": exclusions,
                    "server_random": rnd.server_random,
                    "witness_entropy": rnd.witness_entropy,
                    "seed": rnd.seed,
                    "selection": selection,
                    "selection_digest": sha256_hex(canonical(selection)),
                }
            )
        rounds.append(entry)
    return {
        "record": RECORD_KIND,
        "version": RECORD_VERSION,
        "draw_id": draw.id,
        "section_id": draw.section_id,
        "hash": "sha256",
        "published": bool(published),
        "section_status": status,
        "rounds": rounds,
    }


# Leaves that name a panel member in their payload whoever records them (the tenderer naming its
# representative on the committee, 条例 Art. 46).
PANEL_NAMING_ACTIONS = frozenset({"evaluation:representative:name", "evaluation:representative:withdraw"})


def _leaf_section_id(leaf: Any) -> int | None:
    """The section a leaf concerns: named in its payload, or its object (a section, an evaluation, a draw or
    a draw round); None when it concerns no section."""
    from app.evaluation.models import Evaluation

    from .models import DrawRound

    try:
        payload = json.loads(leaf.payload or "{}")
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    named = payload.get("section_id")
    if named is not None and str(named).isdigit():
        return int(str(named))
    oid = str(leaf.object_id) if leaf.object_id is not None else ""
    if not oid.isdigit():
        oid = str(payload.get("draw_id", ""))
        kind = "expert_draw" if oid.isdigit() else None
    else:
        kind = leaf.object_type
    if kind == "section":
        return int(oid)
    if kind == "evaluation":
        return db.session.scalar(select(Evaluation.section_id).where(Evaluation.id == int(oid)))
    if kind == "expert_draw":
        return db.session.scalar(select(ExpertDraw.section_id).where(ExpertDraw.id == int(oid)))
    if kind == "expert_draw_round":
        return db.session.scalar(
            select(ExpertDraw.section_id)
            .join(DrawRound, DrawRound.draw_id == ExpertDraw.id)
            .where(DrawRound.id == int(oid))
        )
    return None


def panel_leaf_sealed(leaf: Any) -> bool:
    """Audit sealer: whatever a panel member does (an expert answering an invitation, signing in, viewing
    documents, scoring; a tenderer's representative acting on the panel) and every leaf naming a panel
    member stays "not shown yet" — no actor, user id, object or payload — on the audit pages, exports and
    live stream until the section's result is determined, as the draw's own record (the committee is
    confidential until then: 招标投标法 Art. 37). An expert's leaf that concerns no section stays sealed: it
    could still tell who sits on some panel."""
    by_expert = leaf.actor_role == "expert"
    naming = leaf.action in PANEL_NAMING_ACTIONS
    # a tenderer's representative sits on the panel with its own (tenderer) account
    as_member = leaf.action.startswith("evaluation:") and leaf.actor_role == "tenderer" and leaf.actor_id
    if not (by_expert or naming or as_member):
        return False
    section_id = _leaf_section_id(leaf)
    if section_id is None:
        return by_expert or naming
    if section_status(section_id) in PUBLISHED_SECTION_STATUSES:
        return False
    if by_expert or naming:
        return True
    from app.evaluation.models import Evaluation, PanelMember

    member = db.session.scalar(
        select(PanelMember.id)
        .join(Evaluation, Evaluation.id == PanelMember.evaluation_id)
        .where(Evaluation.section_id == section_id, PanelMember.user_id == leaf.actor_id)
        .limit(1)
    )
    return member is not None
