"""Password hashing with scrypt, stored as a self-describing string.

Format: ``scrypt$<log2 N>$<r>$<p>$<salt, base64>$<hash, base64>``. The stored
string names its own parameters, so raising the cost for new passwords never
breaks verification of old ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
DEFAULT_COST = 15  # log2(N)
_R = 8
_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(password: str, salt: bytes, cost: int, r: int, p: int) -> bytes:
    n = 1 << cost
    # scrypt needs 128 * r * N bytes (plus a little); give it room above that.
    maxmem = 128 * r * (n + p + 2) + (1 << 20)
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=maxmem, dklen=_KEY_BYTES)


def hash_password(password: str, cost: int = DEFAULT_COST) -> str:
    """Hash ``password`` with a fresh random salt; ``cost`` is log2 of scrypt's N."""
    if not 1 <= cost <= 24:
        raise ValueError(f"scrypt cost {cost} out of range")
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, cost, _R, _P)
    return f"{SCHEME}${cost}${_R}${_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """True if ``password`` matches ``stored``; False for a mismatch or a malformed hash."""
    try:
        scheme, cost_s, r_s, p_s, salt_s, key_s = stored.split("$")
        if scheme != SCHEME:
            return False
        cost, r, p = int(cost_s), int(r_s), int(p_s)
        if not (1 <= cost <= 24 and 1 <= r <= 64 and 1 <= p <= 16):
            return False
        salt = base64.b64decode(salt_s, validate=True)
        expected = base64.b64decode(key_s, validate=True)
    except ValueError:
        return False
    actual = _derive(password, salt, cost, r, p)
    return hmac.compare_digest(actual, expected)


# A hash of nothing in particular: verifying against it when a user does not exist
# makes "no such user" take as long as "wrong password".
_DUMMY_CACHE: dict[int, str] = {}


def dummy_verify(password: str, cost: int = DEFAULT_COST) -> None:
    """Spend the time a real verification would, then forget the result."""
    stored = _DUMMY_CACHE.get(cost)
    if stored is None:
        stored = _DUMMY_CACHE.setdefault(cost, hash_password(secrets.token_hex(16), cost))
    verify_password(password, stored)
