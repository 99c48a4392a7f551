"""An all-in-one cloud: every service in one process over the in-process transport.

``novalith up`` and the functional tests both build a :class:`Cloud`; nothing in
the services knows it shares a process with the others.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import uvicorn
import yaml
from oslo_config import cfg

from novalith.api.app import create_app
from novalith.api.deps import ApiConfig, ApiServices
from novalith.compute.manager import ComputeManager
from novalith.compute.rpcapi import SURFACE as COMPUTE
from novalith.conductor.manager import ConductorManager
from novalith.conductor.rpcapi import SURFACE as CONDUCTOR
from novalith.db import flavors as flavor_db
from novalith.db import images as image_db
from novalith.db import migration
from novalith.db.config import open_database
from novalith.identity.bootstrap import BootstrapResult, bootstrap
from novalith.identity.records import IdentityConfig
from novalith.identity.service import IdentityService
from novalith.image.local_client import LocalImageClient
from novalith.image.service import ImageService
from novalith.rpc.dispatch import RPCClient
from novalith.rpc.transport import get_transport
from novalith.scheduler.manager import SchedulerManager

LOG = logging.getLogger(__name__)
FAKE_IMAGE_NAME = "fake-image"
FAKE_IMAGE_SIZE = 1024 * 1024


def compute_hosts(conf: cfg.ConfigOpts, fake_hosts: int) -> list[str]:
    """One compute host named ``host``, or ``host-1..N`` for N fake hosts; none for 0
    (the API process of a distributed deployment, `novalith api`)."""
    if fake_hosts == 0:
        return []
    if fake_hosts <= 1:
        return [conf.host]
    return [f"{conf.host}-{i}" for i in range(1, fake_hosts + 1)]


@dataclass
class FirstStart:
    admin: BootstrapResult
    flavors_created: int
    image_id: str | None


class Cloud:
    def __init__(self, conf: cfg.ConfigOpts, fake_hosts: int = 1,
                 recover_images: bool = True) -> None:
        """``recover_images`` False: leave the image store's start-up recovery alone, as
        an API process among several must (others may be mid-upload: `novalith api`)."""
        self.conf = conf
        os.makedirs(conf.state_path, exist_ok=True)
        self.db = open_database(conf)  # pooled as [database] says
        migration.sync(self.db)
        self.transport = get_transport(conf.transport_url, conf)
        self.identity = IdentityService(self.db, IdentityConfig.from_conf(conf))
        self.scheduler = SchedulerManager(conf, self.db, self.transport)
        self.conductor = ConductorManager(conf, self.db, self.transport)
        # The image service: its store lives in this process, so compute reads it
        # directly (LocalImageClient) and the Image API serves it.
        self.image_service = ImageService.from_conf(conf, self.db)
        if recover_images:
            self.image_service.recover()
        self.image_client = LocalImageClient(self.image_service)
        self.computes = [ComputeManager(conf, self.db, self.transport, host=h,
                                        image_client=self.image_client)
                         for h in compute_hosts(conf, fake_hosts)]
        timeout = conf.rpc_response_timeout
        self.api_services = ApiServices(
            db=self.db, identity=self.identity,
            conductor=RPCClient(self.transport, CONDUCTOR, timeout),
            compute=RPCClient(self.transport, COMPUTE, timeout),
            config=ApiConfig.from_conf(conf))
        self.api_services.image = self.image_service
        self.api_services.image_client = self.image_client
        self.app = create_app(self.api_services)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # ---- first start ------------------------------------------------------------------------
    def first_start(self) -> FirstStart:
        """Create the admin, the default flavors and (fake driver) a test image; idempotent."""
        admin = bootstrap(self.identity, self.conf.bootstrap.admin_password)
        with self.db.write() as conn:
            created = flavor_db.ensure_defaults(conn)
        image_id = None
        if self.conf.compute_driver == "fake" and self.conf.bootstrap.create_test_image:
            image_id = self._ensure_fake_image(admin.project_id)
        return FirstStart(admin=admin, flavors_created=created, image_id=image_id)

    def _ensure_fake_image(self, owner: str) -> str:
        """A public raw image with a little real data (1 MiB of zeros) in the store, so
        that boots and downloads of ``fake-image`` go the whole way."""
        from sqlalchemy import select

        from novalith.objects.context import RequestContext

        with self.db.read() as conn:
            row = conn.execute(select(image_db.IMG).where(
                image_db.IMG.c.name == FAKE_IMAGE_NAME)).mappings().first()
        if row is not None and row["location"]:
            return str(row["id"])
        admin = RequestContext(project_id=owner, roles=("admin", "member", "reader"))
        image_id = str(row["id"]) if row is not None else str(uuid.uuid4())
        if row is None:
            self.image_service.create(admin, {
                "id": image_id, "name": FAKE_IMAGE_NAME, "disk_format": "raw",
                "container_format": "bare", "visibility": "public"})
        else:  # from before images had data: give it some
            with self.db.write() as conn:
                conn.execute(image_db.IMG.update().where(image_db.IMG.c.id == image_id)
                             .values(status="queued"))
        upload = self.image_service.begin_upload(admin, image_id)
        upload.write(bytes(FAKE_IMAGE_SIZE))
        upload.commit()
        return image_id

    # ---- life cycle ---------------------------------------------------------------------------
    def start_services(self) -> None:
        self.scheduler.start()
        self.conductor.start()
        for compute in self.computes:
            compute.start()

    def stop_services(self) -> None:
        for compute in self.computes:
            compute.stop()
        self.conductor.stop()
        self.scheduler.stop()

    def bind(self, listen: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET6 if ":" in listen else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((listen, port))
        sock.listen(2048)
        return sock

    def _uvicorn_config(self) -> uvicorn.Config:
        # No proxy-header rewriting (set [api] public_endpoint behind a proxy instead),
        # no access log: each costs time on every request.
        return uvicorn.Config(self.app, log_level="warning", access_log=False,
                              proxy_headers=False, server_header=False,
                              timeout_keep_alive=30)

    def serve(self, sock: socket.socket) -> None:
        """Run the HTTP API on ``sock`` until Ctrl-C / SIGTERM (blocks)."""
        self._server = uvicorn.Server(self._uvicorn_config())
        self._server.run(sockets=[sock])

    def serve_in_thread(self, sock: socket.socket) -> None:
        self._server = uvicorn.Server(self._uvicorn_config())
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="api", daemon=True)
        self._thread.start()

    def stop_http(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def close(self) -> None:
        self.stop_http()
        self.stop_services()
        self.transport.close()
        self.db.dispose()


def write_clouds_yaml(path: str, endpoint: str, password: str | None) -> None:
    """Write (or update) the ``novalith`` entry of a clouds.yaml, readable only by us."""
    data: dict[str, Any] = {"clouds": {}}
    if os.path.exists(path):
        with open(path) as fh:
            data = yaml.safe_load(fh) or {"clouds": {}}
    entry = data.setdefault("clouds", {}).get("novalith", {})
    auth = entry.get("auth", {})
    auth.update({"auth_url": f"{endpoint}/identity", "username": "admin",
                 "project_name": "admin", "user_domain_name": "Default",
                 "project_domain_name": "Default"})
    if password is not None:
        auth["password"] = password
    entry.update({"auth": auth, "region_name": "RegionOne", "identity_api_version": 3,
                  "interface": "public"})
    data["clouds"]["novalith"] = entry
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(data, fh, default_flow_style=False)
