"""HttpImageClient: the ImageClient over the Image API, for services in other processes
(distributed mode) and for the ``novalith image`` command.

It authenticates once with a Keystone v3 password (or uses a given token), finds the
``image`` endpoint in the catalog (unless given one), and re-authenticates once when
a request answers 401. JSON calls go through httpx; image data streams both ways in
4 MiB chunks over http.client, which moves bulk data several times faster. A
download is written under a temporary name and verified (size, ``os_hash_value``,
``checksum``) before it is renamed into place.

The calls act as the service user, not as ``ctx``'s user (compute has no user token
to pass on): ``create`` records ``ctx.project_id`` as the image owner, which needs an
admin service user; ``list`` keeps to images ``ctx.project_id`` owns (what backup
rotation looks for); other reads rely on the compute API having checked the caller's
access to the image already, as Nova does.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
from oslo_config import cfg

from novalith import exceptions
from novalith.image.buffers import BufferPool
from novalith.image.client import ImageRecord
from novalith.image.patch import MEDIA_TYPES as PATCH_MEDIA_TYPES
from novalith.image.patch import format_patch
from novalith.image.stores import CHUNK_SIZE
from novalith.image.uncached_read import read_ahead
from novalith.image.verify import write_verified
from novalith.objects.context import RequestContext

Progress = Callable[[int], None]
_ERRORS: dict[int, type[exceptions.NovalithError]] = {
    400: exceptions.Invalid, 401: exceptions.NotAuthenticated, 403: exceptions.Forbidden,
    404: exceptions.ImageNotFound, 409: exceptions.Conflict, 410: exceptions.Gone,
    413: exceptions.PayloadTooLarge, 415: exceptions.UnsupportedMediaType,
    503: exceptions.ServiceUnavailable}
#: Bytes read from the socket at a time by a download (handed whole to the hash lanes).
DOWNLOAD_CHUNK = 4 * CHUNK_SIZE
#: Bytes read and sent at a time by an upload (progress is reported after each).
_SEND_CHUNK = 4 * CHUNK_SIZE

_RECORD_FIELDS = ("id", "name", "disk_format", "container_format", "size", "min_disk",
                  "min_ram", "checksum", "status", "owner", "visibility", "os_hash_algo",
                  "os_hash_value", "created_at")
_NOT_PROPERTIES = set(_RECORD_FIELDS) | {"tags", "self", "file", "schema", "updated_at",
                                         "virtual_size", "protected", "os_hidden",
                                         "direct_url", "locations", "stores"}


def error_for(status: int, body: bytes, what: str, reason: str = "") -> exceptions.NovalithError:
    """The novalith exception for an error answer, with the server's message."""
    message = reason
    try:
        parsed = json.loads(body)
        message = parsed.get("message") or parsed.get("error", {}).get("message") or message
    except (ValueError, AttributeError):
        pass
    cls = _ERRORS.get(status, exceptions.NovalithError)
    return cls(f"{what}: {status} {message}")


def raise_for(resp: httpx.Response) -> None:
    if resp.status_code >= 400:
        raise error_for(resp.status_code, resp.read(),
                        f"{resp.request.method} {resp.request.url.path}", resp.reason_phrase)


class _Reader:
    """A file whose reads report their size to ``progress`` (for http.client bodies)."""

    def __init__(self, path: str, progress: Progress | None) -> None:
        self.path = path
        self._fh = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by close())
        self._progress = progress

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n) or b""
        if data and self._progress is not None:
            self._progress(len(data))
        return data

    def send_to(self, sock: socket.socket) -> None:
        """All of the file to ``sock``, read a few chunks ahead and dropped from the
        page cache behind (see :func:`~novalith.image.uncached_read.read_ahead`):
        ``sendfile`` leaves the whole image cached, and taking fresh memory for it
        costs more CPU than the send (1.0-1.5 CPU-seconds per GiB on this VM)."""
        for view in read_ahead(self.path, _SEND_CHUNK):
            sock.sendall(view)
            if self._progress is not None:
                self._progress(len(view))

    def close(self) -> None:
        self._fh.close()


class KeystoneAuth:
    """A token and the image endpoint, from a Keystone v3 password or a fixed token."""

    def __init__(self, *, auth_url: str = "", username: str = "", password: str = "",
                 project_name: str = "admin", user_domain_name: str = "Default",
                 project_domain_name: str = "Default", token: str = "",
                 endpoint_override: str = "", interface: str = "public",
                 timeout: float = 60.0, verify: bool | str = True) -> None:
        if not token and not (auth_url and username):
            raise exceptions.Invalid("Image API client: need a token, or an auth_url and a "
                                     "username and password.")
        self.auth_url = auth_url.rstrip("/")
        self.username, self.password = username, password
        self.project_name = project_name
        self.user_domain_name, self.project_domain_name = user_domain_name, project_domain_name
        self.interface, self.timeout, self.verify = interface, timeout, verify
        self._fixed = bool(token)
        self._token = token
        self._endpoint = endpoint_override.rstrip("/")
        self.project_id: str | None = None
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            if not self._token:
                self._authenticate()
            return self._token

    def endpoint(self) -> str:
        with self._lock:
            if not self._endpoint:
                self._authenticate()
            if not self._endpoint:
                raise exceptions.ServiceUnavailable("The identity catalog lists no image "
                                                    "endpoint.")
            return self._endpoint

    def invalidate(self) -> bool:
        """Forget the token; False when it cannot be renewed (a fixed token)."""
        with self._lock:
            if self._fixed:
                return False
            self._token = ""
            return True

    def _authenticate(self) -> None:
        base = self.auth_url if self.auth_url.endswith("/v3") else self.auth_url + "/v3"
        if self._fixed:
            body: dict[str, Any] = {"auth": {"identity": {"methods": ["token"],
                                                          "token": {"id": self._token}}}}
        else:
            body = {"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": self.username, "domain": {"name": self.user_domain_name},
                    "password": self.password}}},
                "scope": {"project": {"name": self.project_name,
                                      "domain": {"name": self.project_domain_name}}}}}
        resp = httpx.post(base + "/auth/tokens", json=body, timeout=self.timeout,
                          verify=self.verify)
        raise_for(resp)
        if not self._fixed:
            self._token = resp.headers["X-Subject-Token"]
        token = resp.json()["token"]
        self.project_id = (token.get("project") or {}).get("id")
        for service in token.get("catalog", []):
            if service.get("type") == "image" and not self._endpoint:
                for ep in service.get("endpoints", []):
                    if ep.get("interface") == self.interface:
                        self._endpoint = str(ep["url"]).rstrip("/")


class HttpImageClient:
    def __init__(self, auth: KeystoneAuth, *, timeout: float = 60.0) -> None:
        self.auth = auth
        self.timeout = timeout
        self._http = httpx.Client(timeout=httpx.Timeout(timeout), verify=auth.verify,
                                  follow_redirects=False)

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> HttpImageClient:
        """From ``[glance]`` (service credentials and optional endpoint)."""
        g = conf.glance
        return cls(KeystoneAuth(auth_url=g.auth_url, username=g.username, password=g.password,
                                project_name=g.project_name,
                                user_domain_name=g.user_domain_name,
                                project_domain_name=g.project_domain_name,
                                endpoint_override=g.endpoint_override, timeout=g.timeout),
                   timeout=g.timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HttpImageClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- plumbing ---------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.auth.endpoint()}/v2{path}"

    def _send(self, method: str, path: str, *, content: Callable[[], Any] | None = None,
              **kwargs: Any) -> httpx.Response:
        """One request; on 401 re-authenticate and send it once more."""
        for attempt in (1, 2):
            headers = dict(kwargs.pop("headers", None) or {})
            headers["X-Auth-Token"] = self.auth.token()
            req = self._http.build_request(method, self._url(path), headers=headers,
                                           content=content() if content else None, **kwargs)
            resp = self._http.send(req)
            if resp.status_code == 401 and attempt == 1 and self.auth.invalidate():
                resp.close()
                kwargs["headers"] = headers
                continue
            raise_for(resp)
            return resp
        raise AssertionError("unreachable")

    def _data_request(self, method: str, path: str, headers: dict[str, str],
                      body: Callable[[], Any] | None = None
                      ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """A request whose body or answer is image data, over http.client: it moves bulk
        data several times faster than httpx (no per-chunk parsing in Python). Retries
        once on 401 with a new token, like :meth:`_send`."""
        for attempt in (1, 2):
            url = urlsplit(self.auth.endpoint())
            conn = self._connection(url.scheme, url.hostname or "", url.port)
            sent = body() if body is not None else None
            all_headers = {**headers, "X-Auth-Token": self.auth.token()}
            try:
                if isinstance(sent, _Reader) and type(conn) is http.client.HTTPConnection:
                    # Plain HTTP: headers through http.client, the file by send_to.
                    conn.putrequest(method, f"{url.path}/v2{path}")
                    for name, value in all_headers.items():
                        conn.putheader(name, value)
                    conn.endheaders()
                    assert conn.sock is not None
                    sent.send_to(conn.sock)
                else:
                    conn.request(method, f"{url.path}/v2{path}", body=sent,
                                 headers=all_headers)
                resp = conn.getresponse()
            except (BrokenPipeError, ConnectionResetError):
                resp = conn.getresponse()  # the server answered before reading it all
            except BaseException:
                conn.close()
                raise
            finally:
                if sent is not None:
                    sent.close()
            if resp.status == 401 and attempt == 1 and self.auth.invalidate():
                resp.read()
                conn.close()
                continue
            if resp.status >= 400:
                error = error_for(resp.status, resp.read(), f"{method} {path}", resp.reason)
                conn.close()
                raise error
            return conn, resp
        raise AssertionError("unreachable")

    def _connection(self, scheme: str, host: str, port: int | None
                    ) -> http.client.HTTPConnection:
        if scheme != "https":
            return http.client.HTTPConnection(host, port, timeout=self.timeout,
                                              blocksize=CHUNK_SIZE)
        verify = self.auth.verify
        context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
        if verify is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=context,
                                           blocksize=CHUNK_SIZE)

    def request_json(self, method: str, path: str, body: Any = None,
                     content_type: str = "application/json") -> Any:
        import orjson

        content = orjson.dumps(body) if body is not None else None
        resp = self._send(method, path, content=(lambda: content) if content else None,
                          headers={"Content-Type": content_type} if content else {})
        return resp.json() if resp.content else None

    # ---- raw API ----------------------------------------------------------------------------
    def show(self, image_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.request_json("GET", f"/images/{image_id}")
        return body

    def create_image(self, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self.request_json("POST", "/images", body)
        return created

    def upload_file(self, image_id: str, path: str, progress: Progress | None = None) -> None:
        """PUT the file's bytes, streamed, with its Content-Length."""
        self.show(image_id)  # fails fast (and renews the token) before sending any data
        size = os.path.getsize(path)
        conn, resp = self._data_request(
            "PUT", f"/images/{image_id}/file",
            {"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            body=lambda: _Reader(path, progress))
        resp.read()
        conn.close()

    def download_to(self, image_id: str, dest: str, progress: Progress | None = None) -> int:
        """Stream the image's data into ``dest`` (verified; see the module docstring)."""
        image = self.show(image_id)
        if image.get("status") != "active":
            raise exceptions.Conflict(f"Image {image_id} is not active (status "
                                      f"{image.get('status')}).")
        conn, resp = self._data_request("GET", f"/images/{image_id}/file", {})
        try:
            header_md5 = resp.getheader("Content-MD5")
            if header_md5 and image.get("checksum") and header_md5 != image["checksum"]:
                raise exceptions.Invalid(f"Image {image_id}: Content-MD5 {header_md5} differs "
                                         f"from the recorded checksum {image['checksum']}.")
            length = resp.getheader("Content-Length")

            pool = BufferPool(DOWNLOAD_CHUNK)

            def chunks() -> Iterator[memoryview]:
                # readinto pooled page-aligned buffers, given back once hashed and written
                # (written with O_DIRECT, no copy): one copy fewer than read(), which
                # copies out of its own buffer, and no fresh pages to fault in.
                while True:
                    view = memoryview(pool.take())
                    count = resp.readinto(view)
                    if not count:
                        return
                    yield view if count == len(view) else view[:count]

            return write_verified(chunks(), dest, image_id=image_id,
                                  release=lambda view: pool.give_back(view.obj),
                                  checksum=image.get("checksum") or header_md5,
                                  os_hash_algo=image.get("os_hash_algo"),
                                  os_hash_value=image.get("os_hash_value"),
                                  expected_size=int(length) if length else image.get("size"),
                                  progress=progress)
        finally:
            conn.close()

    def iter_images(self, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        path: str | None = "/images"
        query: dict[str, str] | None = dict(params)
        while path:
            resp = self._send("GET", path, params=query)
            body = resp.json()
            yield from body.get("images", [])
            nxt = body.get("next")
            # Glance's next link is "/v2/images?...": keep what follows the version.
            path = nxt[nxt.index("/images"):] if nxt else None
            query = None

    # ---- ImageClient --------------------------------------------------------------------------
    def get(self, ctx: RequestContext, image_id: str) -> ImageRecord:
        return to_record(self.show(image_id))

    def download(self, ctx: RequestContext, image_id: str, dest: str) -> int:
        return self.download_to(image_id, dest)

    def create(self, ctx: RequestContext, *, name: str, disk_format: str,
               container_format: str, visibility: str = "private",
               properties: dict[str, Any] | None = None, min_disk: int = 0,
               min_ram: int = 0) -> ImageRecord:
        body: dict[str, Any] = {str(k): str(v) for k, v in (properties or {}).items()}
        body.update(name=name, disk_format=disk_format, container_format=container_format,
                    visibility=visibility, min_disk=min_disk, min_ram=min_ram)
        self.auth.token()
        if ctx.project_id and ctx.project_id != self.auth.project_id:
            body["owner"] = ctx.project_id
        return to_record(self.create_image(body))

    def set_formats(self, ctx: RequestContext, image_id: str, *, disk_format: str,
                    container_format: str) -> ImageRecord:
        body = self.request_json("PATCH", f"/images/{image_id}",
                                 format_patch(disk_format, container_format),
                                 content_type=PATCH_MEDIA_TYPES[0])
        return to_record(body)

    def upload(self, ctx: RequestContext, image_id: str, src: str) -> ImageRecord:
        self.upload_file(image_id, src)
        return self.get(ctx, image_id)

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        self._send("DELETE", f"/images/{image_id}")

    def list(self, ctx: RequestContext, **filters: Any) -> list[ImageRecord]:
        params = {str(k): ("true" if v is True else "false" if v is False else str(v))
                  for k, v in filters.items() if v is not None}
        params.setdefault("visibility", "all")
        if ctx.project_id and ctx.project_id != self.auth.project_id:
            params.setdefault("owner", ctx.project_id)
        return [to_record(i) for i in self.iter_images(params)]


def to_record(body: dict[str, Any]) -> ImageRecord:
    props = {k: v for k, v in body.items() if k not in _NOT_PROPERTIES}
    return ImageRecord(
        id=body["id"], name=body.get("name"), disk_format=body.get("disk_format"),
        container_format=body.get("container_format"), size=body.get("size"),
        min_disk=body.get("min_disk") or 0, min_ram=body.get("min_ram") or 0,
        checksum=body.get("checksum"), properties=props, status=body.get("status", "queued"),
        owner=body.get("owner"), visibility=body.get("visibility", "private"),
        os_hash_algo=body.get("os_hash_algo"), os_hash_value=body.get("os_hash_value"),
        created_at=body.get("created_at"))
