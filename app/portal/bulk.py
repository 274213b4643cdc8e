"""The daily OCDS bulk file: every published section's current release, one per line (JSON Lines, gzip),
with a manifest that gives its SHA-256 and is signed with the platform's Ed25519 key.

* ``flask portal ocds-bulk`` (run daily by cron, after midnight Beijing time) writes
  ``ocds-releases-YYYY-MM-DD.jsonl.gz`` and ``ocds-releases-YYYY-MM-DD.manifest.json`` under
  ``BLOB_DIR/ocds-bulk``; running it again for the same day replaces both (the state of that run).
* Lines are in publication order (the crawl order of the API). The gzip header carries no file name and
  no time, so the same data gives the same bytes and the same SHA-256.
* The manifest's ``signature`` is Ed25519 over the canonical JSON of the manifest without ``signature``
  (keys sorted, no spaces, UTF-8); the key is the platform's log key, published at
  ``/api/v1/audit/keys`` (``key_sha256`` names it). docs/open-data.md shows how to check it.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import current_app, url_for

from app.core import audit
from app.core.calendar import local_date
from app.core.clock import now

from . import ocds, services

FILE_RE = re.compile(r"^ocds-releases-(\d{4}-\d{2}-\d{2})\.(jsonl\.gz|manifest\.json)$")


def bulk_dir() -> Path:
    path = Path(current_app.config["BLOB_DIR"]) / "ocds-bulk"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _names(day: dt.date) -> tuple[str, str]:
    return f"ocds-releases-{day.isoformat()}.jsonl.gz", f"ocds-releases-{day.isoformat()}.manifest.json"


def canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _public_key_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def all_releases() -> list[dict[str, Any]]:
    """Every published section's current release, in publication order."""
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = services.crawl_sections(cursor, limit=services.MAX_PER_PAGE)
        out.extend(ocds.release(section) for _seq, section in page.items)
        cursor = page.next_cursor
        if not page.has_more:
            return out


def write_daily(day: dt.date | None = None) -> dict[str, Any]:
    """Write the bulk file and its signed manifest for ``day`` (default: today in Beijing time)."""
    day = day or local_date(now())
    data_name, manifest_name = _names(day)
    folder = bulk_dir()
    releases = all_releases()
    digest = hashlib.sha256()
    tmp = folder / f".{data_name}.{os.getpid()}.tmp"
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        for rel in releases:
            gz.write(json.dumps(rel, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
    with open(tmp, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    size = tmp.stat().st_size
    os.replace(tmp, folder / data_name)
    public = _public_key_raw(audit.platform_public_key())
    manifest: dict[str, Any] = {
        "format": "ocds-releases-jsonl-gzip/v1",
        "day": day.isoformat(),
        "generated_at": now().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "file": data_name,
        "bytes": size,
        "sha256": digest.hexdigest(),
        "releases": len(releases),
        "ocds_version": ocds.OCDS_VERSION,
        "extensions": ocds.extensions(),
        "publisher": str(current_app.config.get("OCDS_PUBLISHER_NAME") or ""),
        "key_sha256": hashlib.sha256(public).hexdigest(),
    }
    signature = audit._platform_private_key().sign(canonical(manifest))
    manifest["signature"] = {"alg": "Ed25519", "value": base64.b64encode(signature).decode()}
    tmp_manifest = folder / f".{manifest_name}.{os.getpid()}.tmp"
    tmp_manifest.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp_manifest, folder / manifest_name)
    audit.record(
        "portal:ocds:bulk",
        actor=None,
        object_type="ocds_bulk",
        object_id=day.isoformat(),
        payload={"file": data_name, "sha256": manifest["sha256"], "releases": len(releases)},
    )
    return manifest


def verify_manifest(manifest: dict[str, Any], public_key: Ed25519PublicKey) -> bool:
    """Check a manifest's signature (what a downloader does with the key from /api/v1/audit/keys)."""
    body = {k: v for k, v in manifest.items() if k != "signature"}
    try:
        public_key.verify(base64.b64decode(manifest["signature"]["value"]), canonical(body))
    except (InvalidSignature, KeyError, TypeError, ValueError):  # malformed or wrong: does not verify
        return False
    return True


def manifests() -> list[dict[str, Any]]:
    """Every published day's manifest, newest first, with download links."""
    out = []
    for path in sorted(bulk_dir().glob("ocds-releases-*.manifest.json"), reverse=True):
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["url"] = url_for("portal_api.ocds_bulk_file", name=manifest["file"], _external=True)
        manifest["manifest_url"] = url_for("portal_api.ocds_bulk_file", name=path.name, _external=True)
        out.append(manifest)
    return out


def bulk_path(name: str) -> Path | None:
    """The file called ``name`` if it is a bulk file or manifest that exists (no other path is served)."""
    if not FILE_RE.match(name):
        return None
    path = bulk_dir() / name
    return path if path.is_file() else None
