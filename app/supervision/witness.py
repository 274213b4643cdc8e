"""The regulator's offline witness tool: make an Ed25519 key and cosign a checkpoint note, with no server.

    python -m app.supervision.witness keygen --out witness.pem      # prints the public key to register
    python -m app.supervision.witness sign --key witness.pem --checkpoint cp.txt   # prints the signature

The signature covers the checkpoint note's body (origin, size, root), exactly what
``app.core.audit.cosign`` checks; the private key never reaches the platform.
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def note_body(note: str) -> bytes:
    body, sep, _ = note.partition("\n\n")
    if not sep:
        raise ValueError("not a signed note: no blank line before the signatures")
    return (body + "\n").encode()


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def sign(key: Ed25519PrivateKey, note: str) -> str:
    return base64.b64encode(key.sign(note_body(note))).decode()


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
    sig = sub.add_parser("sign", help="print the cosignature of a checkpoint note")
    sig.add_argument("--key", required=True)
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
        else:
            print(sign(_load(args.key), Path(args.checkpoint).read_text(encoding="utf-8")))
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
