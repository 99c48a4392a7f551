"""The Image API over real HTTP: shapes, errors, streaming, paging, cut-off uploads."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.cloud import RunningCloud, start_cloud

FAST_HASHES: dict[str, dict[str, Any]] = {"identity": {"password_hash_cost": 10}}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("image-api"), overrides=FAST_HASHES)
    yield running
    running.close()


@pytest.fixture
def api(cloud: RunningCloud) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cloud.base_url + "/image/v2",
                      headers={"X-Auth-Token": cloud.token()}, timeout=30) as client:
        yield client


def store_dir(cloud: RunningCloud) -> Path:
    return Path(cloud.cloud.image_service.store.datadir)  # type: ignore[attr-defined]


def create(api: httpx.Client, **body: Any) -> dict[str, Any]:
    resp = api.post("/images", json={"disk_format": "raw", "container_format": "bare", **body})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def glance_error(resp: httpx.Response, status: int, *parts: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"code", "title", "message"} and body["code"].startswith(str(status))
    for part in parts:
        assert part in body["message"], body


def test_version_discovery(cloud: RunningCloud) -> None:
    resp = httpx.get(cloud.base_url + "/image")
    assert resp.status_code == 300
    current = resp.json()["versions"][0]
    assert current["status"] == "CURRENT"
    assert current["links"][0]["href"] == cloud.base_url + "/image/v2/"
    assert httpx.get(cloud.base_url + "/image/versions").status_code == 200


def test_authentication_comes_first(cloud: RunningCloud) -> None:
    resp = httpx.post(cloud.base_url + "/image/v2/images", content=b"{not json")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == 401
    assert "WWW-Authenticate" in resp.headers


def test_upload_download_round_trip(cloud: RunningCloud, api: httpx.Client) -> None:
    image = create(api, name="round-trip", os_distro="debian", tags=["t1"])
    created = api.get(f"/images/{image['id']}")
    assert created.json()["status"] == "queued"
    assert api.get(f"/images/{image['id']}/file").status_code == 204  # no data yet
    data = os.urandom(5 * 1024 * 1024 + 3)

    def body() -> Iterator[bytes]:  # chunked transfer encoding, no Content-Length
        for i in range(0, len(data), 700_000):
            yield data[i:i + 700_000]

    resp = api.put(f"/images/{image['id']}/file", content=body(), headers=OCTETS)
    assert resp.status_code == 204, resp.text
    shown = api.get(f"/images/{image['id']}").json()
    assert shown["status"] == "active" and shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert shown["virtual_size"] == len(data)  # raw
    with api.stream("GET", f"/images/{image['id']}/file") as resp:
        assert resp.status_code == 200
        assert resp.headers["content-length"] == str(len(data))
        assert resp.headers["content-md5"] == shown["checksum"]
        assert resp.headers["content-type"] == "application/octet-stream"
        assert b"".join(resp.iter_bytes()) == data
    ranged = api.get(f"/images/{image['id']}/file", headers={"Range": "bytes=-10"})
    assert ranged.status_code == 206 and ranged.content == data[-10:]
    assert ranged.headers["content-range"] == f"bytes {len(data) - 10}-{len(data) - 1}/{len(data)}"
    glance_error(api.get(f"/images/{image['id']}/file",
                         headers={"Range": f"bytes={len(data)}-"}), 416)
    assert cloud.cloud.image_service.download_count(image["id"]) == 2
    glance_error(api.put(f"/images/{image['id']}/file", content=b"again", headers=OCTETS),
                 409, "active to saving")


def test_create_answers_201_with_location(cloud: RunningCloud, api: httpx.Client) -> None:
    resp = api.post("/images", json={"name": "located"})
    assert resp.status_code == 201
    assert resp.headers["location"] == (f"{cloud.base_url}/image/v2/images/"
                                        f"{resp.json()['id']}")


@pytest.mark.parametrize("method, path, kwargs, status, message", [
    ("POST", "/images", {"content": b"{not json"}, 400, "Malformed JSON"),
    ("POST", "/images", {"json": {"status": "active"}}, 403, "read-only"),
    ("POST", "/images", {"json": {"disk_format": "exe"}}, 400, "is not one of"),
    ("POST", "/images", {"json": {"min_ram": "lots"}}, 400, "integer"),
    ("GET", "/images/no-such-image", {}, 404, "No image found"),
    ("GET", "/images?sort_key=color", {}, 400, "Invalid sort key"),
    ("GET", "/images?limit=ten", {}, 400, "limit param"),
    ("GET", "/images?marker=00000000-0000-0000-0000-000000000000", {}, 400, "marker"),
    ("GET", "/no-such-route", {}, 404, ""),
    ("DELETE", "/images/no-such-image", {}, 404, "No image found"),
])
def test_errors_have_glance_shape(api: httpx.Client, method: str, path: str,
                                  kwargs: dict[str, Any], status: int, message: str) -> None:
    glance_error(api.request(method, path, **kwargs), status, message)


def test_patch_needs_the_patch_media_type(api: httpx.Client) -> None:
    image = create(api, name="patchy")
    ops = [{"op": "add", "path": "/hw_rng_model", "value": "virtio"}]
    glance_error(api.patch(f"/images/{image['id']}", json=ops), 415, "json-patch")
    resp = api.patch(f"/images/{image['id']}", json=ops, headers=PATCH)
    assert resp.status_code == 200 and resp.json()["hw_rng_model"] == "virtio"
    glance_error(api.patch(f"/images/{image['id']}", headers=PATCH,
                           json=[{"op": "replace", "path": "/size", "value": 1}]),
                 403, "read-only")
    glance_error(api.patch(f"/images/{image['id']}", headers=PATCH,
                           json=[{"op": "replace", "path": "/nope", "value": "1"}]),
                 409, "does not exist")
    glance_error(api.put(f"/images/{image['id']}/file", content=b"x",
                         headers={"Content-Type": "text/plain"}), 415)


def test_tags_actions_and_protection(api: httpx.Client) -> None:
    image = create(api, name="tagged", protected=True)
    assert api.put(f"/images/{image['id']}/tags/blue").status_code == 204
    assert api.get(f"/images/{image['id']}").json()["tags"] == ["blue"]
    assert [i["name"] for i in api.get("/images?tag=blue").json()["images"]] == ["tagged"]
    assert api.delete(f"/images/{image['id']}/tags/blue").status_code == 204
    glance_error(api.delete(f"/images/{image['id']}/tags/blue"), 404)
    glance_error(api.post(f"/images/{image['id']}/actions/deactivate"), 403, "queued")
    glance_error(api.delete(f"/images/{image['id']}"), 403, "protected")
    api.patch(f"/images/{image['id']}", headers=PATCH,
              json=[{"op": "replace", "path": "/protected", "value": False}])
    assert api.delete(f"/images/{image['id']}").status_code == 204


def test_paging_follows_next_links(api: httpx.Client) -> None:
    made = {create(api, name=f"page-{i}", os_purpose="paging")["id"] for i in range(5)}
    seen: list[str] = []
    url: str | None = "/images?os_purpose=paging&limit=2&sort=name:asc"
    while url:
        body = api.get(url).json()
        seen += [i["id"] for i in body["images"]]
        nxt = body.get("next")
        url = nxt[len("/v2"):] if nxt else None
    assert len(seen) == 5 and set(seen) == made
    names = [api.get(f"/images/{i}").json()["name"] for i in seen]
    assert names == sorted(names)


def test_schemas(api: httpx.Client) -> None:
    for name in ("image", "images", "member", "members"):
        resp = api.get(f"/schemas/{name}")
        assert resp.status_code == 200 and resp.json()["name"] == name
    props = api.get("/schemas/image").json()["properties"]
    assert "qcow2" in props["disk_format"]["enum"] and props["checksum"]["readOnly"]


def _cut_off_upload(cloud: RunningCloud, image_id: str, sent: int, claimed: int) -> None:
    """PUT with a Content-Length larger than the body, then close the socket."""
    host, port = cloud.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall((f"PUT /image/v2/images/{image_id}/file HTTP/1.1\r\n"
                      f"Host: {host}\r\nX-Auth-Token: {cloud.token()}\r\n"
                      "Content-Type: application/octet-stream\r\n"
                      f"Content-Length: {claimed}\r\n\r\n").encode())
        chunk = b"\x5a" * 65536
        for _ in range(sent // len(chunk)):
            sock.sendall(chunk)


def test_an_upload_cut_off_half_way_leaves_the_image_queued_and_no_partial_file(
        cloud: RunningCloud, api: httpx.Client) -> None:
    image = create(api, name="cut-off")
    before = sorted(os.listdir(store_dir(cloud)))
    _cut_off_upload(cloud, image["id"], sent=4 * 1024 * 1024, claimed=64 * 1024 * 1024)
    deadline = time.monotonic() + 10
    while api.get(f"/images/{image['id']}").json()["status"] != "queued":
        assert time.monotonic() < deadline, "the image stayed in saving"
        time.sleep(0.05)
    assert sorted(os.listdir(store_dir(cloud))) == before
    # The client may simply try again.
    resp = api.put(f"/images/{image['id']}/file", content=b"complete", headers=OCTETS)
    assert resp.status_code == 204
    assert api.get(f"/images/{image['id']}").json()["size"] == 8


def _rss_kib() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


def test_upload_and_download_never_hold_the_image_in_memory(api: httpx.Client) -> None:
    """256 MiB through the API (client, server and store all in this process): the
    process grows by far less than the image (whole-image buffering would add 256+)."""
    size, block = 256 * 1024 * 1024, b"\x01" * (1024 * 1024)
    image = create(api, name="big")
    peak = {"rss": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak["rss"] = max(peak["rss"], _rss_kib())
            done.wait(0.01)

    base = _rss_kib()
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        resp = api.put(f"/images/{image['id']}/file", headers=OCTETS,
                       content=(block for _ in range(size // len(block))))
        assert resp.status_code == 204, resp.text
        received = 0
        with api.stream("GET", f"/images/{image['id']}/file") as down:
            for chunk in down.iter_raw(1024 * 1024):
                received += len(chunk)
        assert received == size
    finally:
        done.set()
        sampler.join()
    growth_mib = (peak["rss"] - base) / 1024
    assert growth_mib < 100, f"RSS grew by {growth_mib:.0f} MiB"
    assert api.delete(f"/images/{image['id']}").status_code == 204


def test_a_stalled_upload_is_abandoned_after_the_idle_timeout(tmp_path: Path) -> None:
    cloud = start_cloud(tmp_path, overrides={**FAST_HASHES,
                                             "image": {"upload_idle_timeout": 1}})
    try:
        with httpx.Client(base_url=cloud.base_url + "/image/v2", timeout=30,
                          headers={"X-Auth-Token": cloud.token()}) as api:
            image = create(api, name="stalled")
            host, port = cloud.base_url.removeprefix("http://").split(":")
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall((f"PUT /image/v2/images/{image['id']}/file HTTP/1.1\r\n"
                              f"Host: {host}\r\nX-Auth-Token: {cloud.token()}\r\n"
                              "Content-Type: application/octet-stream\r\n"
                              "Content-Length: 1000000\r\n\r\n").encode() + b"x" * 1000)
                answer = sock.recv(4096).decode()  # then nothing more is sent
            assert answer.startswith("HTTP/1.1 408"), answer
            assert api.get(f"/images/{image['id']}").json()["status"] == "queued"
            assert os.listdir(store_dir(cloud)) == [cloud.image_id]
    finally:
        cloud.close()
