"""Run ``ggzy-audit`` as an outsider would: a fresh interpreter that may import only the standard library,
``cryptography`` and this package's offline modules (any other import fails), so a test proves the verifier
needs neither Flask nor a database driver."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_RUNNER = """
import sys
ALLOWED = set(sys.stdlib_module_names) | {"cryptography", "cffi", "_cffi_backend", "app"}
class OnlyStandardAndCryptography:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in ALLOWED:
            raise ImportError("the offline verifier imported " + name)
        return None
sys.meta_path.insert(0, OnlyStandardAndCryptography())
from app.core.audit_offline import main
status = main(ARGS)
loaded = {m.split(".")[0] for m in sys.modules} - ALLOWED
assert not {m for m in loaded if not m.startswith("_")}, loaded
sys.exit(status)
"""


def ggzy_audit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    code = _RUNNER.replace("ARGS", json.dumps(list(args)))
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
