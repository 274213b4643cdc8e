"""Sealed audit entries hide who acted (bid submissions before the opening) but stay verifiable."""

from __future__ import annotations

from app.core import audit, audit_sealing
from tests.factories import login, make_user


def test_sealed_leaf_hides_actor_on_the_audit_page(client, db_session):
    bidder = make_user("tenderer", username="sealed-actor")  # bidders' own leaves are always sealed
    audit.record("test:envelope:submit", actor=bidder, object_type="envelope", object_id=77, payload={"x": 1})
    visible = audit.record("test:other:thing", actor=bidder, object_type="thing", object_id=78)

    def sealer(leaf):
        return leaf.action == "test:envelope:submit"

    audit_sealing.register(sealer)
    try:
        regulator = make_user("regulator")
        login(client, regulator)
        html = client.get("/audit/").get_data(as_text=True)
    finally:
        audit_sealing.SEALERS.remove(sealer)
    sealed_row = next(line for line in html.split("<tr>") if "test:envelope:submit" in line)
    open_row = next(line for line in html.split("<tr>") if "test:other:thing" in line)
    actor_cell = sealed_row.split("</td>")[3]  # index, time, action, actor
    assert str(bidder.id) not in actor_cell and bidder.display_name not in sealed_row
    assert "77" not in sealed_row
    assert "78" in open_row and bidder.display_name in open_row  # a person's name, not an account id
    view = audit_sealing.view_of(visible)
    assert view.actor_id == bidder.id and not view.sealed
