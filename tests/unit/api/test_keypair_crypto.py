"""Keypair generation and fingerprints (ssh and x509)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from novalith import exceptions
from novalith.api.compute import keypair_crypto as kc

# An ed25519 key: its MD5 fingerprint as `ssh-keygen -l -E md5` prints it.
ED25519 = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJgsYmHPWGnkVRiPBDVGjYNLkVLJzgCeRVwu4DD5mg5 "
           "me@example")


def test_generated_ssh_key_pairs_up_and_fingerprints() -> None:
    material = kc.generate_ssh()
    assert material.private_key is not None
    private = serialization.load_pem_private_key(material.private_key.encode(), None)
    public_line = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    assert material.public_key.startswith(public_line + " ")
    blob = public_line.split()[1]
    digest = hashlib.md5(base64.b64decode(blob), usedforsecurity=False).hexdigest()
    assert material.fingerprint == ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def test_imported_key_fingerprint() -> None:
    fp = kc.ssh_fingerprint(ED25519)
    assert len(fp.split(":")) == 16
    assert fp == kc.fingerprint("ssh", ED25519 + "\n")


@pytest.mark.parametrize("bad", ["", "ssh-rsa", "ssh-rsa not-base64!", "hello world",
                                 "ssh-ed25519 AAAA"])
def test_bad_public_keys_are_400(bad: str) -> None:
    with pytest.raises(exceptions.Invalid, match="failed to generate fingerprint"):
        kc.ssh_fingerprint(bad)


def test_x509_generation_and_fingerprint() -> None:
    material = kc.generate_x509("user-1")
    cert = x509.load_pem_x509_certificate(material.public_key.encode())
    assert cert.subject.rfc4514_string() == "CN=user-1"
    sha1 = cert.fingerprint(hashes.SHA1()).hex()
    assert material.fingerprint == ":".join(sha1[i:i + 2] for i in range(0, 40, 2))
    with pytest.raises(exceptions.Invalid):
        kc.x509_fingerprint("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
