"""The ``novalith`` command: ``up``, ``config sample``, ``manage db sync``."""

from __future__ import annotations

import io
import logging
import os
import signal
import sys
from typing import Any

import click
from oslo_config import cfg, generator
from rich.console import Console

from novalith.conf import make_conf

console = Console(stderr=False, highlight=False, soft_wrap=True)


def _conf(config_file: str | None, overrides: dict[str, dict[str, Any]]) -> cfg.ConfigOpts:
    files = [config_file] if config_file else (
        ["novalith.conf"] if os.path.exists("novalith.conf") else [])
    return make_conf(files, overrides)


@click.group()
@click.option("--debug/--no-debug", default=False, help="Log at DEBUG level.")
def cli(debug: bool) -> None:
    """Novalith: an OpenStack-Compute-compatible cloud."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("--config-file", type=click.Path(exists=True, dir_okay=False),
              help="novalith.conf to read (default ./novalith.conf if present).")
@click.option("--data-dir", help="Data directory ([DEFAULT] state_path).")
@click.option("--host", help="Compute host name ([DEFAULT] host).")
@click.option("--listen", help="Address the API listens on ([wsgi] listen).")
@click.option("--port", type=int, help="Port the API listens on ([wsgi] port).")
@click.option("--driver", help="Compute driver ([DEFAULT] compute_driver): fake, libvirt, "
                               "docker (registers a busybox container image), or 'auto': "
                               "libvirt with the tiny guest where a hypervisor runs, else fake.")
@click.option("--fake-hosts", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Run this many compute services in the process (host-1..N).")
@click.option("--demo", is_flag=True, help="Once up, boot a server named 'demo' through the "
                                           "API and show it.")
def up(config_file: str | None, data_dir: str | None, host: str | None, listen: str | None,
       port: int | None, driver: str | None, fake_hosts: int, demo: bool) -> None:
    """Run the whole cloud in one process until Ctrl-C."""
    from novalith.cloud import Cloud, write_clouds_yaml

    tiny = None
    if driver == "auto":
        from novalith.cmd.libvirt_setup import choose_driver

        driver, tiny = choose_driver(console)
    overrides: dict[str, dict[str, Any]] = {"DEFAULT": {}, "wsgi": {}}
    for key, value in (("state_path", data_dir), ("host", host), ("compute_driver", driver)):
        if value is not None:
            overrides["DEFAULT"][key] = value
    if listen is not None:
        overrides["wsgi"]["listen"] = listen
    if port is not None:
        overrides["wsgi"]["port"] = port
    conf = _conf(config_file, overrides)
    busybox = None
    if conf.compute_driver == "docker" and (driver == "docker" or demo):
        from novalith.cmd.docker_setup import build_busybox

        busybox = build_busybox(console)
    cloud = Cloud(conf, fake_hosts=fake_hosts)
    first = cloud.first_start()
    demo_image, demo_console = None, None
    if tiny is not None:
        from novalith.cmd.libvirt_setup import register_tiny

        demo_image, demo_console = register_tiny(cloud, first, tiny), "idling"
    if busybox is not None:
        from novalith.cmd.docker_setup import CONSOLE_READY, register_busybox

        demo_image, demo_console = register_busybox(cloud, first, busybox), CONSOLE_READY
    sock = cloud.bind(conf.wsgi.listen, conf.wsgi.port)
    bound_port = sock.getsockname()[1]
    shown = f"[{conf.wsgi.listen}]" if ":" in conf.wsgi.listen else conf.wsgi.listen
    endpoint = conf.api.public_endpoint.rstrip("/") or f"http://{shown}:{bound_port}"
    clouds_yaml = os.path.abspath(os.path.join(conf.state_path, "clouds.yaml"))
    write_clouds_yaml(clouds_yaml, endpoint, first.admin.generated_password)
    cloud.start_services()
    _banner(endpoint, clouds_yaml, first, [c.host for c in cloud.computes], demo_image)
    if demo:
        _start_demo(endpoint, clouds_yaml, demo_image, demo_console,
                    password=conf.bootstrap.admin_password)
    # uvicorn re-raises the signal that stopped it once it has shut down; make SIGTERM
    # behave like Ctrl-C so both end in a clean stop and exit status 0.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        cloud.serve(sock)
    except KeyboardInterrupt:
        pass
    finally:
        console.print("Stopping services ...")
        cloud.close()
        console.print("Stopped.")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _start_demo(endpoint: str, clouds_yaml: str, image: str | None = None,
                wait_console: str | None = None, password: str | None = None) -> None:
    """Boot the demo server from a thread once the HTTP server answers; with a real
    guest (``image``), show its console once it shows ``wait_console``. The admin
    password is the generated one in clouds.yaml, else the configured ``password``."""
    import threading

    import yaml

    from novalith.cloud import FAKE_IMAGE_NAME
    from novalith.cmd.demo import boot_demo_server

    with open(clouds_yaml) as fh:
        password = yaml.safe_load(fh)["clouds"]["novalith"]["auth"].get("password", password)
    if password is None:
        console.print("[red]Demo: no admin password (clouds.yaml has none)[/red]")
        return
    admin_password = password

    def run() -> None:
        import socket
        import time
        from urllib.parse import urlparse

        url = urlparse(endpoint)
        for _ in range(200):
            try:
                socket.create_connection((url.hostname, url.port or 80), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        if image is not None:  # a real guest: show its console once it has booted
            boot_demo_server(endpoint, admin_password, image, console,
                             wait_console=wait_console)
        else:
            boot_demo_server(endpoint, admin_password, FAKE_IMAGE_NAME, console)

    threading.Thread(target=run, name="demo", daemon=True).start()


def _banner(endpoint: str, clouds_yaml: str, first: Any, hosts: list[str],
            image_name: str | None = None) -> None:
    console.print(f"[bold]Novalith is up[/bold] at {endpoint}")
    console.print(f"  Compute API  {endpoint}/compute/v2.1")
    console.print(f"  Identity     {endpoint}/identity/v3")
    console.print(f"  Image        {endpoint}/image/v2")
    console.print(f"  Compute hosts: {', '.join(hosts)}")
    if first.admin.generated_password:
        console.print(f"  Admin password (shown once, also in clouds.yaml): "
                      f"{first.admin.generated_password}")
    console.print(f"  clouds.yaml: {clouds_yaml}")
    console.print("Boot a server:")
    console.print(f"  export OS_CLIENT_CONFIG_FILE={clouds_yaml}")
    image = image_name or ("fake-image" if first.image_id else "<image>")
    console.print(f"  openstack --os-cloud novalith server create --flavor m1.tiny "
                  f"--image {image} --no-network demo")
    console.print("  openstack --os-cloud novalith server list")
    console.print("Ctrl-C stops the cloud.")
    sys.stdout.flush()


@cli.group()
def config() -> None:
    """Configuration helpers."""


@config.command()
def sample() -> None:
    """Print a documented novalith.conf with every option and its default."""
    conf = cfg.ConfigOpts()
    generator.register_cli_opts(conf)
    conf(["--namespace", "novalith", "--format", "ini"], project="novalith")
    out = io.StringIO()
    generator.generate(conf, output_file=out)
    click.echo(out.getvalue())


@cli.group()
def manage() -> None:
    """Operator commands."""


@manage.group()
def db() -> None:
    """Database schema."""


@db.command("sync")
@click.option("--config-file", type=click.Path(exists=True, dir_okay=False))
def db_sync(config_file: str | None) -> None:
    """Create or upgrade the schema to the newest revision."""
    from novalith.db import migration
    from novalith.db.api import Database
    from novalith.db.config import database_url

    conf = _conf(config_file, {})
    os.makedirs(conf.state_path, exist_ok=True)
    database = Database(database_url(conf))
    migration.sync(database)
    click.echo(f"Database at revision {migration.current(database)}")
    database.dispose()


# One service per process, for distributed deployments (cmd/services.py).
from novalith.cmd import services as _services  # noqa: E402

for _command in _services.COMMANDS:
    cli.add_command(_command)
manage.add_command(_services.bootstrap)

# `novalith image upload/download/list` against a running cloud (cmd/image.py).
from novalith.cmd.image import image as _image  # noqa: E402

cli.add_command(_image)

# `novalith image build-tiny`: the tiny test guest of the libvirt driver (cmd/tiny.py).
from novalith.cmd.tiny import build_tiny as _build_tiny  # noqa: E402

_image.add_command(_build_tiny)

# `novalith image register-docker`: a local Docker image into the image service.
from novalith.cmd.docker_image import register_docker as _register_docker  # noqa: E402

_image.add_command(_register_docker)
