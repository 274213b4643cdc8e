"""Kernel command-line tools: audit log, outbox delivery, data key rotation."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

outbox_group = AppGroup("outbox", help="Notification outbox.")


@outbox_group.command("deliver")
@click.option("--limit", default=100, show_default=True)
def deliver(limit: int) -> None:
    """Send pending notifications (run from cron, e.g. every minute)."""
    from app.core.outbox import deliver_pending

    click.echo(f"sent {deliver_pending(limit)}")


keys_group = AppGroup("keys", help="Platform keys.")


@keys_group.command("rotate-data")
@click.option("--documents", is_flag=True, help="Also rewrite the decrypted bid documents at rest.")
@click.option("--batch", default=500, show_default=True, help="Rows per transaction.")
def rotate_data(documents: bool, batch: int) -> None:
    """Re-encrypt everything under DATA_KEY that a retired key (DATA_KEYS_RETIRED) still protects.

    Idempotent: values already under the current key are left alone. Only the bidder commitments in
    audit leaves written before the rotation still need the retired keys (docs/operations.md)."""
    # Every use of the data key, in one list; the domains own their columns.
    from app.accounts import services as accounts
    from app.bidding import opening
    from app.core import audit, crypto, idempotency
    from app.core.db import db
    from app.exchange import webhooks
    from app.experts import draws
    from app.experts import services as experts
    from app.experts.models import DrawRound

    try:
        counts = {"totp_secrets": accounts.reencrypt_totp_secrets(batch=batch)}
        counts["expert_id_numbers"], counts["expert_id_hashes"] = experts.rotate_identities(batch=batch)
        counts["draw_randomness"] = crypto.reencrypt_column(
            DrawRound.server_random_enc, draws.RANDOM_PURPOSE, batch=batch
        )
        counts["opening_shares"] = opening.reencrypt_shares(batch=batch)
        counts["webhook_secrets"] = webhooks.reencrypt_secrets(batch=batch)
        counts["idempotent_answers"] = idempotency.reencrypt_responses(batch=batch)
    except crypto.DataKeyError as err:  # batches done so far are committed; a rerun continues
        raise click.ClickException(str(err)) from err
    unreadable: list[str] = []
    if documents:
        counts["documents"], unreadable = opening.reencrypt_documents(batch=batch)
        counts["documents_unreadable"] = len(unreadable)
    fingerprint = crypto.data_key_fingerprint()
    audit.record(
        "core:data_key:rotate",
        object_type="data_key",
        object_id=fingerprint,
        payload={
            "fingerprint": fingerprint,
            "retired": [crypto.data_key_fingerprint(k) for k in crypto.data_keys()[1:]],
            "counts": counts,
        },
    )
    db.session.commit()
    click.echo(f"data key {fingerprint}: " + ", ".join(f"{kind} {n}" for kind, n in counts.items()))
    for path in unreadable:
        click.echo(f"unreadable (not rewritten): {path}", err=True)
    if unreadable:
        sys.exit(1)


def init_app(app: Flask) -> None:
    from app.core.audit_cli import init_cli

    init_cli(app)
    app.cli.add_command(outbox_group)
    app.cli.add_command(keys_group)
