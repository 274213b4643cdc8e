"""API fuzzing: schemathesis generates requests from our OpenAPI document (``/api/v1/openapi.json``) and
sends them to the app in process, as every role (an API token each) and anonymous. Every answer must be
below 500, use a status the document declares, and match the documented body schema, errors included
(``{"code", "status", "message", "errors"}``). 401/403/404/409/422 are fine — step-up steps want
``X-TOTP-Code`` — only 5xx and schema violations fail. Valid requests name a published section with one
received envelope (so the handlers behind the 404s run); invalid requests take any id.

Bounded for CI: a few derandomized examples per operation and mode, no example database, no shrinking."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask, g
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.accounts.models import User
from app.accounts.services import create_api_token
from app.core.db import db
from app.core.permissions import Role
from tests.bidding.conftest import Tender, publish_tender, upload
from tests.factories import make_user
from tests.projects.conftest import World
from tests.projects.conftest import world as world

EXAMPLES_PER_OPERATION = 5
CHECKS = {
    # Valid requests: the answer is a declared status with the declared body.
    GenerationMode.POSITIVE: [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ],
    # Invalid requests: refused without a crash, in the one error shape.
    GenerationMode.NEGATIVE: [not_a_server_error, response_schema_conformance],
}
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def fuzz_every_operation(app: Flask, headers: dict[str, str], ids: dict[str, Any] | None = None) -> list[str]:
    """Run the checks over every documented operation in both modes; answer one line per failure.
    Valid requests name the objects in ``ids`` (path parameters of that name), so the handlers get past
    their 404s; invalid requests take any id, which also sends ids that exist nowhere (or overflow)."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        pinned = {name: value for name, value in (ids or {}).items() if f"{{{name}}}" in operation.path}
        for mode in CHECKS:
            try:
                fuzz(operation, mode, headers, pinned if mode is GenerationMode.POSITIVE else {})
            except Unsatisfiable:
                if mode is GenerationMode.POSITIVE:
                    raise
                # nothing of this operation can be made invalid (no parameters, only free strings)
            except BaseException as exc:  # a FailureGroup too: collect every operation's, report together
                if isinstance(exc, KeyboardInterrupt):
                    raise
                failures.append(f"{operation.label} [{mode}]: {str(exc)[:1500]}")
    return failures


def fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str], pinned: dict[str, Any]) -> None:
    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(mode, path_parameters=pinned))
    def run(case: Any) -> None:
        # What the previous request left (the loaded user) must not leak into this one; see
        # tests.conftest.IsolatedClient for why the test's app context is shared.
        db.session.commit()
        g.__dict__.clear()
        case.call_and_validate(headers=headers, checks=CHECKS[mode])

    run()


def bearer(user: User) -> dict[str, str]:
    token = create_api_token(user, "fuzz").raw
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def own_blob_dir(app: Flask, tmp_path: Any) -> Any:
    """Stored files do not roll back with the test transaction."""
    previous = app.config["BLOB_DIR"]
    app.config["BLOB_DIR"] = str(tmp_path / "blobs")
    yield
    app.config["BLOB_DIR"] = previous


def _party(world: World, tender: Tender, role: Role) -> User:
    """The user of each role who has a stake in the tender (custodian, bidder, ...)."""
    return {
        Role.BIDDER: tender.bidders[0].user,
        Role.TENDERER: world.agent,
        Role.CENTER_STAFF: world.staff,
        Role.REGULATOR: world.regulator,
        Role.MANAGER: world.manager,
    }.get(role) or make_user(role)


@pytest.mark.parametrize("role", [None, *Role], ids=lambda r: r or "anonymous")
def test_api_answers_within_its_document(
    app: Flask, db_session: Any, world: World, own_blob_dir: Any, role: Role | None
) -> None:
    with app.test_request_context():
        tender = publish_tender(world, bidders=1)
    bidder = tender.bidders[0]
    received = upload(app.test_client(), tender, bidder, tender.summary())
    assert received.status_code == 201, received.json
    ids = {
        "section_id": tender.section.id,
        "project_id": world.project.id,
        "envelope_id": received.json["receipt"]["envelope_id"],
    }
    headers = bearer(_party(world, tender, role)) if role is not None else {}
    failures = fuzz_every_operation(app, headers, ids)
    assert not failures, "\n\n".join(failures)


def test_fuzzing_reaches_every_operation(app: Flask) -> None:
    """The document lists every API route, so the fuzzing above covers the whole API."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    documented = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    routed = {
        (method, rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}"))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "api-docs.openapi_json"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert routed == documented
