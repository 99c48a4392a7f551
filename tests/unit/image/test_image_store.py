"""The filesystem store: atomic commit, nothing left by an abort, hashes, sweep."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from novalith.exceptions import UnknownPlugin
from novalith.image.stores import FilesystemStore, ImageDataNotFound, StoreError, load_store


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStore:
    return FilesystemStore(str(tmp_path / "images"))


def test_put_returns_location_size_and_hashes(store: FilesystemStore) -> None:
    chunks = [os.urandom(300_000), b"", os.urandom(1_500_000), b"tail"]
    data = b"".join(chunks)
    stored = store.put("img-1", chunks)
    assert stored.location == "file://" + os.path.join(store.datadir, "img-1")
    assert stored.size == len(data)
    assert stored.checksum == hashlib.md5(data).hexdigest()
    assert (stored.os_hash_algo, stored.os_hash_value) == ("sha512",
                                                           hashlib.sha512(data).hexdigest())
    assert store.exists(stored.location)
    assert b"".join(store.get(stored.location)) == data
    with store.open(stored.location, offset=10, length=5) as reader:
        assert reader.size == 5 and reader.read() == data[10:15] and reader.read() == b""


def test_nothing_is_visible_until_commit_and_abort_leaves_nothing(
        store: FilesystemStore) -> None:
    writer = store.open_writer("img-2")
    writer.write(b"x" * 4096)
    assert os.listdir(store.datadir) != [] and not os.path.exists(
        os.path.join(store.datadir, "img-2"))
    writer.abort()
    writer.abort()  # idempotent
    assert os.listdir(store.datadir) == []
    with pytest.raises(StoreError):
        writer.write(b"more")


def test_leaving_the_with_block_without_commit_aborts(store: FilesystemStore) -> None:
    with pytest.raises(RuntimeError), store.open_writer("img-3") as writer:
        writer.write(b"partial")
        raise RuntimeError("client went away")
    assert os.listdir(store.datadir) == []


def test_delete_is_idempotent_and_missing_data_is_not_found(store: FilesystemStore) -> None:
    stored = store.put("img-4", [b"abc"])
    store.delete(stored.location)
    store.delete(stored.location)
    assert not store.exists(stored.location)
    with pytest.raises(ImageDataNotFound):
        store.open(stored.location)


def test_locations_outside_the_store_are_refused(store: FilesystemStore, tmp_path: Path
                                                 ) -> None:
    outside = tmp_path / "secret"
    outside.write_bytes(b"no")
    for location in (f"file://{outside}", f"file://{store.datadir}/../secret",
                     "http://example.invalid/x"):
        with pytest.raises(StoreError):
            store.open(location)
        with pytest.raises(StoreError):
            store.delete(location)
    assert outside.exists()
    with pytest.raises(StoreError):
        store.open_writer("../escape")


def test_sweep_removes_partials_and_orphans_but_keeps_known_data(
        store: FilesystemStore) -> None:
    kept_id, orphan_id, partial_id = (str(uuid.uuid4()) for _ in range(3))
    kept = store.put(kept_id, [b"1"])
    orphan = store.put(orphan_id, [b"2"])
    store.open_writer(partial_id).write(b"3")  # never committed: a crash's leftover
    Path(store.datadir, "not-ours.sqlite").write_bytes(b"someone else's")
    assert store.sweep({kept.location}) == 2
    assert sorted(os.listdir(store.datadir)) == sorted([kept_id, "not-ours.sqlite"])
    assert not store.exists(orphan.location)


def test_load_store_knows_file_and_names_what_is_installed(tmp_path: Path) -> None:
    assert isinstance(load_store("file", str(tmp_path / "d")), FilesystemStore)
    with pytest.raises(UnknownPlugin, match="file"):
        load_store("s3-not-installed", str(tmp_path / "d"))
