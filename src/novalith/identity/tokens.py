"""Token strings, their hashes, and the in-process cache of validated tokens.

Only the SHA-256 of a token is ever stored, in the database or in the cache; the
token itself exists only in the client's hands and in the response that issued it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
from collections import OrderedDict

from novalith.identity.records import TokenInfo

_TOKEN_BYTES = 48


def new_token() -> str:
    """A fresh unguessable token string (URL-safe, 64 characters)."""
    return secrets.token_urlsafe(_TOKEN_BYTES)


def new_audit_id() -> str:
    """An audit id as Keystone makes them: 16 random bytes, URL-safe base64, unpadded."""
    return secrets.token_urlsafe(16)


def token_hash(token: str) -> str:
    """The key a token is stored and cached under: hex SHA-256 of the token string."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenCache:
    """Validated tokens, each kept until ``min(expires_at, cached_at + ttl)``.

    Thread-safe. Keys are token hashes. When full, entries past their time are
    dropped first, then the oldest. A ``ttl`` of 0 disables the cache.
    """

    def __init__(self, ttl: float, max_size: int = 10000) -> None:
        self._ttl = dt.timedelta(seconds=ttl)
        self._max_size = max_size
        self._entries: OrderedDict[str, tuple[TokenInfo, dt.datetime]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._ttl > dt.timedelta(0)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, now: dt.datetime) -> TokenInfo | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            info, valid_until = entry
            if now >= valid_until:
                del self._entries[key]
                return None
            return info

    def put(self, key: str, info: TokenInfo, now: dt.datetime) -> None:
        if not self.enabled:
            return
        valid_until = min(info.expires_at, now + self._ttl)
        if valid_until <= now:
            return
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (info, valid_until)
            if len(self._entries) > self._max_size:
                self._shrink(now)

    def _shrink(self, now: dt.datetime) -> None:
        for key in [k for k, (_i, until) in self._entries.items() if until <= now]:
            del self._entries[key]
        while len(self._entries) > self._max_size:
            self._entries.popitem(last=False)

    def discard(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def discard_user(self, user_id: str, project_id: str | None = None) -> None:
        """Forget every token of ``user_id`` (only those scoped to ``project_id`` if given)."""
        with self._lock:
            doomed = [
                k for k, (info, _until) in self._entries.items()
                if info.user_id == user_id
                and (project_id is None or info.project_id == project_id)
            ]
            for key in doomed:
                del self._entries[key]

    def discard_project(self, project_id: str) -> None:
        with self._lock:
            doomed = [k for k, (info, _u) in self._entries.items()
                      if info.project_id == project_id]
            for key in doomed:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
