"""The system tools the suite drives for real: Debian's Chromium (browser journeys), the reference
``age`` tool (interoperability of the sealed format). ``make test`` installs them
(``scripts/test-system-deps.sh``), so a missing one is a set-up failure that says how to fix it, never a
silent skip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def sign_in(
    page: Any, base_url: str, username: str, password: str, *, totp_secret: bytes | None = None
) -> None:
    """Sign in through the pages in a Playwright page: password, then — for accounts with a second factor —
    the authenticator's current code (real time, as an authenticator app knows it)."""
    import datetime as dt

    from app.accounts import totp

    page.goto(f"{base_url}/auth/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login-submit")
    if totp_secret is not None:
        page.wait_for_url("**/auth/mfa**")
        page.fill("input[name=code]", totp.code_at(totp_secret, dt.datetime.now(dt.UTC)))
        page.click("#mfa-submit")
    page.wait_for_url("**/workbench")
