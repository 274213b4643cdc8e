"""``ggzy-bid``: the bidder tool. Seals on the bidder's own machine; the server only ever sees ciphertext.

    ggzy-bid --server URL info --section 12
    ggzy-bid --server URL seal --section 12 --summary summary.json doc1.pdf doc2.pdf
    ggzy-bid sign --section 12 --key bidder-key.pem --kind summary summary.json.age
    ggzy-bid --server URL --token TOKEN submit --section 12 --key bidder-key.pem summary.json.age doc1.pdf.age
    ggzy-bid --server URL --token TOKEN withdraw --section 12
    ggzy-bid --server URL --token TOKEN status --section 12
    ggzy-bid keygen --out bidder-key.pem
    ggzy-bid --server URL platform-key --out platform.pub
    ggzy-bid receipt verify --offline --platform-key platform.pub --envelope doc.pdf.age doc.receipt.json
    ggzy-bid --server URL receipt verify --platform-key platform.pub doc.receipt.json  # after the opening

Standard library HTTP only (``http.client``): uploads stream from disk in 1 MiB pieces, large files go
through the resumable protocol (create → PATCH chunks with offsets and SHA-256 checksums → finalize) and
resume from the server's offset after a dropped connection. The token comes from ``--token`` or
``GGZY_TOKEN``. Environment: ``GGZY_SERVER``, ``GGZY_LANG`` (``zh`` or ``en``: the language of the server's
messages; by default from ``LANG``).

Every refusal of the server is printed with its code and message, whatever the size of the envelope (a
server that answers before reading a large body is heard: the upload stops and the answer is read). Exit
status: 0 done; 3 refused for good (deadline passed, section closed, not authorised, envelope refused: fix
the cause; the envelope's ``*.idempotency`` and ``*.upload`` files are removed); 75 try again later
(network trouble, the server busy or down: run the same command again, it resumes and a retry of an
accepted envelope returns the same receipt, so those files are kept); 1 any other error on this machine.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import secrets
import select
import sys
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import click
import pyrage

from . import signing

CHUNK = 8 * 1024 * 1024
RESUMABLE_ABOVE = 16 * 1024 * 1024
PIECE = 256 * 1024

EXIT_REFUSED = 3
EXIT_RETRY = 75  # EX_TEMPFAIL (sysexits.h)


class Refused(click.ClickException):
    """The server refused for good: retrying the same request cannot succeed."""

    exit_code = EXIT_REFUSED


class RetryLater(click.ClickException):
    """Nothing definitive happened: the network failed, or the server is busy or down."""

    exit_code = EXIT_RETRY


def _default_lang() -> str:
    lang = os.environ.get("GGZY_LANG") or os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    return "en" if lang.lower().startswith("en") else "zh"


class Api:
    def __init__(self, server: str, token: str | None, lang: str = "zh") -> None:
        parts = urlsplit(server)
        self.https = parts.scheme == "https"
        self.host = parts.netloc
        self.base = parts.path.rstrip("/")
        self.token = token
        self.lang = lang

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        hdrs = {"Accept-Language": self.lang, **(extra or {})}
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        return hdrs

    def _conn(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        return cls(self.host, timeout=600)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        hdrs = self.headers(headers)
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        conn = self._conn()
        try:
            conn.request(method, self.base + path, body=body, headers=hdrs)
            return _read_response(conn)
        except (OSError, http.client.HTTPException) as exc:
            raise RetryLater(f"network error talking to {self.host}: {exc!r}; run the command again") from exc
        finally:
            conn.close()


def _read_response(conn: http.client.HTTPConnection) -> tuple[int, dict[str, str], Any]:
    resp = conn.getresponse()
    raw = resp.read()
    resp_headers = {k.lower(): v for k, v in resp.getheaders()}
    data: Any = None
    if raw and resp_headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(raw)
        except ValueError:
            data = raw.decode("utf-8", "replace")[:500]
    elif raw:
        data = raw.decode("utf-8", "replace")[:500]
    return resp.status, resp_headers, data


def _fail(status: int, data: Any) -> None:
    """Raise the server's answer as a refusal (4xx) or a try-again-later (408, 429, 5xx), code and message."""
    if isinstance(data, dict):
        code, message = data.get("code") or "", data.get("message") or ""
        details = data.get("errors") or {}
        if details:
            message = f"{message} {json.dumps(details, ensure_ascii=False)}"
    else:
        code, message = "", str(data or "")
    text = f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    if status >= 500 or status in (408, 429):
        raise RetryLater(f"{text} (try again later)")
    raise Refused(f"refused: {text}")


def seal_file(path: Path, recipient: str, out: Path | None = None) -> Path:
    """Encrypt ``path`` to the section recipient as a binary age file (streaming, via pyrage)."""
    target = out or path.with_name(path.name + ".age")
    rcpt = pyrage.x25519.Recipient.from_str(recipient)
    with open(path, "rb") as src, open(target, "wb") as dst:
        pyrage.encrypt_io(src, dst, [rcpt])
    return target


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while piece := fh.read(1024 * 1024):
            digest.update(piece)
    return digest.hexdigest()


def sign_envelope(path: Path, section_id: int, kind: str, key_pem: Path) -> tuple[str, str]:
    """(key id, base64 signature) over the envelope statement."""
    key = signing.load_private_key(key_pem.read_bytes())
    kid = signing.key_id(signing.raw_public(key.public_key()))
    sig = key.sign(signing.envelope_statement(file_sha256(path), section_id, kind))
    return kid, base64.b64encode(sig).decode()


def _kind_of(path: Path) -> tuple[str, str]:
    stem = path.name.removesuffix(".age")
    if stem.startswith("summary"):
        return "summary", "summary"
    return "document", stem


@click.group()
@click.option("--server", envvar="GGZY_SERVER", default="http://127.0.0.1:5000", show_default=True)
@click.option("--token", envvar="GGZY_TOKEN", default=None, help="API token (or GGZY_TOKEN).")
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default=_default_lang,
    help="Language of the server's messages (GGZY_LANG; default from LANG).",
)
@click.pass_context
def main(ctx: click.Context, server: str, token: str | None, lang: str) -> None:
    """Seal, sign and submit bids to the public resource trading platform.

    Exit status: 0 done, 3 refused by the server (fix the cause), 75 try again later (network, server busy or
    down; the same command resumes), 1 other errors."""
    ctx.obj = Api(server, token, lang)


@main.command()
@click.option("--section", "section_id", type=int, required=True)
@click.pass_obj
def info(api: Api, section_id: int) -> None:
    """The section's opening recipient, deadline, size limit and opening items."""
    status, _h, data = api.request("GET", f"/api/v1/bidding/sections/{section_id}")
    if status != 200:
        _fail(status, data)
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


@main.command()
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def keygen(out: Path) -> None:
    """Create your organization's Ed25519 signing key (PKCS#8 PEM, readable by you only) and print the public
    key to register on the platform (工作台 → 签名密钥)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if out.exists():
        raise click.ClickException(f"{out} exists; not overwriting a key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    raw = signing.raw_public(key.public_key())
    click.echo(f"public key (register it): {base64.b64encode(raw).decode()}")
    click.echo(f"key id: {signing.key_id(raw)}")


@main.command("platform-key")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.pass_obj
def platform_key(api: Api, out: Path | None) -> None:
    """Fetch the platform's receipt-signing public key (compare it with the one the centre publishes)."""
    status, _h, data = api.request("GET", "/api/v1/bidding/platform-key")
    if status != 200:
        _fail(status, data)
    key = str(data["public_key"])
    if out is None:
        click.echo(key)
    else:
        out.write_text(key + "\n")
        click.echo(f"{out}: {key}")


@main.command()
@click.option("--section", "section_id", type=int, required=True)
@click.option("--recipient", default=None, help="Opening recipient (fetched from the server when omitted).")
@click.option("--summary", "summary", type=click.Path(exists=True, path_type=Path), default=None)
@click.argument("documents", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.pass_obj
def seal(
    api: Api, section_id: int, recipient: str | None, summary: Path | None, documents: tuple[Path, ...]
) -> None:
    """Encrypt the summary JSON and the documents to the section's opening recipient (→ *.age)."""
    if recipient is None:
        status, _h, data = api.request("GET", f"/api/v1/bidding/sections/{section_id}")
        if status != 200:
            _fail(status, data)
        recipient = data["opening_recipient"]
        items = data.get("opening_items", [])
    else:
        items = ["price"]
    if summary is not None:
        body = json.loads(summary.read_text(encoding="utf-8"))
        missing = [i for i in items if i not in body]
        if missing:
            raise click.ClickException(f"the summary lacks the opening items: {', '.join(missing)}")
        body.setdefault("section_id", section_id)
        tmp = summary.with_name("summary.json")
        if tmp != summary:
            tmp.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
        click.echo(seal_file(tmp, str(recipient)))
    for doc in documents:
        click.echo(seal_file(doc, str(recipient)))


@main.command("sign")
@click.option("--section", "section_id", type=int, required=True)
@click.option("--key", "key_pem", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--kind", type=click.Choice(["summary", "document"]), default=None)
@click.argument("envelope", type=click.Path(exists=True, path_type=Path))
def sign_cmd(section_id: int, key_pem: Path, kind: str | None, envelope: Path) -> None:
    """Print the key id and the signature of an envelope (the headers X-Bid-Key-Id, X-Bid-Signature)."""
    kind = kind or _kind_of(envelope)[0]
    kid, sig = sign_envelope(envelope, section_id, kind, key_pem)
    click.echo(json.dumps({"key_id": kid, "signature": sig, "kind": kind, "sha256": file_sha256(envelope)}))


def _upload_direct(
    api: Api, section_id: int, path: Path, kind: str, name: str, headers: dict[str, str]
) -> Any:
    size = path.stat().st_size
    conn = api._conn()
    query = f"?kind={kind}&name={name}"
    hdrs = api.headers({**headers, "Content-Length": str(size), "Content-Type": "application/octet-stream"})
    try:
        conn.putrequest("PUT", f"{api.base}/api/v1/bidding/sections/{section_id}/envelopes{query}")
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        with open(path, "rb") as fh, click.progressbar(length=size, label=path.name) as bar:
            _send_body(conn, fh, bar)
        status, _h, data = _read_response(conn)
    except (OSError, http.client.HTTPException) as exc:
        raise RetryLater(
            f"network error during the upload of {path.name}: {exc!r}; run the command again"
        ) from exc
    finally:
        conn.close()
    if status not in (200, 201):
        _fail(status, data)
    return data


def _send_body(conn: http.client.HTTPConnection, fh: Any, bar: Any) -> None:
    """Stream the file. A server that refuses before reading the body (deadline passed, section closed, not
    authorised) answers at once and stops reading: stop sending as soon as its answer is there, or when it
    closes the connection, and let the caller read the answer."""
    assert conn.sock is not None
    while piece := fh.read(PIECE):
        if select.select([conn.sock], [], [], 0)[0]:
            return  # the server has answered before the end of the body
        try:
            conn.send(piece)
        except (BrokenPipeError, ConnectionResetError):
            return  # closed while we were sending: its answer, if any, is waiting to be read
        bar.update(len(piece))


def _upload_resumable(
    api: Api, section_id: int, path: Path, kind: str, name: str, headers: dict[str, str]
) -> Any:
    size = path.stat().st_size
    state_file = path.with_name(path.name + ".upload")
    upload_path = None
    if state_file.exists():
        upload_path = state_file.read_text().strip()
    if upload_path is None:
        status, h, data = api.request(
            "POST",
            f"/api/v1/bidding/sections/{section_id}/uploads",
            {"kind": kind, "name": name, "length": size},
            headers,
        )
        if status != 201:
            _fail(status, data)
        upload_path = urlsplit(h["location"]).path.removeprefix(api.base)
        state_file.write_text(upload_path)
    status, h, data = api.request("GET", upload_path)
    if status != 200:
        state_file.unlink(missing_ok=True)
        _fail(status, data)
    offset = int(h.get("upload-offset", "0"))
    with open(path, "rb") as fh, click.progressbar(length=size, label=path.name) as bar:
        bar.update(offset)
        fh.seek(offset)
        while offset < size:
            chunk = fh.read(CHUNK)
            checksum = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
            status, h, data = api.request(
                "PATCH",
                upload_path,
                chunk,
                {
                    "Upload-Offset": str(offset),
                    "Upload-Checksum": f"sha256 {checksum}",
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            if status != 204:
                _fail(status, data)
            offset = int(h["upload-offset"])
            bar.update(len(chunk))
    status, _h, data = api.request("POST", upload_path + "/finalize", None, headers)
    if status not in (200, 201):
        _fail(status, data)
    state_file.unlink(missing_ok=True)
    return data


@main.command()
@click.option("--section", "section_id", type=int, required=True)
@click.option("--key", "key_pem", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--fingerprint", default=None, help="Client machine fingerprint sent as X-Client-Fingerprint.")
@click.argument("envelopes", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.pass_obj
def submit(
    api: Api, section_id: int, key_pem: Path, fingerprint: str | None, envelopes: tuple[Path, ...]
) -> None:
    """Upload sealed envelopes (summary*.age is the summary); saves each signed receipt next to it."""
    for path in envelopes:
        kind, name = _kind_of(path)
        kid, sig = sign_envelope(path, section_id, kind, key_pem)
        key_file = path.with_name(path.name + ".idempotency")
        idem = key_file.read_text().strip() if key_file.exists() else secrets.token_urlsafe(16)
        key_file.write_text(idem)
        headers = {
            "X-Bid-Key-Id": kid,
            "X-Bid-Signature": sig,
            "Idempotency-Key": idem,
            "X-Content-SHA256": file_sha256(path),
        }
        if fingerprint:
            headers["X-Client-Fingerprint"] = fingerprint
        try:
            if path.stat().st_size > RESUMABLE_ABOVE:
                data = _upload_resumable(api, section_id, path, kind, name, headers)
            else:
                data = _upload_direct(api, section_id, path, kind, name, headers)
        except Refused as exc:
            # a definitive answer: the next attempt is a new request, not a retry of this one
            key_file.unlink(missing_ok=True)
            path.with_name(path.name + ".upload").unlink(missing_ok=True)
            raise Refused(f"{path.name}: {exc.message}") from None
        out = path.with_name(path.name + ".receipt.json")
        out.write_text(json.dumps(data, ensure_ascii=False, indent=2))
        key_file.unlink(missing_ok=True)
        click.echo(f"{path.name}: received, receipt {out}")


@main.command()
@click.option("--section", "section_id", type=int, required=True)
@click.pass_obj
def withdraw(api: Api, section_id: int) -> None:
    """Withdraw (撤回) every envelope of your organization before the deadline."""
    status, _h, data = api.request("POST", f"/api/v1/bidding/sections/{section_id}/withdraw")
    if status != 200:
        _fail(status, data)
    click.echo(f"{data['withdrawn']} envelope(s) withdrawn")


@main.command()
@click.option("--section", "section_id", type=int, required=True)
@click.pass_obj
def status(api: Api, section_id: int) -> None:
    """Your envelopes for the section and their state."""
    code, _h, data = api.request("GET", f"/api/v1/bidding/sections/{section_id}/envelopes")
    if code != 200:
        _fail(code, data)
    for e in data["envelopes"]:
        click.echo(f"{e['id']:>6} {e['kind']:<9} {e['name']:<30} {e['status']:<10} {e['sha256'][:16]}…")


@main.group()
def receipt() -> None:
    """Receipts."""


@receipt.command("verify")
@click.option(
    "--platform-key",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="The platform's Ed25519 public key (PEM or base64), obtained out of band. Without it, the keys "
    "the server publishes at /api/v1/audit/keys.",
)
@click.option(
    "--envelope",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Also check that this file is the one the receipt names.",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Check the receipt alone (signature, inclusion proof, envelope file), without the server.",
)
@click.option("--server", "server", default=None, help="The platform (default: the global --server).")
@click.argument("receipt_file", type=click.Path(exists=True, path_type=Path))
@click.pass_obj
def receipt_verify(
    api: Api,
    platform_key: Path | None,
    envelope: Path | None,
    offline: bool,
    server: str | None,
    receipt_file: Path,
) -> None:
    """Verify a receipt, then (unless --offline) that its envelope is the one the opening opened.

    Checks the platform's signature on the receipt, fetches the public opening record of the section,
    proves it is a leaf of the audit log under the latest signed checkpoint (and that the log still extends
    the receipt's tree), and finds the receipted SHA-256 in it. Prints OPENED, or NOT OPENED with the reason
    (withdrawn, superseded by a later envelope, failed to decrypt, section not opened yet), or MISMATCH.
    Exit status: 0 opened as receipted, 1 not opened, mismatch or invalid receipt, 3 refused, 75 retry."""
    from . import receipts as rc

    if offline and platform_key is None:
        raise click.UsageError("--offline needs --platform-key (the key you obtained out of band)")
    if server is not None:
        api = Api(server, api.token, api.lang)
    lang = api.lang
    try:
        signed = json.loads(receipt_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        _verdict(rc.say("invalid_receipt", lang, problem="not a JSON receipt"))
    if platform_key is not None:
        keys = [signing.load_public_key(platform_key.read_bytes())]
    else:
        keys = _server_keys(api)
        click.echo(rc.say("key_from_server", lang), err=True)
    problems = rc.receipt_problems(signed, keys)
    body = signed.get("receipt", {}) if isinstance(signed, dict) else {}
    if envelope is not None and file_sha256(envelope) != body.get("sha256"):
        problems.append("the envelope file does not match the receipt's SHA-256")
    if problems:
        _verdict("\n".join(rc.say("invalid_receipt", lang, problem=p) for p in problems))
    if offline:
        click.echo(
            f"OK: {body['kind']} {body['name']} of {body['bidder']} for section {body['section_id']}, "
            f"received {body['received_at']}, audit leaf {body['audit']['leaf_index']}"
        )
        return

    section_id = int(body["section_id"])
    status, _h, data = api.request("GET", f"/api/v1/bidding/sections/{section_id}/record")
    if status == 409 and isinstance(data, dict) and data.get("code") == "not_opened":
        _verdict(rc.say("section_not_opened_yet", lang, section=body.get("section_code") or section_id))
    if status != 200:
        _fail(status, data)
    record = data.get("record") or {}
    if record.get("not_opened"):
        _verdict(rc.say("too_few_bidders", lang, section=body.get("section_code") or section_id))

    size, root = _signed_checkpoint(api, keys, lang)
    old = int(body["audit"]["tree_size"])
    consistency: list[str] = []
    if old < size:
        status, _h, cons = api.request("GET", f"/api/v1/audit/proofs/consistency?old={old}&new={size}")
        if status != 200:
            _fail(status, cons)
        consistency = list(cons.get("proof") or [])
    problem = rc.consistency_problem(body, size, root, consistency)
    audit_ref = data.get("audit") or {}
    if problem is None and not audit_ref.get("proof_url"):
        problem = "the record names no audit leaf"
    if problem is None:
        proof_path = urlsplit(str(audit_ref["proof_url"])).path.removeprefix(api.base)
        status, _h, proof = api.request("GET", f"{proof_path}?size={size}")
        if status != 200:
            _fail(status, proof)
        problem = rc.record_problem(data, section_id, proof, size, root)
    if problem is not None:
        _verdict(rc.say("unproven_record", lang, problem=problem))
    click.echo(
        rc.say("proven", lang, record_sha256=data["record_sha256"], index=audit_ref["leaf_index"], size=size)
    )
    outcome = rc.find_envelope(record, body, lang)
    message = rc.say(outcome.message, lang, **outcome.params)
    if outcome.verdict != rc.OPENED:
        _verdict(message)
    click.echo(message)


def _verdict(message: str) -> NoReturn:
    """Not opened, mismatch or invalid: print why and exit 1."""
    click.echo(message)
    sys.exit(1)


def _server_keys(api: Api) -> list[Any]:
    status, _h, data = api.request("GET", "/api/v1/audit/keys")
    if status != 200:
        _fail(status, data)
    return [signing.load_public_key(str(k["public_key"])) for k in data]


def _signed_checkpoint(api: Api, keys: list[Any], lang: str) -> tuple[int, bytes]:
    """(size, root) of the latest checkpoint, once its signature by a platform key verifies."""
    from app.core.checkpoint_note import parse_checkpoint_note, verify_checkpoint_note

    from . import receipts as rc

    status, _h, data = api.request("GET", "/api/v1/audit/checkpoints/latest")
    if status != 200:
        _fail(status, data)
    note = str(data.get("note") or "")
    if not verify_checkpoint_note(note, keys):
        _verdict(rc.say("unproven_record", lang, problem="the checkpoint is not signed by the platform key"))
    _origin, size, root = parse_checkpoint_note(note)
    return size, root


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
