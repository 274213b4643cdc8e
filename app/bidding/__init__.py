"""The bidding domain: sealed envelopes, keys, the opening ceremony (SPEC §3).

Rooms: ``agefile`` (strict age header check), ``keys`` (opening identity, SLIP-39 split/rebuild),
``agedecrypt`` (fast streaming age decryption for the opening), ``atrest`` (opened documents encrypted under
the platform data key), ``signing`` (what bidders and the platform sign), ``storage`` (crash-safe files,
``flask bidding cleanup|check``), ``services`` (key registries, the publish hook), ``uploads`` (streaming and
resumable uploads, receipts), ``opening`` (the ceremony and its record), ``api``/``views`` (HTTP),
``client_cli`` (the ``ggzy-bid`` bidder tool), ``security`` (the bid security ledger).

Trust boundary: the server holds a section's opening identity only for the instant of generation (at
publication) and again, rebuilt in memory from k custodian shares, during the opening. Before the deadline no
share can be submitted; submitted shares are kept encrypted under the platform data key only until the
ceremony ends and are then erased. Bids are sealed on the bidder's machine: plaintext never reaches the
server before the opening.

Upload protocol (``/api/v1/bidding``): ``PUT sections/<id>/envelopes?kind=summary|document&name=…`` with the
raw age file as the body, or ``POST sections/<id>/uploads`` → ``PATCH uploads/<uid>`` (``Upload-Offset``,
``Upload-Checksum: sha256 <b64>``) → ``POST uploads/<uid>/finalize``. Headers: ``Idempotency-Key``,
``X-Bid-Key-Id``, ``X-Bid-Signature``, optional ``X-Content-SHA256`` and ``X-Client-Fingerprint``.
Browser-side sealing (the age-encryption npm library) is a later step: it would produce the same binary age
file and use the same endpoints (see the seam in ``templates/bidding/section.html``).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this domain's blueprints, API and CLI, and the opening-key publish hook."""
    from app.projects import services as projects

    from . import api, cli, printing, security, validity, views
    from .services import generate_section_key

    app.config.setdefault("BIDDING_REQUIRE_SIGNATURE", True)
    app.register_blueprint(views.bp)
    printing.register()
    api.init_app(app)
    security.init_app(app)
    validity.init_app(app)
    app.cli.add_command(cli.group)
    if generate_section_key not in projects.PUBLISH_HOOKS:
        projects.PUBLISH_HOOKS.append(generate_section_key)
    from app.projects import demo as projects_demo

    from .demo import prepare_demo_keys

    if prepare_demo_keys not in projects_demo.BEFORE_PUBLISH:
        projects_demo.BEFORE_PUBLISH.append(prepare_demo_keys)
