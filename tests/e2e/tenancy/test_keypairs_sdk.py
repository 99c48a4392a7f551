"""Keypairs with openstacksdk: generate (private key once), import, x509, list, show,
delete, an admin naming the owner (2.10), and booting with a key on three hosts."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from openstack import exceptions as sdk_exceptions
from openstack.connection import Connection

from .conftest import (
    HOSTS,
    SDK_WARNINGS,
    Tenant,
    boot,
    expect_usage,
    host_of,
    usage,
    wait_active,
)

pytestmark = [pytest.mark.e2e, *SDK_WARNINGS]


def _public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode() + " e2e@test"


def _md5(public_key: str) -> str:
    digest = hashlib.md5(base64.b64decode(public_key.split()[1]),
                         usedforsecurity=False).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def test_keypair_life_cycle_and_boot(tenant: Tenant, admin: Connection) -> None:
    conn = tenant.member
    generated = conn.compute.create_keypair(name="gen")
    assert generated.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert generated.fingerprint == _md5(generated.public_key)
    assert generated.type == "ssh"
    shown = conn.compute.get_keypair("gen")
    assert shown.private_key is None  # only the create answer carries it
    assert (shown.public_key, shown.fingerprint) == (generated.public_key,
                                                     generated.fingerprint)
    public = _public_key()
    imported = conn.compute.create_keypair(name="imported", public_key=public)
    assert imported.private_key is None and imported.fingerprint == _md5(public)
    cert = conn.compute.create_keypair(name="cert", type="x509")
    assert cert.type == "x509" and cert.public_key.startswith("-----BEGIN CERTIFICATE-----")
    assert sorted(k.name for k in conn.compute.keypairs()) == ["cert", "gen", "imported"]
    with pytest.raises(sdk_exceptions.ConflictException):
        conn.compute.create_keypair(name="gen")

    # An admin sees (and may manage) a user's keypairs by naming the user (2.10).
    owner = shown.user_id
    assert sorted(k.name for k in admin.compute.keypairs(user_id=owner)) == [
        "cert", "gen", "imported"]
    assert admin.compute.get_keypair("imported", user_id=owner).public_key == public
    assert "imported" not in {k.name for k in admin.compute.keypairs()}

    before = usage(admin)
    server = wait_active(conn, boot(conn, "keyed", key_name="imported"))
    assert server.key_name == "imported"
    host = host_of(admin, server.id)
    assert host in HOSTS
    expect_usage(admin, before, {host: 1})

    conn.compute.delete_keypair("gen")
    with pytest.raises(sdk_exceptions.NotFoundException):
        conn.compute.get_keypair("gen")
    with pytest.raises(sdk_exceptions.BadRequestException):
        boot(conn, "no-such-key", key_name="gen")
    # The server keeps its key name after the keypair is gone.
    conn.compute.delete_keypair("imported")
    assert conn.compute.get_server(server.id).key_name == "imported"


def test_reader_lists_but_cannot_create(tenant: Tenant) -> None:
    reader = tenant.user("reader")
    assert list(reader.compute.keypairs()) == []
    with pytest.raises(sdk_exceptions.ForbiddenException):
        reader.compute.create_keypair(name="nope")
