"""Configuration from the environment with safe defaults.

Secrets that are not given in the environment are generated once and kept in the instance folder
(never in the repository): the Flask secret key, the platform Ed25519 signing key and the data key
used to encrypt sensitive columns and decrypted bids at rest.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def _read_or_create(path: Path, make: Any) -> bytes:
    """Return the file's bytes, creating it atomically with mode 0600 when missing."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    data: bytes = make()
    tmp = path.with_suffix(path.suffix + f".{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        # link() refuses to overwrite: if another worker won the race, keep its key.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return path.read_bytes()


def _new_signing_key() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def load_config(instance_path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the configuration mapping; ``overrides`` (tests) win over the environment."""
    overrides = dict(overrides or {})
    # INSTANCE_PATH in the environment: per-node instance folder (several nodes on one machine, rehearsal).
    instance = Path(overrides.pop("INSTANCE_PATH", None) or os.environ.get("INSTANCE_PATH") or instance_path)
    env = os.environ
    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'platform.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://") :]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]

    secret_key = (
        env.get("SECRET_KEY")
        or _read_or_create(instance / "secret_key", lambda: secrets.token_hex(32).encode()).decode()
    )
    signing_key_pem = (
        env["PLATFORM_SIGNING_KEY"].encode()
        if env.get("PLATFORM_SIGNING_KEY")
        else _read_or_create(instance / "platform_signing_key.pem", _new_signing_key)
    )
    data_key = (
        env.get("DATA_KEY")
        or _read_or_create(instance / "data_key", lambda: secrets.token_urlsafe(32).encode()).decode()
    )

    config: dict[str, Any] = {
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": secret_key,
        "PLATFORM_SIGNING_KEY_PEM": signing_key_pem,
        "DATA_KEY": data_key,
        # Earlier data keys, newest first: they still decrypt and verify until `flask keys rotate-data` ran.
        "DATA_KEYS_RETIRED": env.get("DATA_KEYS_RETIRED", "").replace(",", " ").split(),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": env.get("REDIS_URL") or None,
        "BLOB_DIR": env.get("BLOB_DIR") or str(instance / "blobs"),
        # The CJK font of the printed records (PDF): a .ttc/.otc collection (face PDF_CJK_FONT_INDEX, 2 =
        # Simplified Chinese in Noto CJK) or a .otf/.ttf; unset, Debian's fonts-noto-cjk is looked for
        # (app/core/printing.py).
        "PDF_CJK_FONT": env.get("PDF_CJK_FONT") or None,
        "PDF_CJK_FONT_BOLD": env.get("PDF_CJK_FONT_BOLD") or None,
        "PDF_CJK_FONT_INDEX": int(env.get("PDF_CJK_FONT_INDEX", "2")),
        "AUDIT_ORIGIN": env.get("AUDIT_ORIGIN", "ggzy.example.gov.cn/audit-log"),
        "AUDIT_CHECKPOINT_EVERY": int(env.get("AUDIT_CHECKPOINT_EVERY", "1000")),
        # Sign a checkpoint once the log has grown and the newest one is this many seconds old (checked when
        # an appending transaction commits, when the latest checkpoint is fetched, and by
        # `flask audit checkpoint --if-due` from cron); `flask audit verify` fails when the leaves after the
        # newest checkpoint span more than the interval plus the grace (checkpoints were deleted).
        "AUDIT_CHECKPOINT_INTERVAL": float(env.get("AUDIT_CHECKPOINT_INTERVAL", "60")),
        "AUDIT_CHECKPOINT_GRACE": float(env.get("AUDIT_CHECKPOINT_GRACE", "600")),
        # A witness state directory (`ggzy-audit witness --state DIR`) that `flask audit verify` checks.
        "AUDIT_WITNESS_STATE": env.get("AUDIT_WITNESS_STATE") or None,
        # Cookies are Secure unless explicitly served over plain http on loopback (make run).
        "SESSION_COOKIE_SECURE": _env_bool("SESSION_COOKIE_SECURE", False),
        "SESSION_COOKIE_NAME": "session",
        "SESSION_COOKIE_PATH": "/",
        "SESSION_COOKIE_DOMAIN": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _env_bool("SESSION_COOKIE_SECURE", False),
        "SESSION_IDLE_MINUTES": int(env.get("SESSION_IDLE_MINUTES", "30")),
        "SESSION_ABSOLUTE_HOURS": int(env.get("SESSION_ABSOLUTE_HOURS", "12")),
        "STEP_UP_SECONDS": int(env.get("STEP_UP_SECONDS", "300")),
        # Coarse flood control of the sign-in forms per address (Redis, else per worker). The security
        # counters — failures per account and source, per source, per account's codes — are the shared ones of
        # app.core.throttle, whatever this says.
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT", "60 per minute"),
        # Reverse proxies in front of gunicorn (nginx: 1). Their X-Forwarded-For/-Proto are trusted so rate
        # limits, sessions and audit leaves see the client address, not the proxy's. 0: no proxy.
        "PROXY_HOPS": int(env.get("PROXY_HOPS", "0")),
        # The platform's public address: every link sent out of band (credential links, invitations, the
        # verification link on printed records) is built on it, never on the request's Host header.
        "PUBLIC_BASE_URL": env.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        "WTF_CSRF_TIME_LIMIT": None,  # tied to the session instead of a clock
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "LANGUAGES": ["zh_CN", "en"],
        "API_TITLE": "公共资源电子交易平台 API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "DEMO_CLOCK": _env_bool("DEMO_CLOCK", False),
        "MAX_FORM_MEMORY_SIZE": 2 * 1024 * 1024,
        # Request bodies (app/core/bodies.py): forms and JSON of signed-in users; public forms (sign-in,
        # reports, comments); routes taking files declare their own (@body_limit). Read timeouts: seconds of
        # silence, and the whole body within a base plus its size at a minimum rate.
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH", str(1024 * 1024))),
        "PUBLIC_MAX_CONTENT_LENGTH": int(env.get("PUBLIC_MAX_CONTENT_LENGTH", str(64 * 1024))),
        "BODY_READ_TIMEOUT": float(env.get("BODY_READ_TIMEOUT", "30")),
        "BODY_TIMEOUT_BASE": float(env.get("BODY_TIMEOUT_BASE", "60")),
        "BODY_MIN_RATE": int(env.get("BODY_MIN_RATE", str(32 * 1024))),
        # Live streams (app/core/streams.py): open streams per client address and in all, shared by every
        # worker and node through Redis; and how many a gthread worker may serve itself when no stream
        # service is in front (the embedded default), so that its other threads stay free for requests.
        "STREAMS_PER_IP": int(env.get("STREAMS_PER_IP", "20")),
        "STREAMS_TOTAL": int(env.get("STREAMS_TOTAL", "5000")),
        "STREAMS_PER_WORKER": int(env.get("STREAMS_PER_WORKER", "2")),
        "STREAM_HANDSHAKE_THREADS": int(env.get("STREAM_HANDSHAKE_THREADS", "8")),  # stream service only
        "BIDDING_SSE_SECONDS": float(env.get("BIDDING_SSE_SECONDS", "300")),  # an opening-hall stream's life
        "AUCTION_SSE_SECONDS": float(env.get("AUCTION_SSE_SECONDS", "300")),  # a listing's live stream's life
        "STREAMS_KEY_PREFIX": env.get("STREAMS_KEY_PREFIX", "ggzy:streams"),  # Redis keys of the counts
        # Resumable envelope uploads per bidder organization and section (app/bidding/uploads.py): at most
        # this many unfinished, declaring together at most this many times the section's envelope limit;
        # each expires after these hours and at the bid deadline.
        "RESUMABLE_UPLOADS_OPEN": int(env.get("RESUMABLE_UPLOADS_OPEN", "8")),
        "RESUMABLE_QUOTA_ENVELOPES": int(env.get("RESUMABLE_QUOTA_ENVELOPES", "4")),
        "RESUMABLE_UPLOAD_HOURS": float(env.get("RESUMABLE_UPLOAD_HOURS", "24")),
        "TESTING": False,
    }
    config.update(overrides)
    if config["SESSION_COOKIE_SECURE"] and "SESSION_COOKIE_NAME" not in overrides:
        # ASVS 3.3.3: behind TLS the cookie carries the __Host- prefix (Secure, Path=/, no Domain: host-only).
        config["SESSION_COOKIE_NAME"] = "__Host-session"
    return config
