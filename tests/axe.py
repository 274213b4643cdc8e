"""axe-core, the accessibility rules engine, in a Playwright page: the npm package locked in ``tests/js``
(``make test`` runs ``npm ci`` there, see scripts/test-system-deps.sh), injected as a script tag. The pages'
Content-Security-Policy forbids inline scripts, so a browser context that runs it is made with
``bypass_csp=True``. Only serious and critical violations fail a test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

AXE = Path(__file__).resolve().parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
IMPACTS = ("serious", "critical")
RUN = """async (impacts) => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.filter(v => impacts.includes(v.impact)).map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => n.target.join(' ') + ' — '
      + (n.failureSummary || '').replace(/\\s+/g, ' ').slice(0, 160)),
  }));
}"""


def require_axe() -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} missing: run `make test` (it runs `npm ci` in tests/js)", pytrace=False)


def violations(page: Any) -> list[str]:
    """The serious and critical axe-core violations of the page: rule, what it asks, the elements."""
    page.add_script_tag(path=str(AXE))
    out = []
    for v in page.evaluate(RUN, list(IMPACTS)):
        out.append(f"{v['id']} ({v['impact']}): {v['help']}")
        out += [f"    {node}" for node in v["nodes"][:8]]
        if len(v["nodes"]) > 8:
            out.append(f"    … and {len(v['nodes']) - 8} more")
    return out
