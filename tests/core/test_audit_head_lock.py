"""The audit head is read and locked once per transaction (issue 21): a transaction appending N leaves costs
one ``SELECT … FOR UPDATE``, and the log stays exact across commits and rolled-back savepoints."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.core import audit, merkle
from app.core.db import db
from app.core.models import AuditLeaf


@contextmanager
def head_reads() -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM audit_head" in statement and statement.lstrip().startswith("SELECT"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def record(n: int) -> list[AuditLeaf]:
    return [
        audit.record("test:head:lock", object_type="test", object_id=i, payload={"i": i}) for i in range(n)
    ]


def root_of_stored_leaves(session: Session) -> bytes:
    hashes = list(session.scalars(select(AuditLeaf.leaf_hash).order_by(AuditLeaf.idx)))
    return merkle.root_from_frontier(_frontier(hashes))


def _frontier(hashes: list[bytes]) -> merkle.Frontier:
    frontier: merkle.Frontier = []
    for size, h in enumerate(hashes):
        merkle.append_leaf(frontier, size, h)
    return frontier


def test_many_leaves_one_head_read(db_session: Session) -> None:
    db_session.commit()
    with head_reads() as reads:
        leaves = record(9)
    assert len(reads) == 1
    assert [leaf.idx for leaf in leaves] == list(range(leaves[0].idx, leaves[0].idx + 9))
    db_session.commit()
    with head_reads() as reads:  # a new transaction locks the head again
        record(2)
    assert len(reads) == 1
    db_session.commit()
    assert audit.verify_log().ok
    assert audit.root_hash() == root_of_stored_leaves(db_session)


def test_a_rolled_back_savepoint_forgets_its_leaves(db_session: Session) -> None:
    record(3)
    before = audit.tree_size()
    savepoint = db_session.begin_nested()
    record(4)
    savepoint.rollback()
    with head_reads() as reads:  # the savepoint's leaves (and its lock) are gone: read the head again
        leaves = record(2)
    assert len(reads) == 1
    assert [leaf.idx for leaf in leaves] == [before, before + 1]
    db_session.commit()
    assert audit.tree_size() == before + 2
    assert db_session.scalar(select(func.count()).select_from(AuditLeaf)) == before + 2
    assert audit.verify_log().ok
    assert audit.root_hash() == root_of_stored_leaves(db_session)


def test_a_released_savepoint_keeps_the_head(db_session: Session) -> None:
    record(1)
    with db_session.begin_nested():
        record(2)
    with head_reads() as reads:
        record(2)
    assert reads == []
    db_session.commit()
    assert audit.verify_log().ok


def test_a_rolled_back_transaction_forgets_the_head(db_session: Session) -> None:
    db_session.commit()
    size = audit.tree_size()
    record(5)
    db_session.rollback()
    leaves = record(1)
    assert leaves[0].idx == size
    db_session.commit()
    assert audit.verify_log().ok
