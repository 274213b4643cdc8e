"""Demo city keys (``flask demo seed``): every possible custodian gets a personal age identity and every
bidder organization an Ed25519 signing key. The private halves are written to ``instance/demo-keys/``
(mode 0600) so a newcomer can decrypt a share with ``age -d -i`` and sign with ``ggzy-bid``; real users
create theirs on their own machines and register only the public halves."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pyrage
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app

from app.accounts.models import User
from app.core.permissions import Role

from . import services, signing


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def prepare_demo_keys(users: dict[str, User]) -> None:
    folder = Path(current_app.config["INSTANCE_PATH"]) / "demo-keys"
    seen_orgs: set[int] = set()
    for username, user in users.items():
        role = Role(user.role)
        if role in services.CUSTODIAN_ROLES:
            identity = pyrage.x25519.Identity.generate()
            services.register_custodian_key(user, str(identity.to_public()), actor=user)
            _write_private(folder / f"{username}.age-identity.txt", f"{identity}\n".encode())
        elif role is Role.BIDDER and user.org_id not in seen_orgs:
            seen_orgs.add(user.org_id)
            key = Ed25519PrivateKey.generate()
            public = base64.b64encode(signing.raw_public(key.public_key())).decode()
            services.register_bidder_key(user.organization, public, actor=user, label="demo")
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            _write_private(folder / f"{username}-signing-key.pem", pem)
