"""The specialty classification (评标专家专业分类标准, 发改法规〔2018〕316号) and its loader.

The shipped file ``data/specialties.csv`` is a representative subset. The loader accepts the full national
list in the same shape: a CSV (UTF-8, optional BOM) or XLSX with a code column and a name column, headed
``code,name`` or ``专业代码,专业名称`` (an optional ``level``/``层级`` and ``parent``/``上级代码`` column is
checked when present). Codes are hierarchical: one letter (A 工程 / B 货物 / C 服务), then two digits per
level (A01, A0101, A010101); level and parent follow from the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import select

from app.core import audit, spreadsheets
from app.core.audit import Actor
from app.core.db import db
from app.core.errors import DomainError

from .models import Specialty

DEFAULT_FILE = Path(__file__).resolve().parent / "data" / "specialties.csv"
# The national classification has a few thousand codes; far more is not a classification.
LIMITS = spreadsheets.TableLimits(max_bytes=16 << 20, max_rows=200_000, max_columns=20, max_cell_chars=500)
CODE_RE = re.compile(r"^[ABC](\d{2}){0,3}$")
_HEADERS = {
    "code": {"code", "专业代码", "代码", "编码"},
    "name": {"name", "专业名称", "名称"},
    "level": {"level", "层级", "级别"},
    "parent": {"parent", "上级代码", "父级代码"},
}


@dataclass(frozen=True)
class SpecialtyRow:
    code: str
    name: str

    @property
    def level(self) -> int:
        return 1 + (len(self.code) - 1) // 2

    @property
    def parent(self) -> str | None:
        return self.code[:-2] if len(self.code) > 1 else None


def _rows_from_table(table: list[list[str]]) -> list[SpecialtyRow]:
    if not table:
        raise DomainError(_("The specialty file is empty."))
    header = [h.strip().lstrip("\ufeff").lower() for h in table[0]]
    cols: dict[str, int] = {}
    for key, names in _HEADERS.items():
        for i, h in enumerate(header):
            if h in names:
                cols[key] = i
    if "code" not in cols or "name" not in cols:
        raise DomainError(_("The specialty file needs a code column and a name column."))
    rows: list[SpecialtyRow] = []
    problems: list[str] = []
    seen: set[str] = set()
    for line, raw in enumerate(table[1:], start=2):
        if not any(c.strip() for c in raw):
            continue
        cell = (raw + [""] * len(header))[: len(header)]
        row = SpecialtyRow(cell[cols["code"]].strip().upper(), cell[cols["name"]].strip())
        if not CODE_RE.match(row.code) or not row.name:
            problems.append(f"{line}: {row.code!r}")
            continue
        if "level" in cols and cell[cols["level"]].strip() and int(cell[cols["level"]]) != row.level:
            problems.append(f"{line}: {row.code!r} level")
            continue
        if "parent" in cols and (cell[cols["parent"]].strip().upper() or None) != row.parent:
            problems.append(f"{line}: {row.code!r} parent")
            continue
        if row.code in seen:
            problems.append(f"{line}: {row.code!r} duplicate")
            continue
        seen.add(row.code)
        rows.append(row)
    for row in rows:
        if row.parent is not None and row.parent not in seen:
            problems.append(f"{row.code!r}: parent {row.parent!r} missing")
    if problems:
        raise DomainError(
            _("The specialty file has %(n)d problem(s).", n=len(problems)), errors={"file": problems[:50]}
        )
    return rows


def read_file(path: Path | str) -> list[SpecialtyRow]:
    """The classification file, read within :data:`LIMITS` like every uploaded sheet."""
    path = Path(path)
    if path.stat().st_size > LIMITS.max_bytes:
        raise DomainError(_("The file is larger than %(kib)d KiB.", kib=LIMITS.max_bytes >> 10))
    return _rows_from_table(list(spreadsheets.read_rows(path.name, path.read_bytes(), LIMITS)))


def load(rows: list[SpecialtyRow], *, actor: Actor | None) -> dict[str, int]:
    """Insert new codes and rename changed ones; codes missing from the file are deactivated, never
    deleted (experts and past draws refer to them)."""
    existing = {s.code: s for s in db.session.scalars(select(Specialty))}
    added = renamed = 0
    for row in sorted(rows, key=lambda r: (r.level, r.code)):  # parents before children
        spec = existing.get(row.code)
        if spec is None:
            db.session.add(
                Specialty(
                    code=row.code,
                    name=row.name,
                    category=row.code[0],
                    level=row.level,
                    parent_code=row.parent,
                )
            )
            db.session.flush()  # children reference this row by foreign key
            added += 1
        elif spec.name != row.name or not spec.is_active:
            spec.name, spec.is_active = row.name, True
            renamed += 1
    codes = {r.code for r in rows}
    deactivated = 0
    for code, spec in existing.items():
        if code not in codes and spec.is_active:
            spec.is_active = False
            deactivated += 1
    counts = {"added": added, "updated": renamed, "deactivated": deactivated, "total": len(rows)}
    audit.record("experts:specialties:load", actor=actor, object_type="specialty", payload=counts)
    return counts


def ensure_loaded() -> None:
    """Load the shipped subset when the table is empty (demo seed, tests)."""
    if db.session.scalar(select(Specialty.code).limit(1)) is None:
        load(read_file(DEFAULT_FILE), actor=None)


def options(*, leaf_only: bool = False) -> list[Specialty]:
    specs = list(db.session.scalars(select(Specialty).where(Specialty.is_active).order_by(Specialty.code)))
    if leaf_only:
        parents = {s.parent_code for s in specs}
        specs = [s for s in specs if s.code not in parents]
    return specs


@dataclass
class SpecialtyNode:
    """A specialty in the draw form's tree, with how many pool experts a slot for it could draw from (an
    expert counts under a code and every code above it, as the draw matches by prefix)."""

    code: str
    name: str
    available: int
    children: list[SpecialtyNode] = field(default_factory=list)


def available_tree() -> list[SpecialtyNode]:
    """The active specialties that have at least one active pool expert, as a tree (roots first)."""
    from .enums import ExpertStatus
    from .models import Expert, ExpertSpecialty

    pairs = db.session.execute(
        select(ExpertSpecialty.specialty_code, ExpertSpecialty.expert_id)
        .join(Expert, Expert.id == ExpertSpecialty.expert_id)
        .where(Expert.status == ExpertStatus.ACTIVE.value)
    ).all()
    specs = options()
    experts_under: dict[str, set[int]] = {s.code: set() for s in specs}
    for code, expert_id in pairs:
        for end in range(1, len(code) + 1):  # the code and each code above it
            if code[:end] in experts_under:
                experts_under[code[:end]].add(expert_id)
    nodes = {
        s.code: SpecialtyNode(s.code, s.name, len(experts_under[s.code]))
        for s in specs
        if experts_under[s.code]
    }
    roots: list[SpecialtyNode] = []
    for s in specs:
        node = nodes.get(s.code)
        if node is None:
            continue
        parent = nodes.get(s.parent_code or "")
        (parent.children if parent is not None else roots).append(node)
    return roots
