"""The opening key ceremony: one X25519 age identity per section, split at once into SLIP-39 shares.

Pure functions, no database: :func:`generate_opening_key` makes the identity, splits the 32 secret bytes
(the bech32 payload of ``AGE-SECRET-KEY-1…``) into ``n`` SLIP-39 mnemonics of which any ``k`` rebuild it,
and encrypts each mnemonic to its custodian's personal age recipient. Only the public recipient and the
ciphertext shares leave this module; the identity object goes out of scope when the function returns and
is never written, logged or put in an exception message.

Trust boundary (SPEC §3.1): the server sees the key for the instant of generation. Everything after that
needs ``k`` custodians. :func:`rebuild_identity` turns ``k`` decrypted mnemonics back into the identity,
in memory only, for the ceremony.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import pyrage
import shamir_mnemonic
from flask_babel import lazy_gettext as _l

SECRET_HRP = "age-secret-key-"  # noqa: S105 - the bech32 prefix of age identities, not a secret
RECIPIENT_HRP = "age"

# --------------------------------------------------------------------------------------------------------
# bech32 (BIP-173), as age uses it for keys
# --------------------------------------------------------------------------------------------------------

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: Sequence[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= _GEN[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: Sequence[int], frm: int, to: int, *, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << to) - 1
    for value in data:
        acc = (acc << frm) | value
        bits += frm
        while bits >= to:
            bits -= to
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to - bits)) & maxv)
    elif bits >= frm or ((acc << (to - bits)) & maxv):
        raise ValueError("invalid bech32 padding")
    return out


def bech32_encode(hrp: str, payload: bytes) -> str:
    data = _convert_bits(payload, 8, 5, pad=True)
    polymod = _polymod([*_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in data + checksum)


def bech32_decode(text: str) -> tuple[str, bytes]:
    if text.lower() != text and text.upper() != text:
        raise ValueError("mixed-case bech32")
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text):
        raise ValueError("not bech32")
    hrp, rest = text[:pos], text[pos + 1 :]
    try:
        data = [_CHARSET.index(c) for c in rest]
    except ValueError:
        raise ValueError("invalid bech32 character") from None
    if _polymod([*_hrp_expand(hrp), *data]) != 1:
        raise ValueError("bad bech32 checksum")
    return hrp, bytes(_convert_bits(data[:-6], 5, 8, pad=False))


def identity_secret_bytes(identity: pyrage.x25519.Identity) -> bytes:
    hrp, raw = bech32_decode(str(identity))
    if hrp != SECRET_HRP or len(raw) != 32:
        raise ValueError("not an age X25519 identity")
    return raw


def identity_from_secret(raw: bytes) -> pyrage.x25519.Identity:
    return pyrage.x25519.Identity.from_str(bech32_encode(SECRET_HRP, raw).upper())


def is_valid_recipient(text: str) -> bool:
    """An age X25519 recipient ``age1…`` (checked by bech32 and by pyrage itself)."""
    try:
        hrp, raw = bech32_decode(text.strip())
        pyrage.x25519.Recipient.from_str(text.strip())
    except (ValueError, pyrage.RecipientError):
        return False
    return hrp == RECIPIENT_HRP and len(raw) == 32 and text.strip() == text.strip().lower()


# --------------------------------------------------------------------------------------------------------
# The ceremony
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncryptedShare:
    member_index: int
    custodian_recipient: str
    ciphertext: bytes
    """age file (binary) of the SLIP-39 mnemonic, encrypted to ``custodian_recipient``."""


@dataclass(frozen=True)
class OpeningKeyMaterial:
    recipient: str
    threshold: int
    shares: list[EncryptedShare]
    identifier: int
    """The SLIP-39 set identifier: a share whose identifier differs belongs to another section's key."""


def generate_opening_key(custodian_recipients: Sequence[str], threshold: int) -> OpeningKeyMaterial:
    """Generate a section's identity, split it k-of-n, encrypt share ``i`` to custodian ``i``."""
    n = len(custodian_recipients)
    if threshold < 2:
        raise ValueError("the threshold must be at least 2")
    if n < threshold:
        raise ValueError("fewer custodians than the threshold")
    if n > 16:
        raise ValueError("at most 16 custodians")
    recipients = [pyrage.x25519.Recipient.from_str(r) for r in custodian_recipients]
    identity = pyrage.x25519.Identity.generate()
    public = str(identity.to_public())
    groups = shamir_mnemonic.generate_mnemonics(
        1, [(threshold, n)], identity_secret_bytes(identity), passphrase=b"", extendable=False
    )
    del identity
    mnemonics = groups[0]
    identifier = shamir_mnemonic.share.Share.from_mnemonic(mnemonics[0]).identifier
    shares = [
        EncryptedShare(i, custodian_recipients[i], pyrage.encrypt(m.encode(), [recipients[i]]))
        for i, m in enumerate(mnemonics)
    ]
    del mnemonics, groups
    return OpeningKeyMaterial(public, threshold, shares, identifier)


class ShareError(ValueError):
    """Its message is said to people (the custodian at the opening, the postponed ceremony): translated when
    shown, in the language of whoever reads it then."""


def parse_share(mnemonic: str) -> shamir_mnemonic.share.Share:
    """A SLIP-39 share from its words (checksum verified), or :class:`ShareError`."""
    words = " ".join(mnemonic.strip().lower().split())
    try:
        return shamir_mnemonic.share.Share.from_mnemonic(words)
    except (shamir_mnemonic.MnemonicError, ValueError, KeyError):
        raise ShareError(_l("This is not a valid SLIP-39 share (check the words).")) from None


def rebuild_identity(mnemonics: Sequence[str], expected_recipient: str) -> pyrage.x25519.Identity:
    """Combine ``k`` shares into the identity (in memory) and check it matches the section's recipient."""
    try:
        secret = shamir_mnemonic.combine_mnemonics([" ".join(m.strip().lower().split()) for m in mnemonics])
    except (shamir_mnemonic.MnemonicError, ValueError):
        raise ShareError(_l("The shares do not combine (too few, or from different keys).")) from None
    identity = identity_from_secret(secret)
    del secret
    if str(identity.to_public()) != expected_recipient:
        raise ShareError(_l("The shares rebuild a key that is not this section's opening key."))
    return identity


def new_upload_token() -> str:
    return secrets.token_urlsafe(24)
