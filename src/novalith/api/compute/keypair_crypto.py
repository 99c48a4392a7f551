"""Keypair material: generate a key (ssh or x509) and fingerprint a public key.

- ssh: RSA 2048; the private key in PEM (what ``ssh -i`` reads), the public key in
  OpenSSH format; the fingerprint is the MD5 of the key blob, colon-separated hex
  (what ``ssh-keygen -l -E md5`` prints and Nova shows).
- x509: a self-signed certificate with CN = the user id (for WinRM-style logins);
  the "public key" is the certificate in PEM, the fingerprint the SHA-1 of its DER
  form, colon-separated hex.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from novalith import exceptions

SSH, X509 = "ssh", "x509"
_COMMENT = "Generated-by-Novalith"


@dataclass(frozen=True)
class KeyMaterial:
    public_key: str
    private_key: str | None
    fingerprint: str


def _colons(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def _invalid() -> exceptions.Invalid:
    return exceptions.Invalid("Keypair data is invalid: failed to generate fingerprint")


def ssh_fingerprint(public_key: str) -> str:
    """MD5 fingerprint of an OpenSSH public key line; 400 if it is not one."""
    parts = public_key.strip().split()
    if len(parts) < 2:
        raise _invalid()
    try:
        serialization.load_ssh_public_key(" ".join(parts[:2]).encode())
        blob = base64.b64decode(parts[1], validate=True)
    except (ValueError, binascii.Error, TypeError, UnsupportedAlgorithm):
        raise _invalid() from None
    return _colons(hashlib.md5(blob, usedforsecurity=False).digest())


def x509_fingerprint(certificate: str) -> str:
    """SHA-1 fingerprint of a PEM certificate; 400 if it is not one."""
    try:
        cert = x509.load_pem_x509_certificate(certificate.encode())
    except (ValueError, TypeError):
        raise _invalid() from None
    der = cert.public_bytes(serialization.Encoding.DER)
    return _colons(hashlib.sha1(der, usedforsecurity=False).digest())


def fingerprint(key_type: str, public_key: str) -> str:
    return x509_fingerprint(public_key) if key_type == X509 else ssh_fingerprint(public_key)


def _private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def generate_ssh() -> KeyMaterial:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    public = f"{public} {_COMMENT}\n"
    return KeyMaterial(public_key=public, private_key=_private_pem(key),
                       fingerprint=ssh_fingerprint(public))


def generate_x509(user_id: str) -> KeyMaterial:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id or "novalith")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return KeyMaterial(public_key=pem, private_key=_private_pem(key),
                       fingerprint=x509_fingerprint(pem))


def generate(key_type: str, user_id: str) -> KeyMaterial:
    return generate_x509(user_id) if key_type == X509 else generate_ssh()
