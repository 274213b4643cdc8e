"""Nothing reads a request body before the guard has decided who is asking (issue 14): against a real
gunicorn, an anonymous 400 MB JSON POST to the envelope API and a 300 MB multipart body to the public
sign-in form are answered from their headers while almost all of the body is still unsent; a signed-in
user's form body over its route's limit is refused from its Content-Length; a body that trickles is cut by
the read timeout. A ``Bearer`` header that authenticates nothing does not lift the CSRF check of a cookie
session."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests import servers
from tests.factories import csrf_token, login, make_user

MB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Gunicorn]:
    tmp = tmp_path_factory.mktemp("bodies")
    (tmp / "instance").mkdir()
    env = servers.app_env(tmp)
    env["BODY_READ_TIMEOUT"] = "2"  # the silence after which a trickling body is cut
    migrated = servers.flask(env, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    gunicorn = servers.Gunicorn(env, "app:create_app()", workers=1, worker_class="gthread")
    yield gunicorn
    gunicorn.stop()


def _send_head(port: int, head: str, first_bytes: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head.encode() + first_bytes)
    return sock


def _status(sock: socket.socket) -> tuple[int, bytes]:
    """The status and what arrived of the answer (up to the connection's end or 64 KiB)."""
    data = b""
    try:
        while b"\r\n\r\n" not in data or len(data) < 64 * 1024:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
            if b"\r\n\r\n" in data and b"Content-Length" in data.split(b"\r\n\r\n")[0]:
                head, _sep, body = data.partition(b"\r\n\r\n")
                length = int(head.split(b"Content-Length:")[1].split(b"\r\n")[0])
                if len(body) >= length:
                    break
    finally:
        sock.close()
    return int(data.split(b" ", 2)[1]), data


def test_an_anonymous_400_mb_json_post_is_refused_from_its_headers(server: servers.Gunicorn) -> None:
    head = (
        "POST /api/v1/bidding/sections/1/envelopes HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {400 * MB}\r\n\r\n"
    )
    sock = _send_head(server.port, head, b'{"kind": "' + b"a" * 65536)
    status, data = _status(sock)  # on the old code the worker waits for the other 399.9 MB
    assert status == 401
    assert b'"code":"unauthorized"' in data.replace(b" ", b"")


def test_a_chunked_anonymous_body_is_refused_without_reading_it(server: servers.Gunicorn) -> None:
    head = (
        "PATCH /api/v1/bidding/uploads/abc HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    sock = _send_head(server.port, head, b"10000\r\n" + b"x" * 1000)
    status, _data = _status(sock)
    assert status == 401


def test_a_300_mb_multipart_body_to_the_sign_in_form_is_refused_from_its_length(
    server: servers.Gunicorn,
) -> None:
    boundary = "b0und4ry"
    first = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + b"\0" * 65536
    head = (
        f"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {300 * MB}\r\n\r\n"
    )
    sock = _send_head(server.port, head, first)
    status, data = _status(sock)  # the old code spooled the body to a temp file before its 400
    assert status == 413
    assert "请求内容超过".encode() in data or b"larger than" in data


def test_a_trickling_body_is_cut_by_the_read_timeout(server: servers.Gunicorn) -> None:
    head = (
        "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    sock = _send_head(server.port, head, b"username=a&")  # then nothing more
    status, _data = _status(sock)  # on the old code the thread waits for the rest for ever
    assert status == 408


def test_each_route_takes_the_body_it_declares(client, db_session) -> None:
    """Forms and JSON of signed-in users: 1 MiB; public forms: 64 KiB; file routes declare theirs."""
    user = make_user("bidder")
    login(client, user)
    token = csrf_token(client, "/bidding/keys")
    big = client.post(
        "/bidding/keys",
        data={"csrf_token": token, "public_key": "x" * (2 * MB)},
    )
    assert big.status_code == 413
    client.post("/auth/logout", data={"csrf_token": token})
    public = client.post("/complaints/report", data={"facts": "x" * (100 * 1024)})
    assert public.status_code == 413


def test_a_junk_bearer_header_does_not_skip_csrf_for_a_cookie_session(client, db_session) -> None:
    user = make_user("bidder")
    login(client, user)
    forged = client.post(
        "/api/v1/bidding/sections/1/objections",
        json={"body": "forged"},
        headers={"Authorization": "Bearer junk"},
    )
    assert forged.status_code == 400  # the CSRF refusal, not the objection route's own answer
    assert forged.json["code"] == "csrf_failed" and "刷新页面" in forged.json["message"]


def test_a_valid_token_still_needs_no_csrf_token(client, db_session) -> None:
    from app.accounts import services as accounts

    user = make_user("bidder")
    raw = accounts.create_api_token(user, "t").raw
    resp = client.post(
        "/api/v1/bidding/sections/999999/objections",
        json={"body": "x"},
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert resp.status_code == 404  # through the guard and CSRF to the view: no such section


def _read_all(readinto: Any, piece: int = 256 * 1024) -> bytes:
    out = bytearray()
    buf = bytearray(piece)
    while n := readinto(memoryview(buf)):
        out += buf[:n]
    return bytes(out)


@pytest.mark.parametrize("ahead", [0, 1000, 4 * MB])
def test_a_gunicorn_body_is_read_from_its_socket_and_never_past_its_end(
    app: Any, ahead: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An envelope body under gunicorn is read with ``recv_into`` after what gunicorn read ahead of it
    (``ahead`` bytes with the headers; the whole body and the next request when it is short): exactly the
    body, gunicorn's count of it is used up, and the next request's bytes stay with gunicorn."""
    import os
    import threading

    from gunicorn.http.body import Body, LengthReader
    from gunicorn.http.unreader import SocketUnreader

    from app.core.bodies import length_readinto

    body = os.urandom(3 * MB + 123)
    following = b"GET /next HTTP/1.1\r\n\r\n"
    stream = body + following
    ours, client = socket.socketpair()
    unreader = SocketUnreader(ours)
    unreader.unread(stream[:ahead])
    sender = threading.Thread(target=client.sendall, args=(stream[ahead:],))
    sender.start()
    reader = LengthReader(unreader, len(body))
    environ = {"wsgi.input": Body(reader), "CONTENT_LENGTH": str(len(body))}

    def not_through_gunicorn(*args: Any) -> bytes:
        raise AssertionError("read through gunicorn's body reader")

    with app.test_request_context("/", method="PUT", environ_overrides=environ):
        monkeypatch.setattr(LengthReader, "read", not_through_gunicorn)
        assert _read_all(length_readinto(len(body))) == body
        monkeypatch.undo()
    sender.join()
    client.close()
    assert reader.length == 0 and Body(reader).read() == b""
    assert unreader.read() + _recv_rest(ours) == following
    ours.close()


def _recv_rest(sock: socket.socket) -> bytes:
    data = b""
    while piece := sock.recv(65536):
        data += piece
    return data
