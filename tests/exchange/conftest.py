"""The exchange tests reuse the portal's world: a catalogue, projects, and sections published through the
real publication path (audit leaves included)."""

from tests.portal.conftest import _fresh_page_cache, portal  # noqa: F401
