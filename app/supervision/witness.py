"""The regulator's offline witness tool: make an Ed25519 key and cosign a checkpoint note, with no server.

    python -m app.supervision.witness keygen --out witness.pem --name gov.example/witness  # prints the vkey
    python -m app.supervision.witness sign --key witness.pem --name gov.example/witness --checkpoint cp.txt

``sign --name`` prints a C2SP tlog-cosignature/v1 line (``— <name> <base64>``: key ID, timestamp and an
Ed25519 signature over ``cosignature/v1``, the time and the checkpoint text), which the platform appends to
the checkpoint note; standard witness tooling checks it with the printed vkey. Without ``--name`` it prints
the pre-C2SP form (a bare signature over the note text), still accepted. The private key never reaches the
platform.
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.core import signed_note


def note_body(note: str) -> bytes:
    body, sep, _ = note.partition("\n\n")
    if not sep:
        raise ValueError("not a signed note: no blank line before the signatures")
    return (body + "\n").encode()


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def sign(key: Ed25519PrivateKey, note: str) -> str:
    """The pre-C2SP cosignature: a bare Ed25519 signature over the note text, base64."""
    return base64.b64encode(key.sign(note_body(note))).decode()


def sign_line(key: Ed25519PrivateKey, note: str, name: str, timestamp: int | None = None) -> str:
    """A C2SP tlog-cosignature/v1 line by ``name`` (now, unless ``timestamp`` is given)."""
    return signed_note.cosignature_line(name, key, note, int(time.time()) if timestamp is None else timestamp)


def vkey(key: Ed25519PrivateKey, name: str) -> str:
    """The witness verifier key (signature type 0x04) to register and to give to verifiers."""
    return signed_note.Verifier.cosigner(name, key.public_key()).vkey


def _load(path: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="witness", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    gen = sub.add_parser("keygen", help="write a new private key (PEM) and print its public key")
    gen.add_argument("--out", required=True)
    gen.add_argument("--name", help="witness name (e.g. gov.example/witness): print the vkey too")
    sig = sub.add_parser("sign", help="print the cosignature of a checkpoint note")
    sig.add_argument("--key", required=True)
    sig.add_argument("--name", help="witness name: print a C2SP cosignature/v1 line (recommended)")
    sig.add_argument("--checkpoint", required=True, help="file with the signed checkpoint note")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "keygen":
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            out = Path(args.out)
            out.write_bytes(pem)
            out.chmod(0o600)
            print(public_key_b64(key))
            if args.name:
                print(vkey(key, args.name))
        else:
            note = Path(args.checkpoint).read_text(encoding="utf-8")
            key = _load(args.key)
            print(sign_line(key, note, args.name) if args.name else sign(key, note))
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
