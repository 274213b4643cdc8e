"""The portal serves the verification tools' package itself: a zip of the source that pip builds and installs
(``ggzy-audit``, ``ggzy-bid``) and the procedure they implement, with nothing of the installation's instance
or secrets in it."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

from flask.testing import FlaskClient


def test_the_archive_is_the_package_and_nothing_else(client: FlaskClient) -> None:
    resp = client.get("/portal/tools/ggzy-platform.zip")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    data = resp.get_data()
    assert resp.headers["X-Content-SHA256"] == hashlib.sha256(data).hexdigest()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "ggzy-platform/pyproject.toml" in names
    assert (
        "ggzy-platform/app/core/audit_cli.py" in names and "ggzy-platform/app/bidding/client_cli.py" in names
    )
    top = (
        "ggzy-platform/app/",
        "ggzy-platform/pyproject.toml",
        "ggzy-platform/README.md",
        "ggzy-platform/docs/verify-a-draw.md",
    )
    assert all(n.startswith(top) for n in names)
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".mo", ".db", ".pem", ".key"))]
    assert client.get("/portal/tools/ggzy-platform.zip").get_data() == data  # same bytes every time
    page = client.get("/portal/verify").get_data(as_text=True)
    assert "python3 -m pip install http://localhost/portal/tools/ggzy-platform.zip" in page
    assert hashlib.sha256(data).hexdigest() in page


def test_pip_builds_and_installs_the_archive(client: FlaskClient, tmp_path: Path) -> None:
    archive = tmp_path / "ggzy-platform.zip"
    archive.write_bytes(client.get("/portal/tools/ggzy-platform.zip").get_data())
    target = tmp_path / "site"
    # offline here: no build isolation (setuptools from this environment), no dependencies fetched
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-build-isolation",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(archive),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (target / "app" / "core" / "audit_offline.py").is_file()
    entry_points = next(target.glob("ggzy_platform-*.dist-info")) / "entry_points.txt"
    text = entry_points.read_text()
    assert (
        "ggzy-audit = app.core.audit_offline:main" in text
        and "ggzy-bid = app.bidding.client_cli:main" in text
    )
