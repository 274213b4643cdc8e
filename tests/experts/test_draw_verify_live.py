"""``ggzy-audit draw URL`` against a live gunicorn: a sealed draw cannot be checked yet (and its record holds
no input that decides the panel); once the section is awarded the verifier recomputes the pool digest,
commitment, seed and panel from the fetched record, also as a standalone file run with nothing but the
standard library; a copy of the record with one changed byte fails."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.offline import ggzy_audit
from tests.servers import ROOT, Gunicorn, app_env, run_python, seed

DRAW = r"""
import datetime as dt
from app import create_app
from app.accounts import services as accounts
from app.accounts.models import User
from app.core.clock import now
from app.core.db import db
from app.core.permissions import OrgKind
from app.experts import draws, services, specialties
from app.experts.models import Expert
from app.projects.models import Section

app = create_app()
with app.test_request_context():
    specialties.ensure_loaded()
    section = db.session.get(Section, SECTION_ID)
    region = str(services.setting("EXPERT_LOCAL_REGION"))
    for n in range(1, 11):
        employer = accounts.create_organization(f"employer {n}", OrgKind.EXPERT_EMPLOYER, actor=None)
        expert = Expert(status="active", admitted_at=now() - dt.timedelta(days=400), specialties=[])
        services.apply_data(expert, services.ExpertData(
            name=f"expert {n}", id_number=services.id_number_checksum(f"320602197506150{n:02d}"),
            title="senior engineer", title_level="senior", years_of_practice=12, employer_org_id=employer.id,
            region=region, specialties=["A010101"], phone=f"1380000{n:04d}"))
        db.session.add(expert)
    db.session.flush()
    staff = db.session.query(User).filter_by(username="staff").one()
    regulator = db.session.query(User).filter_by(username="regulator").one()
    draw = draws.request_draw(section, slots=[draws.Slot("A0101", 5, 1)],
                              evaluation_starts_at=now() + dt.timedelta(days=3), panel_size=5, actor=staff)
    draws.witness(draw, "dice 4 2 6 6 1 3", actor=regulator)
    db.session.commit()
    print(draw.id)
"""

AWARD = r"""
from app import create_app
from app.core.db import db
from app.projects.models import Section

app = create_app()
with app.app_context():
    db.session.get(Section, SECTION_ID).status = "awarded"
    db.session.commit()
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("draw-verify")
    env = app_env(tmp)
    info = seed(tmp, env)
    section_id = int(info["section_id"])
    out = run_python(env, DRAW.replace("SECTION_ID", str(section_id)))
    assert out.returncode == 0, out.stderr[-4000:]
    draw_id = int(out.stdout.strip().splitlines()[-1])
    server = Gunicorn(env, "app:create_app()", workers=1, worker_class="gthread")
    try:
        yield {
            "env": env,
            "tmp": tmp,
            "section_id": section_id,
            "url": f"http://127.0.0.1:{server.port}/experts/public/draws/{draw_id}.json",
        }
    finally:
        server.stop()


def _ggzy_audit(live: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return ggzy_audit("draw", *args, env=live["env"])


def test_the_verifier_against_a_live_server(live: dict[str, Any]) -> None:
    # sealed: nothing to recompute, and nothing that decides the panel is served
    with urllib.request.urlopen(live["url"], timeout=30) as resp:  # noqa: S310
        sealed = json.loads(resp.read())
    assert sealed["published"] is False
    assert not {"seed", "server_random", "witness_entropy", "pool", "selection"} & set(sealed["rounds"][0])
    result = _ggzy_audit(live, live["url"])
    assert result.returncode == 2 and "SEALED" in result.stdout, result.stdout + result.stderr

    out = run_python(live["env"], AWARD.replace("SECTION_ID", str(live["section_id"])))
    assert out.returncode == 0, out.stderr[-4000:]

    # the HTML page's address works too (".json" is appended)
    result = _ggzy_audit(live, live["url"].removesuffix(".json"))
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("pool digest", "commitment", "seed", "selection (RFC 3797)"):
        assert f"OK   {name}" in result.stdout, name

    # the verifier as a standalone file: isolated mode, the standard library only
    standalone = live["tmp"] / "standalone" / "draw_verify.py"
    standalone.parent.mkdir(exist_ok=True)
    shutil.copy(ROOT / "app" / "core" / "draw_verify.py", standalone)
    result = subprocess.run(
        [sys.executable, "-I", str(standalone), live["url"]],
        cwd=standalone.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    # one changed byte in a saved copy of the record: the seed no longer matches
    with urllib.request.urlopen(live["url"], timeout=30) as resp:  # noqa: S310
        raw = resp.read()
    record = json.loads(raw)
    at = raw.index(record["rounds"][0]["witness_entropy"].encode()) + 5
    changed = bytearray(raw)
    changed[at] = ord("9") if changed[at] != ord("9") else ord("8")
    bad: Path = live["tmp"] / "changed.json"
    bad.write_bytes(bytes(changed))
    result = _ggzy_audit(live, str(bad))
    assert result.returncode == 1 and "FAIL seed" in result.stdout, result.stdout + result.stderr
