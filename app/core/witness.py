"""``ggzy-audit witness``: pin the platform's audit checkpoints outside the platform (issue 16).

A regulator, a journalist or any member of the public runs it against the platform's public API; it keeps
what it saw in a state directory and refuses any checkpoint that is not consistent with it, so a rollback
(the log restored to an older copy) or a fork (another log shown to someone else) is detected by someone
who is not the operator::

    ggzy-audit witness --state /var/lib/ggzy-witness https://ggzy.example.gov.cn          # once (cron)
    ggzy-audit witness --state /var/lib/ggzy-witness --every 300 https://ggzy.example.gov.cn

Each run: the platform's current verifier key (pinned on first use; a changed key is refused unless the
operator passes it with ``--key``), the latest checkpoint (its signature checked with the pinned key), and,
when a checkpoint was pinned before, the consistency proof from the pinned tree to the new one. On success
the new checkpoint replaces the pinned one atomically and a line is added to ``DIR/log``. On a rollback, a
fork or a bad signature nothing is replaced: both notes (and the proof) are kept in ``DIR/evidence/…`` and
the exit status is 1. Network trouble exits 2 (``--every`` retries).

Standard library, ``cryptography`` and :mod:`app.core.merkle` only: no Flask, no database.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.core import merkle

OK, INCONSISTENT, TROUBLE = 0, 1, 2

KEYS_PATH = "/api/v1/audit/keys"
LATEST_PATH = "/api/v1/audit/checkpoints/latest"
CONSISTENCY_PATH = "/api/v1/audit/proofs/consistency"

_SIG_PREFIX = "— "  # U+2014 EM DASH and a space: a signed-note signature line


class Refused(Exception):
    """The platform showed something inconsistent with what this witness saw: evidence is kept."""


class Trouble(Exception):
    """The check could not be made (network, HTTP error, unreadable state): nothing was decided."""


# ---------------------------------------------------------------------------------------------------------
# Signed notes (C2SP signed-note, Ed25519) and tlog checkpoints, verification only
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes
    key: Ed25519PublicKey
    text: str


def parse_verifier_key(text: str) -> VerifierKey:
    """``<name>+<hex key id>+<base64(0x01 ‖ Ed25519 key)>``; the id must match the key."""
    text = text.strip()
    try:
        name, hex_id, b64 = text.split("+", 2)  # a name has no "+"; base64 may
        blob = base64.b64decode(b64, validate=True)
        key_id = bytes.fromhex(hex_id)
    except (ValueError, binascii.Error):
        raise ValueError(f"not a note verifier key: {text!r}") from None
    if not name or len(key_id) != 4 or len(blob) != 33 or blob[0] != 1:
        raise ValueError(f"not an Ed25519 note verifier key: {text!r}")
    if hashlib.sha256(name.encode() + b"\n" + blob).digest()[:4] != key_id:
        raise ValueError("the verifier key's id does not match its name and key")
    return VerifierKey(name, key_id, Ed25519PublicKey.from_public_bytes(blob[1:]), text)


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str


def parse_checkpoint(note: str) -> tuple[Checkpoint, str, str]:
    """The checkpoint in ``note``, its signed body and its signature block. Checks no signature."""
    body, sep, sigs = note.partition("\n\n")
    if not sep:
        raise ValueError("not a signed note")
    body += "\n"
    lines = body.split("\n")
    if len(lines) < 4 or not lines[1].isdigit():
        raise ValueError("not a tlog checkpoint")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except binascii.Error:
        raise ValueError("the checkpoint root is not base64") from None
    if len(root) != 32:
        raise ValueError("the checkpoint root is not 32 bytes")
    return Checkpoint(lines[0], int(lines[1]), root, note), body, sigs


def verified_checkpoint(note: str, keys: list[VerifierKey]) -> Checkpoint:
    """The checkpoint in ``note`` if one of ``keys`` signed it under the origin's name; else ValueError."""
    cp, body, sigs = parse_checkpoint(note)
    origin = cp.origin
    for line in sigs.split("\n"):
        if not line.startswith(_SIG_PREFIX):
            continue
        name, _, b64 = line[len(_SIG_PREFIX) :].rpartition(" ")
        try:
            blob = base64.b64decode(b64, validate=True)
        except binascii.Error:
            continue
        for key in keys:
            if name == origin == key.name and len(blob) == 68 and blob[:4] == key.key_id:
                try:
                    key.key.verify(blob[4:], body.encode())
                except InvalidSignature:
                    continue
                return cp
    raise ValueError("no valid signature by the pinned platform key")


# ---------------------------------------------------------------------------------------------------------
# The state directory
# ---------------------------------------------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # make the rename durable where the platform allows it
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class State:
    root: Path

    @property
    def key_path(self) -> Path:
        return self.root / "key"

    @property
    def checkpoint_path(self) -> Path:
        return self.root / "checkpoint"

    def pinned_key(self) -> VerifierKey | None:
        if not self.key_path.is_file():
            return None
        try:
            return parse_verifier_key(self.key_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise Trouble(f"{self.key_path}: {exc}") from None

    def pinned_checkpoint(self) -> Checkpoint | None:
        """What this witness accepted last (its signature was checked then, perhaps by a retired key)."""
        if not self.checkpoint_path.is_file():
            return None
        note = self.checkpoint_path.read_text(encoding="utf-8")
        try:
            return parse_checkpoint(note)[0]
        except ValueError as exc:
            raise Trouble(f"{self.checkpoint_path}: {exc}") from None

    def pin_key(self, key: VerifierKey) -> None:
        _write_atomic(self.key_path, key.text + "\n")
        self.log(f"key {key.text}")

    def pin(self, cp: Checkpoint) -> None:
        _write_atomic(self.checkpoint_path, cp.note)
        self.log(f"checkpoint {cp.size} {base64.b64encode(cp.root).decode()}")

    def log(self, line: str) -> None:
        with open(self.root / "log", "a", encoding="utf-8") as fh:
            fh.write(f"{_stamp()} {line}\n")

    def evidence(self, kind: str, files: dict[str, str]) -> Path:
        folder = self.root / "evidence" / f"{_stamp().replace(':', '')}-{kind}"
        n = 1
        while folder.exists():
            n += 1
            folder = folder.with_name(f"{folder.name.rsplit('.', 1)[0]}.{n}")
        folder.mkdir(parents=True)
        for name, text in files.items():
            _write_atomic(folder / name, text)
        self.log(f"REFUSED {kind}: evidence in {folder}")
        return folder

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One witness run at a time per state directory (cron and a loop may overlap)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Trouble(f"{self.root} is in use by another witness run") from None
            yield


# ---------------------------------------------------------------------------------------------------------
# The platform's public API
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Platform:
    base_url: str
    timeout: float = 30.0
    context: ssl.SSLContext | None = None

    def get(self, path: str, query: dict[str, Any] | None = None) -> tuple[int, Any]:
        if urllib.parse.urlsplit(self.base_url).scheme not in ("http", "https"):
            raise Trouble(f"{self.base_url}: not an http(s) URL")
        url = self.base_url.rstrip("/") + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        req = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
            url, headers={"Accept": "application/json", "User-Agent": "ggzy-audit-witness"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as resp:  # noqa: S310
                return resp.status, json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return 404, None
            raise Trouble(f"GET {url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise Trouble(f"GET {url}: {exc}") from None

    def current_key(self) -> str:
        _, keys = self.get(KEYS_PATH)
        current = [k for k in keys or [] if isinstance(k, dict) and k.get("current")]
        if len(current) != 1 or not isinstance(current[0].get("verifier_key"), str):
            raise Trouble(f"{KEYS_PATH}: no single current verifier key")
        return str(current[0]["verifier_key"])

    def latest_note(self) -> str | None:
        status, body = self.get(LATEST_PATH)
        if status == 404:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("note"), str):
            raise Trouble(f"{LATEST_PATH}: no note in the answer")
        return str(body["note"])

    def consistency(self, old: int, new: int) -> dict[str, Any]:
        status, body = self.get(CONSISTENCY_PATH, {"old": old, "new": new})
        if status == 404 or not isinstance(body, dict) or not isinstance(body.get("proof"), list):
            raise Trouble(f"{CONSISTENCY_PATH}: no consistency proof from {old} to {new}")
        return body


# ---------------------------------------------------------------------------------------------------------
# One witness run
# ---------------------------------------------------------------------------------------------------------


def _key_to_trust(state: State, platform: Platform, given: VerifierKey | None) -> list[VerifierKey]:
    """The keys a new checkpoint may be signed with: the pinned key, or the one the operator passed (then
    pinned). The platform announcing another key than the trusted one is refused, not followed."""
    pinned = state.pinned_key()
    announced = platform.current_key()
    trusted = given or pinned
    if trusted is None:  # first use: trust the key the platform announces now
        try:
            key = parse_verifier_key(announced)
        except ValueError as exc:
            raise Trouble(f"{KEYS_PATH}: {exc}") from None
        state.pin_key(key)
        print(f"pinned the platform key on first use: {key.text} (compare it with the published one)")
        return [key]
    if announced.strip() != trusted.text:
        evidence = {"pinned-key": (pinned.text if pinned else "") + "\n", "announced-key": announced + "\n"}
        folder = state.evidence("key-changed", evidence)
        raise Refused(
            f"the platform now signs with {announced}, not with the trusted key {trusted.text}; if this "
            f"rotation was announced, run again with --key '{announced}' (evidence in {folder})"
        )
    keys = [trusted]
    if given is not None and (pinned is None or pinned.text != given.text):
        state.pin_key(given)
        if pinned is not None:
            keys.append(pinned)  # the newest checkpoint may still carry the retired key's signature
    return keys


def witness_once(state: State, platform: Platform, given_key: VerifierKey | None = None) -> str:
    """Check the platform once; return a one-line summary, raise Refused or Trouble."""
    with state.locked():
        keys = _key_to_trust(state, platform, given_key)
        old = state.pinned_checkpoint()
        note = platform.latest_note()
        if note is None:
            if old is None:
                return "the platform has not signed a checkpoint yet: nothing to pin"
            folder = state.evidence("rollback", {"pinned.note": old.note, "offered.txt": "no checkpoint\n"})
            raise Refused(f"ROLLBACK: the platform shows no checkpoint, {old.size} were pinned ({folder})")
        try:
            new = verified_checkpoint(note, keys)
        except ValueError as exc:
            files = {"offered.note": note} | ({"pinned.note": old.note} if old else {})
            folder = state.evidence("bad-signature", files)
            raise Refused(f"BAD SIGNATURE on the latest checkpoint: {exc} ({folder})") from None
        if old is None:
            state.pin(new)
            return f"pinned the tree of size {new.size} (first checkpoint seen)"
        if new.origin != old.origin:
            folder = state.evidence("fork", {"pinned.note": old.note, "offered.note": new.note})
            raise Refused(f"FORK: the log is now named {new.origin!r}, not {old.origin!r} ({folder})")
        if new.size < old.size:
            folder = state.evidence("rollback", {"pinned.note": old.note, "offered.note": new.note})
            raise Refused(
                f"ROLLBACK: the latest checkpoint has {new.size} leaves, {old.size} were pinned ({folder})"
            )
        if new.size == old.size:
            if new.root != old.root:
                folder = state.evidence("fork", {"pinned.note": old.note, "offered.note": new.note})
                raise Refused(f"FORK: two different trees of size {new.size} were signed ({folder})")
            return f"unchanged at size {new.size}"
        if old.size == 0:
            consistent = old.root == merkle.EMPTY_ROOT
            proof_body: dict[str, Any] = {"proof": []}
        else:
            proof_body = platform.consistency(old.size, new.size)
            try:
                proof = [base64.b64decode(p, validate=True) for p in proof_body["proof"]]
            except (binascii.Error, TypeError, ValueError):
                proof = []
                consistent = False
            else:
                consistent = merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)
        if not consistent:
            folder = state.evidence(
                "fork",
                {"pinned.note": old.note, "offered.note": new.note, "proof.json": json.dumps(proof_body)},
            )
            raise Refused(
                f"FORK: the tree of size {new.size} does not extend the pinned tree of size {old.size} "
                f"(the log was rewritten; {folder})"
            )
        state.pin(new)
        return f"the tree grew from {old.size} to {new.size} consistently"


def witness_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="ggzy-audit witness",
        description="Pin the platform's audit checkpoints and refuse any that is inconsistent with them.",
    )
    parser.add_argument("url", help="the platform's base URL, e.g. https://ggzy.example.gov.cn")
    parser.add_argument("--state", required=True, type=Path, help="state directory (pinned key, checkpoint)")
    parser.add_argument("--key", help="the platform verifier key to trust (first use, or after a rotation)")
    parser.add_argument(
        "--every", type=float, metavar="SECONDS", help="check again every SECONDS (default: once)"
    )
    parser.add_argument("--once", action="store_true", help="check once and exit (the default)")
    parser.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout in seconds")
    parser.add_argument("--cafile", help="CA bundle to verify the platform's TLS certificate with")
    args = parser.parse_args(argv)
    if args.every is not None and (args.once or args.every <= 0):
        parser.error("--every takes a positive number of seconds and excludes --once")
    try:
        given = parse_verifier_key(args.key) if args.key else None
    except ValueError as exc:
        parser.error(str(exc))
    context = ssl.create_default_context(cafile=args.cafile) if args.cafile else None
    state, platform = State(args.state), Platform(args.url, args.timeout, context)
    while True:
        status = _run(state, platform, given)
        if args.every is None or status == INCONSISTENT:
            return status
        given = None  # an explicitly passed key is pinned by now
        time.sleep(args.every)


def _run(state: State, platform: Platform, given: VerifierKey | None) -> int:
    try:
        summary = witness_once(state, platform, given)
    except Refused as exc:
        print(f"REFUSED: {exc}", file=sys.stderr, flush=True)
        return INCONSISTENT
    except Trouble as exc:
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        return TROUBLE
    print(f"OK: {summary}", flush=True)
    return OK
