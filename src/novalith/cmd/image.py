"""``novalith image``: upload, download and list images through a running cloud's Image
API, with a progress bar for large files.

Credentials come from a clouds.yaml (the one ``novalith up`` writes, found through
``OS_CLIENT_CONFIG_FILE``, ``./clouds.yaml``, ``./novalith-data/clouds.yaml`` or the
usual openstack locations; cloud ``--os-cloud``, default ``$OS_CLOUD`` or
``novalith``) or from ``OS_AUTH_URL``/``OS_USERNAME``/``OS_PASSWORD``/
``OS_PROJECT_NAME`` (or ``OS_TOKEN``). ``OS_PASSWORD`` fills in a password the
clouds.yaml leaves out.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from novalith import exceptions
from novalith.image.formats import QCOW2_MAGIC
from novalith.image.http_client import HttpImageClient, KeystoneAuth
from novalith.image.records import CONTAINER_FORMATS, DISK_FORMATS

console = Console(stderr=True, highlight=False)
#: Files smaller than this upload and download without a progress bar.
PROGRESS_MIN = 16 * 1024 * 1024
_CLOUDS_YAML = ("clouds.yaml", os.path.join("novalith-data", "clouds.yaml"),
                os.path.expanduser("~/.config/openstack/clouds.yaml"),
                "/etc/openstack/clouds.yaml")


def _clouds_yaml() -> str | None:
    candidates = [os.environ.get("OS_CLIENT_CONFIG_FILE", ""), *_CLOUDS_YAML]
    return next((p for p in candidates if p and os.path.isfile(p)), None)


def auth_from_environment(cloud: str | None) -> KeystoneAuth:
    """The credentials to use (see the module docstring)."""
    env = os.environ
    path = _clouds_yaml()
    if path is not None and (cloud or not env.get("OS_AUTH_URL")):
        name = cloud or env.get("OS_CLOUD") or "novalith"
        with open(path) as fh:
            clouds = (yaml.safe_load(fh) or {}).get("clouds", {})
        if name not in clouds:
            raise click.ClickException(f"No cloud {name!r} in {path}.")
        entry = clouds[name]
        auth: dict[str, Any] = entry.get("auth", {})
        return KeystoneAuth(
            auth_url=auth.get("auth_url", ""), username=auth.get("username", ""),
            password=auth.get("password") or env.get("OS_PASSWORD", ""),
            project_name=auth.get("project_name", "admin"),
            user_domain_name=auth.get("user_domain_name", "Default"),
            project_domain_name=auth.get("project_domain_name", "Default"),
            token=auth.get("token", ""), interface=entry.get("interface", "public"),
            verify=entry.get("verify", True))
    if env.get("OS_AUTH_URL") or env.get("OS_TOKEN"):
        return KeystoneAuth(
            auth_url=env.get("OS_AUTH_URL", ""), username=env.get("OS_USERNAME", ""),
            password=env.get("OS_PASSWORD", ""),
            project_name=env.get("OS_PROJECT_NAME", "admin"),
            user_domain_name=env.get("OS_USER_DOMAIN_NAME", "Default"),
            project_domain_name=env.get("OS_PROJECT_DOMAIN_NAME", "Default"),
            token=env.get("OS_TOKEN", ""), endpoint_override=env.get("OS_IMAGE_URL", ""))
    raise click.ClickException("No credentials: run `novalith up` here (it writes "
                               "novalith-data/clouds.yaml), or set OS_CLIENT_CONFIG_FILE "
                               "or OS_AUTH_URL/OS_USERNAME/OS_PASSWORD/OS_PROJECT_NAME.")


@contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=console,
                  disable=total < PROGRESS_MIN) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def _guess_disk_format(path: str) -> str:
    with open(path, "rb") as fh:
        return "qcow2" if fh.read(4) == QCOW2_MAGIC else "raw"


def _client(ctx: click.Context) -> HttpImageClient:
    """The Image API client, made on first use (so ``--help`` needs no credentials)."""
    state: dict[str, Any] = ctx.find_object(dict) or {}
    if "client" not in state:
        state["client"] = HttpImageClient(auth_from_environment(state.get("cloud")))
        ctx.call_on_close(state["client"].close)
    client: HttpImageClient = state["client"]
    return client


def _fail(exc: exceptions.NovalithError) -> click.ClickException:
    return click.ClickException(str(exc))


def parse_properties(items: tuple[str, ...]) -> dict[str, str]:
    """``--property KEY=VALUE`` options as a dict."""
    props: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--property")
        props[key] = value
    return props


def upload_image_file(client: HttpImageClient, file: str, body: dict[str, Any],
                      label: str | None = None) -> dict[str, Any]:
    """Create an image with ``body`` and stream ``file`` into it (with a progress bar
    for a large file); the image as shown afterwards. A failed upload deletes the new
    image unless it is protected."""
    try:
        created = client.create_image(body)
        try:
            with _progress(label or f"Uploading {os.path.basename(file)}",
                           os.path.getsize(file)) as advance:
                client.upload_file(created["id"], file, progress=advance)
        except BaseException:
            if not body.get("protected"):
                client.request_json("DELETE", f"/images/{created['id']}")
            raise
        return client.show(created["id"])
    except exceptions.NovalithError as exc:
        raise _fail(exc) from exc


def echo_image(shown: dict[str, Any]) -> None:
    click.echo(f"{shown['id']}  {shown['name']}  {shown['status']}  {shown['size']} bytes  "
               f"md5 {shown['checksum']}")


@click.group()
@click.option("--os-cloud", "cloud", default=None,
              help="Cloud in clouds.yaml (default $OS_CLOUD or 'novalith').")
@click.pass_context
def image(ctx: click.Context, cloud: str | None) -> None:
    """Upload and download images through the running cloud's Image API."""
    ctx.obj = {"cloud": cloud}


@image.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", required=True, help="Image name.")
@click.option("--disk-format", type=click.Choice(DISK_FORMATS),
              help="Disk format (default: qcow2 if the file is one, else raw).")
@click.option("--container-format", type=click.Choice(CONTAINER_FORMATS), default="bare",
              show_default=True)
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE",
              help="Custom property (repeat for more).")
@click.option("--public", is_flag=True, help="Visible to every project (admin only).")
@click.option("--min-disk", type=click.IntRange(0), default=0, help="GB of disk needed.")
@click.option("--min-ram", type=click.IntRange(0), default=0, help="MB of RAM needed.")
@click.option("--protected", is_flag=True, help="Refuse deletion until unprotected.")
@click.pass_context
def upload(ctx: click.Context, file: str, name: str, disk_format: str | None,
           container_format: str, properties: tuple[str, ...], public: bool, min_disk: int,
           min_ram: int, protected: bool) -> None:
    """Create an image from FILE and upload its data (streamed)."""
    body: dict[str, Any] = parse_properties(properties)
    body.update(name=name, disk_format=disk_format or _guess_disk_format(file),
                container_format=container_format, min_disk=min_disk, min_ram=min_ram,
                protected=protected, visibility="public" if public else "private")
    echo_image(upload_image_file(_client(ctx), file, body))


@image.command()
@click.argument("image_ref", metavar="IMAGE")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@click.pass_context
def download(ctx: click.Context, image_ref: str, file: str) -> None:
    """Download IMAGE (id or name) into FILE, verified against its hashes."""
    client = _client(ctx)
    try:
        image_id = _resolve(client, image_ref)
        size = client.show(image_id).get("size") or 0
        with _progress(f"Downloading {image_ref}", size) as advance:
            written = client.download_to(image_id, file, progress=advance)
    except exceptions.NovalithError as exc:
        raise _fail(exc) from exc
    click.echo(f"{file}: {written} bytes, hashes verified")


@image.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """List the images the project can see (a table on a terminal, else tab-separated)."""
    try:
        rows = [(img["id"], img.get("name") or "", img["status"], str(img.get("size") or ""),
                 img["visibility"]) for img in _client(ctx).iter_images({})]
    except exceptions.NovalithError as exc:
        raise _fail(exc) from exc
    out = Console(highlight=False)
    if not out.is_terminal:
        for row in rows:
            click.echo("\t".join(row))
        return
    table = Table("ID", "Name", "Status", "Size", "Visibility")
    for row in rows:
        table.add_row(*row)
    out.print(table)


def _resolve(client: HttpImageClient, ref: str) -> str:
    try:
        return str(client.show(ref)["id"])
    except exceptions.NotFound:
        pass
    found = list(client.iter_images({"name": ref}))
    if len(found) != 1:
        raise click.ClickException(f"No image with id or name {ref!r}" if not found else
                                   f"Several images are named {ref!r}; use the id.")
    return str(found[0]["id"])
