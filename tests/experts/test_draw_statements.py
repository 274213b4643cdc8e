"""What a draw costs in statements (issue 21): a fixed number, whatever the size of the panel or the number
of audit leaves it writes. Statement counts, never timings: the audit head is read and locked once per
transaction, the invitations go out in one conditional update and their messages in one insert."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event

from app.core.db import db
from app.experts import draws
from app.experts.draws import Slot
from app.experts.enums import SeatStatus
from tests.experts.conftest import EVAL, World, make_section

WITNESS = "dice 3 6 1 4 2 5"
NINE = [Slot("A0101", 5, 2), Slot("A0201", 2, 1), Slot("A0601", 2, 1)]


@contextmanager
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(" ".join(statement.split())[:60])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def kind(statement: str) -> str:
    """The statement's verb and table (``UPDATE audit_head``), enough to tell them apart."""
    words = statement.split()
    if words[0] == "SELECT" and " FROM " in f" {statement} ":
        return "SELECT " + statement.split(" FROM ", 1)[1].split()[0]
    if words[0] == "INSERT":
        return "INSERT " + words[2]
    if words[0] in {"SAVEPOINT", "RELEASE", "ROLLBACK"}:
        return words[0]  # not the savepoint's name: it counts up
    return " ".join(words[:2])


def draw_statements(run: Callable[[], object]) -> Counter[str]:
    with statements() as seen:
        run()
        db.session.flush()
    return Counter(kind(s) for s in seen)


def test_a_draw_costs_the_same_statements_whatever_the_panel(world: World) -> None:
    world.pool(12)
    world.pool(5, codes=("A020101",))
    world.pool(5, codes=("A0601",))
    second = make_section(
        world.staff, owner=world.owner, agency=world.agency, regulator_org=world.regulator_org
    )
    db.session.flush()

    def five() -> None:
        draw = world.request([Slot("A0101", 5, 2)])
        draws.witness(draw, WITNESS, actor=world.regulator)

    def nine() -> None:
        draw = draws.request_draw(
            second, slots=NINE, evaluation_starts_at=EVAL, panel_size=9, actor=world.staff
        )
        draws.witness(draw, WITNESS, actor=world.regulator)
        assert sum(1 for s in draw.seats if s.status == SeatStatus.INVITED) == 9

    small, large = draw_statements(five), draw_statements(nine)
    # Perfect subtrees completed by the leaves depend on where in the log they fall, not on the draw.
    for counts in (small, large):
        assert counts.pop("INSERT audit_node", 0) <= counts["INSERT audit_leaf"]
    if db.engine.dialect.name == "sqlite":
        # SQLite cannot return the ids of a multi-row insert in order, so the ORM inserts new rows (seats,
        # messages) one by one there; PostgreSQL sends each table's new rows in one statement.
        assert set(small) == set(large)
        small = Counter({k: v for k, v in small.items() if not k.startswith("INSERT")})
        large = Counter({k: v for k, v in large.items() if not k.startswith("INSERT")})
    else:
        assert large["INSERT outbox_message"] == large["INSERT expert_panel_seat"] == 1
    assert small == large
    for counts in (small, large):
        # six leaves, one read and lock of the head (none when the test's transaction already holds it)
        assert counts["SELECT audit_head"] <= 1
        assert counts["UPDATE expert_panel_seat"] == 1  # every invitation in one conditional update
