"""The verification tools as a pip-installable archive, served by the platform itself.

``ggzy-audit`` (proofs, checkpoints, draws, witness) and ``ggzy-bid`` (sealing, receipts) are the entry
points of this project's package. Nobody should have to trust a third-party index to check this platform,
so the portal serves the package's source (``pyproject.toml``, ``README.md``, the ``app`` package and the
procedures the tools implement, ``docs/verify-a-draw.md``; nothing else: no instance folder, no secrets, no
compiled files) as one zip that
``python3 -m pip install URL`` builds and installs. The archive is made once per process from the files
the server runs, and its SHA-256 is shown next to the link.
"""

from __future__ import annotations

import functools
import hashlib
import io
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {"__pycache__"}
SKIP_SUFFIXES = {".pyc", ".mo"}
FIXED_TIME = (2026, 1, 1, 0, 0, 0)  # members carry one fixed time: the same source gives the same bytes
DOCS = ("docs/verify-a-draw.md",)  # what the verifiers implement, byte by byte, next to their code


def available() -> bool:
    return all((ROOT / name).is_file() for name in ("pyproject.toml", "README.md", "app/__init__.py"))


def _members() -> list[Path]:
    files = [ROOT / "pyproject.toml", ROOT / "README.md"]
    files += [ROOT / name for name in DOCS if (ROOT / name).is_file()]
    for path in sorted((ROOT / "app").rglob("*")):
        if path.is_file() and not (SKIP_DIRS & set(path.parts)) and path.suffix not in SKIP_SUFFIXES:
            files.append(path)
    return files


@functools.lru_cache(maxsize=1)
def archive() -> tuple[bytes, str]:
    """(zip bytes, SHA-256 hex) of the installable source."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in _members():
            name = "ggzy-platform/" + path.relative_to(ROOT).as_posix()
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    data = buf.getvalue()
    return data, hashlib.sha256(data).hexdigest()
