"""A trading catalogue in force at a chosen instant, whatever the weekday, the holidays or the year: for the
demo city, the benchmarks and the tests.

The catalogue goes through the real services (draft → public comment → published). The comment period is
opened on a frozen clock early enough that its civil-law end (which a weekend or a holiday may push back) has
passed by ``at``, and the version is published at ``at``. Nothing here reads the wall clock."""

from __future__ import annotations

import datetime as dt

from app.accounts.models import User
from app.core.calendar import load_calendar, period_end
from app.core.clock import clock

from . import services
from .models import CatalogueVersion


def comment_start_before(at: dt.datetime, days: int) -> dt.datetime:
    """The latest whole-day step back from ``at`` at which a ``days``-day comment period has ended by
    ``at``."""
    calendar = load_calendar()
    start = at - dt.timedelta(days=days + 1)
    while period_end(start, days, unit="calendar", calendar=calendar) > at:
        start -= dt.timedelta(days=1)
    return start


def publish_catalogue_at(
    manager: User, at: dt.datetime, *, title: str = "2026 交易目录", comment_days: int = 1
) -> CatalogueVersion:
    """Create the default catalogue, run its public comment and publish it at ``at`` (audited as usual).
    The clock is left frozen at ``at``, which callers building a world at a fixed instant want."""
    clock.freeze(comment_start_before(at, comment_days))
    version = services.create_catalogue_version(actor=manager, title=title)
    services.open_catalogue_comment(version, actor=manager, days=comment_days)
    clock.freeze(at)
    return services.publish_catalogue_version(version, actor=manager)
