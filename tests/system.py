"""The system tools the suite drives for real: Debian's Chromium (browser journeys), the reference
``age`` tool (interoperability of the sealed format). ``make test`` installs them
(``scripts/test-system-deps.sh``), so a missing one is a set-up failure that says how to fix it, never a
silent skip."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
AGE = Path("/usr/bin/age")


def require(*tools: Path) -> None:
    missing = [str(tool) for tool in tools if not tool.exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: run `make test` (it installs them) or "
            "`bash scripts/test-system-deps.sh`",
            pytrace=False,
        )
