from __future__ import annotations

import pytest

from novalith.identity import passwords


def test_hash_is_self_describing_and_salted() -> None:
    a = passwords.hash_password("s3cret", cost=10)
    b = passwords.hash_password("s3cret", cost=10)
    assert a != b
    scheme, cost, r, p, salt, key = a.split("$")
    assert (scheme, cost, r, p) == ("scrypt", "10", "8", "1")
    assert salt and key and "s3cret" not in a


def test_verify_right_and_wrong() -> None:
    stored = passwords.hash_password("correct horse", cost=10)
    assert passwords.verify_password("correct horse", stored)
    assert not passwords.verify_password("correct hors", stored)
    assert not passwords.verify_password("", stored)


def test_verify_uses_the_stored_cost() -> None:
    stored = passwords.hash_password("pw", cost=11)
    assert passwords.verify_password("pw", stored)


def test_unicode_password() -> None:
    stored = passwords.hash_password("pässwörd✓", cost=10)
    assert passwords.verify_password("pässwörd✓", stored)
    assert not passwords.verify_password("passwort", stored)


@pytest.mark.parametrize("stored", [
    "", "!", "plain", "md5$10$8$1$abc$def", "scrypt$x$8$1$AAAA$AAAA",
    "scrypt$10$8$1$not-base64!$AAAA", "scrypt$40$8$1$AAAA$AAAA",
])
def test_malformed_hash_never_matches(stored: str) -> None:
    assert not passwords.verify_password("anything", stored)


def test_cost_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        passwords.hash_password("pw", cost=0)


def test_dummy_verify_returns_nothing() -> None:
    assert passwords.dummy_verify("pw", cost=10) is None
