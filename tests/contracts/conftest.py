"""The contracts tests reuse the evaluation world: a section published, bid, opened and evaluated through
the real services (tests/evaluation/conftest.py)."""

from tests.evaluation.conftest import _own_blob_dir  # noqa: F401
from tests.projects.conftest import world  # noqa: F401
