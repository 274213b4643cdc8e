"""``ggzy-bid``: the bidder tool. Seals on the bidder's own machine; the server only ever sees ciphertext.

    ggzy-bid --server URL info --section 12
    ggzy-bid --server URL seal --section 12 --summary summary.json doc1.pdf doc2.pdf
    ggzy-bid sign --section 12 --key bidder-key.pem --kind summary summary.json.age
    ggzy-bid --server URL --token TOKEN submit --section 12 --key bidder-key.pem summary.json.age doc1.pdf.age
    ggzy-bid --server URL --token TOKEN withdraw --section 12
    ggzy-bid --server URL --token TOKEN status --section 12
    ggzy-bid receipt verify --platform-key platform.pub receipt.json

Standard library HTTP only (``http.client``): uploads stream from disk in 1 MiB pieces, large files go
through the resumable protocol (create → PATCH chunks with offsets and SHA-256 checksums → finalize) and
resume from the server's offset after a dropped connection. The token comes from ``--token`` or
``GGZY_TOKEN``. Environment: ``GGZY_SERVER``.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pyrage

from . import signing

CHUNK = 8 * 1024 * 1024
RESUMABLE_ABOVE = 16 * 1024 * 1024


class Api:
    def __init__(self, server: str, token: str | None) -> None:
        parts = urlsplit(server)
        self.https = parts.scheme == "https"
        self.host = parts.netloc
        self.base = parts.path.rstrip("/")
        self.token = token

    def _conn(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        return cls(self.host, timeout=600)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        hdrs = dict(headers or {})
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        conn = self._conn()
        try:
            conn.request(method, self.base + path, body=body, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            resp_headers = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        data: Any = None
        if raw and resp_headers.get("content-type", "").startswith("application/json"):
            data = json.loads(raw)
        return resp.status, resp_headers, data


def _fail(status: int, data: Any) -> None:
    message = data.get("message") if isinstance(data, dict) else ""
    raise click.ClickException(f"HTTP {status}: {message or data}")


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
@click.pass_context
def main(ctx: click.Context, server: str, token: str | None) -> None:
    """Seal, sign and submit bids to the public resource trading platform."""
    ctx.obj = Api(server, token)


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
    hdrs = {**headers, "Content-Length": str(size), "Content-Type": "application/octet-stream"}
    if api.token:
        hdrs["Authorization"] = f"Bearer {api.token}"
    conn.putrequest("PUT", f"{api.base}/api/v1/bidding/sections/{section_id}/envelopes{query}")
    for k, v in hdrs.items():
        conn.putheader(k, v)
    conn.endheaders()
    with open(path, "rb") as fh, click.progressbar(length=size, label=path.name) as bar:
        while piece := fh.read(1024 * 1024):
            conn.send(piece)
            bar.update(len(piece))
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"null")
    conn.close()
    if resp.status not in (200, 201):
        _fail(resp.status, data)
    return data


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
        if path.stat().st_size > RESUMABLE_ABOVE:
            data = _upload_resumable(api, section_id, path, kind, name, headers)
        else:
            data = _upload_direct(api, section_id, path, kind, name, headers)
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
    required=True,
    help="The platform's Ed25519 public key (PEM or base64), obtained out of band.",
)
@click.option(
    "--envelope",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Also check that this file is the one the receipt names.",
)
@click.argument("receipt_file", type=click.Path(exists=True, path_type=Path))
def receipt_verify(platform_key: Path, envelope: Path | None, receipt_file: Path) -> None:
    """Verify a receipt offline: platform signature, audit inclusion proof, optionally the file digest."""
    signed = json.loads(receipt_file.read_text())
    problems = signing.verify_receipt(signed, signing.load_public_key(platform_key.read_bytes()))
    if envelope is not None and file_sha256(envelope) != signed.get("receipt", {}).get("sha256"):
        problems.append("the envelope file does not match the receipt's SHA-256")
    if problems:
        for p in problems:
            click.echo(f"FAIL: {p}", err=True)
        sys.exit(1)
    body = signed["receipt"]
    click.echo(
        f"OK: {body['kind']} {body['name']} of {body['bidder']} for section {body['section_id']}, "
        f"received {body['received_at']}, audit leaf {body['audit']['leaf_index']}"
    )


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
