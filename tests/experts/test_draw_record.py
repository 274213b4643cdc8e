"""The public draw record (docs/verify-a-draw.md): commitment and digests only until the section's result is
determined, every input with pseudonyms from then on; the witness and reveal leaves are sealed in the audit
log until then; ``ggzy-audit draw`` recomputes a published draw and fails on any changed byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.core import audit, audit_cli, audit_sealing, draw_verify
from app.core.db import db
from app.core.models import AuditLeaf
from app.experts import draw_record, draws
from app.experts.draws import Slot
from app.experts.models import ExpertDraw
from tests.experts.conftest import World

SECRETS = ("server_random", "witness_entropy", "seed", "pool", "exclusions", "selection", "selection_digest")


def _drawn(world: World, n: int = 10, entropy: str = "dice 3 6 1 4 2 5") -> ExpertDraw:
    world.pool(n)
    world.expert(employer=world.owner)  # excluded: employed by the tenderer
    draw = world.request([Slot("A0101", 5, 2)])
    draws.witness(draw, entropy, actor=world.regulator)
    db.session.commit()
    return draw


def _publish(world: World, status: str = "awarded") -> None:
    world.section.status = status
    if status == "failed":
        world.section.failed_reason = "流标"
    if status == "cancelled":
        world.section.cancel_reason = "终止"
    db.session.commit()


def _round_leaves(draw: ExpertDraw) -> list[AuditLeaf]:
    ids = [str(r.id) for r in draw.rounds]
    return list(
        db.session.scalars(
            select(AuditLeaf).where(
                AuditLeaf.object_type == "expert_draw_round", AuditLeaf.object_id.in_(ids)
            )
        )
    )


def test_before_the_result_the_record_holds_the_commitment_and_digests_only(app: Flask, world: World) -> None:
    draw = _drawn(world)
    rnd = draw.rounds[0]
    client = app.test_client()
    record = client.get(f"/experts/public/draws/{draw.id}.json").get_json()
    assert record["published"] is False
    (entry,) = record["rounds"]
    assert entry["commitment"] == rnd.commitment and entry["pool_digest"] == rnd.pool_digest
    assert not set(SECRETS) & set(entry)
    assert set(entry["audit_leaves"]) == {"freeze", "commit"}
    html = client.get(f"/experts/public/draws/{draw.id}").get_data(as_text=True)
    assert rnd.commitment in html
    for secret in (rnd.seed, rnd.server_random, rnd.witness_entropy, draws.sha256_hex(rnd.result or "")):
        assert secret and secret not in html


def test_the_audit_log_does_not_show_what_decides_the_panel_before_the_result(
    app: Flask, world: World
) -> None:
    draw = _drawn(world)
    rnd = draw.rounds[0]
    by_action = {leaf.action: leaf for leaf in _round_leaves(draw)}
    for action in ("experts:draw:witness", "experts:draw:reveal"):
        view = audit_sealing.view_of(by_action[action])
        assert view.sealed and view.payload is None, action
        assert audit.live_event(by_action[action])["sealed"]
    # the freeze and commit leaves (digests, the commitment) stay readable
    assert not audit_sealing.view_of(by_action["experts:draw:freeze"]).sealed
    assert not audit_sealing.view_of(by_action["experts:draw:commit"]).sealed
    _publish(world)
    view = audit_sealing.view_of(by_action["experts:draw:reveal"])
    assert not view.sealed and rnd.seed in (view.payload or "")


@pytest.mark.parametrize("status", ["awarded", "archived", "failed", "cancelled"])
def test_once_the_result_is_determined_the_record_is_whole_and_verifies(
    app: Flask, world: World, status: str
) -> None:
    draw = _drawn(world)
    _publish(world, status)
    record = app.test_client().get(f"/experts/public/draws/{draw.id}.json").get_json()
    assert record["published"] is True
    (entry,) = record["rounds"]
    assert set(SECRETS) <= set(entry) and entry["format"] == 2
    assert set(entry["audit_leaves"]) == {"freeze", "commit", "witness", "reveal"}
    results = draw_verify.verify_record(record)
    assert all(c.ok for r in results for c in r.checks), [c for r in results for c in r.checks]
    # the public selection is the drawn panel under pseudonyms, in pick order
    names = draw_record.Pseudonyms()
    picked = json.loads(draw.rounds[0].result or "{}")["A0101"]
    assert entry["selection"]["A0101"]["seats"] == [names.expert(e) for e in picked["seats"]]
    # no name, phone or internal id reaches the record
    text = json.dumps(record)
    for seat in draw.seats:
        assert seat.expert.name not in text and seat.expert.phone not in text
        assert f"[{seat.expert_id}," not in text
    # the audit log agrees: the reveal leaf's selection digest is the public one
    reveal = next(leaf for leaf in _round_leaves(draw) if leaf.action == "experts:draw:reveal")
    assert json.loads(reveal.payload)["result_digest"] == entry["selection_digest"]


def test_pseudonyms_are_stable_across_draws_and_not_the_ids(world: World) -> None:
    names = draw_record.Pseudonyms()
    again = draw_record.Pseudonyms()
    assert names.expert(7) == again.expert(7) != names.expert(8)
    assert names.expert(7) != names.org(7)
    assert len(names.expert(7)) == 24 and int(names.expert(7), 16) >= 0
    assert draw_record.Pseudonyms(b"another key").expert(7) != names.expert(7)


def test_the_public_pool_text_is_the_canonical_json_of_the_pseudonymous_pool(world: World) -> None:
    names = draw_record.Pseudonyms(b"test key")
    pool = {
        "draw": 4,
        "round": 2,
        "section": 9,
        "evaluation_date": "2026-03-05",
        "specialties": {"B02": [[5, 1], [9, None]], "A0101": [[3, 1], [7, 2], [12, 8]], "C": []},
    }
    assert draw_record.public_pool_text(names, pool) == draws.canonical(names.pool(pool))


def test_the_reveal_reads_the_picked_pseudonyms_at_their_positions_as_the_parse_does(world: World) -> None:
    from app.experts.models import DrawRound

    draw = _drawn(world, n=14)
    rnd = draw.rounds[0]
    result = json.loads(rnd.result or "{}")
    parsed = draw_record.public_selection(rnd, result)
    assert parsed["A0101"]["seats"] and parsed == draw_record.public_selection(rnd, result, by_position=True)
    private = json.loads(rnd.pool)["specialties"]
    picked = {e for picks in result.values() for part in picks.values() for e in part}
    assert draw_record._names_by_position(rnd.public_pool or "", private, picked) is not None
    # Another layout (spaces, a list of another length): not read by position, parsed instead.
    spaced = DrawRound(pool=rnd.pool, public_pool=json.dumps(json.loads(rnd.public_pool or "{}")))
    assert draw_record._names_by_position(spaced.public_pool or "", private, picked) is None
    assert draw_record.public_selection(spaced, result, by_position=True) == parsed
    short = {code: items[:-1] for code, items in private.items()}
    assert draw_record._names_by_position(rnd.public_pool or "", short, picked) is None


def _record_file(app: Flask, world: World, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    draw = _drawn(world)
    _publish(world)
    raw = app.test_client().get(f"/experts/public/draws/{draw.id}.json").get_data()
    path = tmp_path / "record.json"
    path.write_bytes(raw)
    return path, json.loads(raw)


def test_the_verifier_passes_a_record_file_and_fails_one_changed_byte(
    app: Flask, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, record = _record_file(app, world, tmp_path)
    assert audit_cli.main(["draw", str(path)]) == 0
    out = capsys.readouterr().out
    assert "OK: " in out and "FAIL" not in out
    raw = path.read_bytes()
    entry = record["rounds"][0]
    # one byte of the witness entropy, of an expert pseudonym in the pool, of the server random
    targets = [
        entry["witness_entropy"].encode(),
        entry["pool"]["specialties"]["A0101"][3][0].encode(),
        entry["server_random"].encode(),
    ]
    for target in targets:
        at = raw.index(target)
        changed = bytearray(raw)
        changed[at] = ord("0") if changed[at] != ord("0") else ord("1")
        assert bytes(changed) != raw
        bad = tmp_path / "changed.json"
        bad.write_bytes(bytes(changed))
        assert audit_cli.main(["draw", str(bad)]) == 1, target
        assert "FAIL" in capsys.readouterr().out


def test_the_verifier_says_a_sealed_record_cannot_be_checked_yet(
    app: Flask, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draw = _drawn(world)
    path = tmp_path / "sealed.json"
    path.write_bytes(app.test_client().get(f"/experts/public/draws/{draw.id}.json").get_data())
    assert audit_cli.main(["draw", str(path)]) == 2
    assert "SEALED" in capsys.readouterr().out


def test_the_archive_record_holds_the_pseudonymous_pool(
    app: Flask, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.evaluation.archive import _draw_record

    draw = _drawn(world)
    _publish(world, "archived")
    archived = json.loads(json.dumps(_draw_record(draw.id), default=str))
    entry = archived["public_record"]["rounds"][0]
    assert entry["pool"]["specialties"]["A0101"] and entry["exclusions"]
    path = tmp_path / "draw_record.json"
    path.write_text(json.dumps(archived, ensure_ascii=False, sort_keys=True, indent=1))
    assert audit_cli.main(["draw", str(path)]) == 0


def test_a_format_1_round_still_verifies(app: Flask, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rounds frozen before the public record have digests over the private ids: the regulator's verify
    recomputes them; the public verifier recomputes the commitment, seed and selection and skips them."""
    monkeypatch.setattr(draw_record, "public_texts", lambda pool, rows: (None, None))
    draw = _drawn(world)
    rnd = draw.rounds[0]
    assert rnd.public_pool is None and rnd.pool_digest == draws.sha256_hex(rnd.pool)
    report = draws.verify_draw(draw)
    assert report.ok, [c for r in report.rounds for c in r.checks if not c.ok]
    _publish(world)
    record = draw_record.public_record(draw)
    assert record["rounds"][0]["format"] == 1
    checks = [c for r in draw_verify.verify_record(record) for c in r.checks]
    assert all(c.ok is not False for c in checks)
    assert {c.name for c in checks if c.ok is None} == {"pool digest", "exclusions digest"}
    assert any(c.name == "seed" and c.ok for c in checks)


def test_the_regulator_verify_catches_a_public_pool_that_is_not_the_frozen_one(world: World) -> None:
    from sqlalchemy import update

    from app.experts.models import DrawRound

    draw = _drawn(world)
    rnd = draw.rounds[0]
    public = json.loads(rnd.public_pool or "{}")
    items = public["specialties"]["A0101"]
    items[1][0] = items[0][0]  # two experts under one pseudonym: the public selection could differ
    db.session.execute(
        update(DrawRound).where(DrawRound.id == rnd.id).values(public_pool=draws.canonical(public))
    )
    db.session.expire_all()
    report = draws.verify_draw(db.session.get(ExpertDraw, draw.id))
    failed = {c.name for r in report.rounds for c in r.checks if not c.ok}
    assert "published pool and exclusions are the frozen ones, pseudonymized" in failed


def test_the_worked_example_of_the_documentation(repo_root: Path) -> None:
    """docs/verify-a-draw.md §7: the standalone verifier and the platform's own selection agree with it."""
    doc = (repo_root / "docs" / "verify-a-draw.md").read_text(encoding="utf-8")
    specialties = {"A0101": [["a1", "o1"], ["a2", "o2"], ["a3", "o1"], ["a4", "o3"], ["a5", "o4"]]}
    pool = {"draw": 3, "round": 1, "section": 7, "evaluation_date": "2026-03-05", "specialties": specialties}
    wanted = [{"specialty": "A0101", "seats": 2, "backups": 1}]
    server_random = bytes(range(32))
    pool_digest = draw_verify.sha256_hex(draw_verify.canonical(pool))
    seed = draw_verify.compute_seed(server_random.hex(), "dice 3 6 1 4 2 5", pool_digest, 7)
    assert seed == draws.compute_seed(server_random, "dice 3 6 1 4 2 5", pool_digest, 7)
    selection = draw_verify.select_panel(pool, wanted, seed, "sha256")
    assert selection == draws.select_panel(pool, wanted, seed, hash_name="sha256")
    assert selection == {"A0101": {"seats": ["a3", "a5"], "backups": ["a2"], "skipped": ["a1"]}}
    excl = [["a9", "employer_bidder,on_leave"]]
    for value in (
        draw_verify.canonical(pool).decode(),
        pool_digest,
        draw_verify.sha256_hex(server_random),
        seed,
        draw_verify.canonical(selection).decode(),
        draw_verify.sha256_hex(draw_verify.canonical(selection)),
        draw_verify.sha256_hex(draw_verify.canonical(excl)),
    ):
        assert value in doc, value
