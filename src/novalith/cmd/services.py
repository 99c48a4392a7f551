"""One service per process: ``novalith api | scheduler | conductor | compute``.

The distributed deployment runs these, each reading ``novalith.conf``, usually with
``transport_url = rabbit://...`` and ``[database] connection`` on PostgreSQL or
MariaDB (docs/deployment.md). Any number of each can run at once: API, scheduler and
conductor processes are active-active; a compute process serves one host name.

Every command stops cleanly on SIGTERM or Ctrl-C: it stops taking messages, lets
running handlers finish, closes its broker and database connections, exits 0.
"""

from __future__ import annotations

import logging
import logging.config
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

import click
from oslo_config import cfg

LOG = logging.getLogger(__name__)

_config_file = click.option(
    "--config-file", type=click.Path(exists=True, dir_okay=False),
    help="novalith.conf to read (default ./novalith.conf if present).")
_host = click.option("--host", help="Name of this service's node ([DEFAULT] host); each "
                                    "process of a kind on one machine needs its own.")
_log_config = click.option(
    "--log-config", type=click.Path(exists=True, dir_okay=False),
    help="A Python logging configuration file (logging.config.fileConfig format).")


class _Service(Protocol):
    @property
    def host(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def _load(config_file: str | None, host: str | None, log_config: str | None,
          extra: dict[str, dict[str, Any]] | None = None) -> cfg.ConfigOpts:
    from novalith.cmd.main import _conf

    if log_config:
        logging.config.fileConfig(log_config, disable_existing_loggers=False)
    elif logging.getLogger().level > logging.INFO:  # not --debug: services log INFO
        logging.getLogger("novalith").setLevel(logging.INFO)
    overrides: dict[str, dict[str, Any]] = {"DEFAULT": {}}
    if host:
        overrides["DEFAULT"]["host"] = host
    for group, values in (extra or {}).items():
        overrides.setdefault(group, {}).update(values)
    return _conf(config_file, overrides)


def _run_until_signalled(conf: cfg.ConfigOpts,
                         make: Callable[[Any, Any], _Service], binary: str) -> None:
    """Build the service on its own DB handle and transport, run it until SIGTERM/SIGINT."""
    from novalith.db.config import open_database
    from novalith.rpc.transport import get_transport

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    db = open_database(conf)
    transport = get_transport(conf.transport_url, conf)
    service = make(db, transport)
    try:
        service.start()
        click.echo(f"novalith {binary} {service.host} ready (pid {os.getpid()})")
        sys.stdout.flush()
        stop.wait()
    finally:
        LOG.info("Stopping %s %s", binary, service.host)
        service.stop()
        transport.close()
        db.dispose()


@click.command()
@_config_file
@_host
@_log_config
def scheduler(config_file: str | None, host: str | None, log_config: str | None) -> None:
    """Run a scheduler service (topic ``scheduler``) until SIGTERM."""
    from novalith.scheduler.manager import SchedulerManager

    conf = _load(config_file, host, log_config)
    _run_until_signalled(conf, lambda db, t: SchedulerManager(conf, db, t), "scheduler")


@click.command()
@_config_file
@_host
@_log_config
def conductor(config_file: str | None, host: str | None, log_config: str | None) -> None:
    """Run a conductor service (topic ``conductor``, build watchdog) until SIGTERM."""
    from novalith.conductor.manager import ConductorManager

    conf = _load(config_file, host, log_config)
    _run_until_signalled(conf, lambda db, t: ConductorManager(conf, db, t), "conductor")


@click.command()
@_config_file
@_host
@_log_config
def compute(config_file: str | None, host: str | None, log_config: str | None) -> None:
    """Run the compute service of one host (topic ``compute.<host>``) until SIGTERM."""
    from novalith.compute.manager import ComputeManager

    conf = _load(config_file, host, log_config)
    image_client = None
    if conf.glance.auth_url:  # the Image API of the API processes, as a service user
        from novalith.image.http_client import HttpImageClient

        image_client = HttpImageClient.from_conf(conf)
    try:
        _run_until_signalled(conf, lambda db, t: ComputeManager(
            conf, db, t, host=conf.host, image_client=image_client), "compute")
    finally:
        if image_client is not None:
            image_client.close()


@click.command()
@_config_file
@_log_config
@click.option("--listen", help="Address to listen on ([wsgi] listen).")
@click.option("--port", type=int, help="Port to listen on ([wsgi] port).")
@click.option("--workers", type=click.IntRange(1, 64),
              help="HTTP worker processes ([DEFAULT] osapi_compute_workers).")
@click.option("--recover-images", is_flag=True,
              help="Before serving, reset image uploads a crash interrupted and remove "
                   "leftover store files. Only when no other API process is running.")
def api(config_file: str | None, log_config: str | None, listen: str | None,
        port: int | None, workers: int | None, recover_images: bool) -> None:
    """Serve the Compute, Identity and Image APIs over HTTP until SIGTERM.

    The schema must be current (`novalith manage db sync`) and the admin created
    (`novalith manage bootstrap`). With several workers, the socket is bound once
    and each worker process serves it with its own connections.
    """
    extra: dict[str, dict[str, Any]] = {"wsgi": {}}
    if listen is not None:
        extra["wsgi"]["listen"] = listen
    if port is not None:
        extra["wsgi"]["port"] = port
    conf = _load(config_file, None, log_config, extra)
    count = workers or conf.osapi_compute_workers
    if recover_images:
        _recover_images(conf)
    sock = _bind(conf.wsgi.listen, conf.wsgi.port)
    click.echo(f"novalith api listening on {conf.wsgi.listen}:{sock.getsockname()[1]} "
               f"({count} worker{'s' if count > 1 else ''})")
    sys.stdout.flush()
    if count == 1:
        _serve_api(conf, sock)
        return
    _prefork(count, lambda: _serve_api(conf, sock))


def _recover_images(conf: cfg.ConfigOpts) -> None:
    """The image store's start-up recovery, once, before any worker exists."""
    from novalith.db.config import open_database
    from novalith.image.service import ImageService

    db = open_database(conf)
    try:
        ImageService.from_conf(conf, db).recover()
    finally:
        db.dispose()


def _bind(listen: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in listen else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((listen, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _serve_api(conf: cfg.ConfigOpts, sock: socket.socket) -> None:
    """One API worker: the app of the all-in-one cloud, without its services."""
    from novalith.cloud import Cloud

    # Image recovery would reset uploads other API processes are in the middle of.
    cloud = Cloud(conf, fake_hosts=0, recover_images=False)
    # uvicorn re-raises the signal that stopped it; make SIGTERM end like Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        cloud.serve(sock)
    except KeyboardInterrupt:
        pass
    finally:
        cloud.close()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _prefork(count: int, serve: Callable[[], None]) -> None:
    """Fork ``count`` workers running ``serve``; forward SIGTERM/SIGINT; reap them.

    The parent holds no threads, connections or engines when it forks: each worker
    builds its own (an oslo.messaging or SQLAlchemy connection must not cross a fork).
    """
    children: list[int] = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                serve()
            except BaseException:
                LOG.exception("API worker %s failed", os.getpid())
                code = 1
            finally:
                os._exit(code)
        children.append(pid)

    def forward(signum: int, frame: Any) -> None:
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for child in children:
        while True:
            try:
                _, code = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        if os.waitstatus_to_exitcode(code) not in (0, -signal.SIGTERM):
            status = 1
    sys.exit(status)


@click.command()
@_config_file
@click.option("--admin-password", help="Password of the admin user if it is created now "
                                       "(default: [bootstrap] admin_password, or generated).")
def bootstrap(config_file: str | None, admin_password: str | None) -> None:
    """Create the admin user and project, default flavors and (fake driver) a test
    image; idempotent. Run once per deployment, after `novalith manage db sync`."""
    from novalith.cloud import Cloud

    extra = {"bootstrap": {"admin_password": admin_password}} if admin_password else {}
    conf = _load(config_file, None, None, extra)
    conf.set_override("transport_url", "inproc://")  # talks to no other service
    cloud = Cloud(conf, fake_hosts=0, recover_images=False)  # API processes may be up
    try:
        first = cloud.first_start()
    finally:
        cloud.close()
    click.echo(f"admin project {first.admin.project_id}; {first.flavors_created} flavors "
               f"created; test image {first.image_id or '-'}")
    if first.admin.generated_password:
        click.echo(f"admin password (shown once): {first.admin.generated_password}")


COMMANDS = (api, scheduler, conductor, compute)
