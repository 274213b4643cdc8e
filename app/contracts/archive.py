"""The contract and the cases in a section's archive, and the archive's listing (电子招标投标办法 Art. 51).

:func:`bundle_files` gives the members the contracts domain adds to the signed archive bundle
(app/evaluation/archive.py): ``contract/contract.json`` with the signed PDF and every amendment, and
``cases.json`` with the objections, complaints and reports filed on the section. :func:`listing` reads a
stored bundle's signed manifest back: every part with its SHA-256, the retention-until date and whether
each required part is there (documents, envelopes, opening record, evaluation, draw, cases, contract).
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app.core import storage
from app.core.db import db
from app.projects.models import Section

from .services import contract_for

#: (part code, member prefix or name) the archive must hold; cases.json is always written (maybe empty).
REQUIRED_PARTS: tuple[tuple[str, str], ...] = (
    ("documents", "documents/"),
    ("envelopes", "envelopes.json"),
    ("opening_record", "opening_record.json"),
    ("evaluation", "evaluation/report.html"),
    ("draw", "draw_record.json"),
    ("cases", "cases.json"),
    ("contract", "contract/contract.json"),
)


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=1, default=str).encode()


def bundle_files(section: Section) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    contract = contract_for(section)
    if contract is not None:
        pdf = f"contract/{contract.id}-{contract.filename}"
        files[pdf] = b"".join(storage.iter_blob(contract.blob_path))
        amendments = []
        for a in contract.amendments:
            name = f"contract/amendment-{a.number}-{a.filename}"
            files[name] = b"".join(storage.iter_blob(a.blob_path))
            amendments.append(
                {
                    "number": a.number,
                    "file": name,
                    "sha256": a.sha256,
                    "summary": a.summary,
                    "amount_after": str(a.amount_after),
                    "signed_at": a.signed_at,
                }
            )
        files["contract/contract.json"] = _json(
            {
                "title": contract.title,
                "supplier_org_id": contract.supplier_org_id,
                "supplier_name": contract.supplier_name,
                "amount": str(contract.amount),
                "signed_at": contract.signed_at,
                "file": pdf,
                "sha256": contract.sha256,
                "status": contract.status,
                "publish_due_at": contract.publish_due_at,
                "published_at": contract.published_at,
                "amendments": amendments,
            }
        )
    files["cases.json"] = _json(_cases(section))
    return files


def _cases(section: Section) -> list[dict[str, Any]]:
    from app.complaints.models import Case

    rows = db.session.scalars(select(Case).where(Case.section_id == section.id).order_by(Case.id)).all()
    return [
        {
            "number": c.number,
            "kind": c.kind,
            "matter": c.matter,
            "status": c.status,
            "subject": c.subject,
            "decided_at": c.decided_at,
            "closed_at": c.closed_at,
        }
        for c in rows
    ]


@dataclass
class Listing:
    archived: bool
    archive_sha256: str | None = None
    archived_at: dt.datetime | None = None
    retain_until: dt.datetime | None = None
    basis: str | None = None
    disposed_at: dt.datetime | None = None
    files: list[tuple[str, str]] = field(default_factory=list)  # (member, SHA-256)
    parts: list[tuple[str, bool]] = field(default_factory=list)  # (part code, present)

    @property
    def complete(self) -> bool:
        return self.archived and all(ok for _code, ok in self.parts)


def listing(section: Section) -> Listing:
    """What the section's archive holds, from its signed manifest (empty before archiving)."""
    from app.evaluation.services import evaluation_for

    ev = evaluation_for(section)
    if ev is None or ev.archive_sha256 is None:
        return Listing(archived=False)
    out = Listing(
        archived=True,
        archive_sha256=ev.archive_sha256,
        archived_at=ev.archived_at,
        retain_until=ev.retain_until,
        basis=ev.retention_basis,
        disposed_at=ev.disposed_at,
    )
    if ev.archive_path is None:  # disposed of after its retention
        return out
    with storage.open_blob(ev.archive_path) as fh, zipfile.ZipFile(fh) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    files: dict[str, str] = manifest.get("files", {})
    out.files = sorted(files.items())
    out.parts = [
        (code, any(name == member or (member.endswith("/") and name.startswith(member)) for name in files))
        for code, member in REQUIRED_PARTS
    ]
    return out
