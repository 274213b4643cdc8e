"""Offline verification of a section's archive bundle (no server, no database).

    python -m app.evaluation.verify ARCHIVE.zip [--key BASE64_ED25519_PUBLIC_KEY]
    flask evaluation verify-archive ARCHIVE.zip

Checks: every file of the zip is listed in ``manifest.json`` with its SHA-256 and nothing listed is
missing; ``manifest.sig`` is the platform's Ed25519 signature over ``manifest.json`` (under ``--key`` when
given — pin the published platform key; otherwise the key recorded in the manifest, which only proves the
bundle is self-consistent); every audit leaf hashes to its recorded payload and is included (RFC 6962
proof) in the signed checkpoint of ``audit/checkpoint.txt``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
import zipfile
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    files: int = 0
    leaves: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _public_key(text: str) -> Ed25519PublicKey:
    raw = base64.b64decode(text)
    return Ed25519PublicKey.from_public_bytes(raw[-32:])


def verify_archive(path: str, *, key: str | None = None) -> Verification:
    result = Verification()
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as err:
        result.problems.append(f"not a readable zip: {err}")
        return result
    with zf:
        names = set(zf.namelist())
        if MANIFEST not in names or SIGNATURE not in names:
            result.problems.append("manifest.json or manifest.sig is missing")
            return result
        manifest_bytes = zf.read(MANIFEST)
        try:
            manifest: dict[str, Any] = json.loads(manifest_bytes)
        except ValueError:
            result.problems.append("manifest.json is not JSON")
            return result
        try:
            signer = _public_key(key or manifest["platform_public_key"])
            signer.verify(base64.b64decode(zf.read(SIGNATURE), validate=True), manifest_bytes)
        except (InvalidSignature, ValueError, KeyError, binascii.Error):
            result.problems.append("the manifest signature does not verify")
        listed: dict[str, str] = manifest.get("files", {})
        for name in sorted(names - {MANIFEST, SIGNATURE}):
            hasher = hashlib.sha256()
            with zf.open(name) as member:  # bid files may be large: hash in chunks
                while chunk := member.read(1024 * 1024):
                    hasher.update(chunk)
            digest = hasher.hexdigest()
            result.files += 1
            if name not in listed:
                result.problems.append(f"{name}: not in the manifest")
            elif listed[name] != digest:
                result.problems.append(f"{name}: SHA-256 differs from the manifest")
        for name in sorted(set(listed) - names):
            result.problems.append(f"{name}: listed but missing")
        try:
            _check_audit(zf, names, key or manifest.get("platform_public_key", ""), result)
        except (ValueError, KeyError, TypeError) as err:
            result.problems.append(f"the audit proofs cannot be read: {err}")
    return result


def _check_audit(zf: zipfile.ZipFile, names: set[str], key: str, result: Verification) -> None:
    """Every audit leaf matches its payload and is included in the signed checkpoint."""
    from app.core import audit, merkle

    if "audit/checkpoint.txt" not in names or "audit/leaves.json" not in names:
        result.problems.append("the audit checkpoint or leaves are missing")
        return
    note = zf.read("audit/checkpoint.txt").decode()
    if not audit.verify_checkpoint_note(note, key):
        result.problems.append("the audit checkpoint signature does not verify")
    _origin, size, root = audit.parse_checkpoint_note(note)
    for leaf in json.loads(zf.read("audit/leaves.json")):
        result.leaves += 1
        data = leaf["leaf"].encode()
        if json.loads(data)["payload_sha256"] != hashlib.sha256(leaf["payload"].encode()).hexdigest():
            result.problems.append(f"audit leaf {leaf['idx']}: payload does not match")
        proof = [bytes.fromhex(h) for h in leaf["proof"]]
        if not merkle.verify_inclusion(merkle.leaf_hash(data), leaf["idx"], size, proof, root):
            result.problems.append(f"audit leaf {leaf['idx']}: not included in the checkpoint")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a section archive bundle offline.")
    parser.add_argument("archive")
    parser.add_argument("--key", help="platform Ed25519 public key (base64 raw or note verifier key)")
    args = parser.parse_args(argv)
    result = verify_archive(args.archive, key=args.key)
    for problem in result.problems:
        print(f"FAIL {problem}")
    print(f"{'OK' if result.ok else 'FAILED'}: {result.files} files, {result.leaves} audit leaves")
    return 0 if result.ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
