"""``novalith image register-docker``: put a local Docker image into the image service.

The image is saved from the Docker engine (``docker save``, by image id, so it carries
no repository tags that loading it on a compute host would set there) into a temporary
file, streamed, then uploaded through the same path as ``novalith image upload``, as
``container_format=docker``, ``disk_format=raw``, with the property
``hypervisor_type=docker`` so that ImagePropertiesFilter sends its servers to Docker
hosts. The upload is checked against the MD5 of the saved file.

The engine is ``--docker-url``, else ``[docker] url`` of ``--config-file`` (or
``./novalith.conf``), else the local socket. docker-py is an optional dependency
(``pip install 'novalith[docker]'``).
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from typing import Any

import click

from novalith.cmd.image import _client, console, echo_image, parse_properties, upload_image_file

DEFAULT_DOCKER_URL = "unix:///var/run/docker.sock"
#: What makes an image a Docker image in the image service.
DOCKER_FORMATS = {"disk_format": "raw", "container_format": "docker"}
HYPERVISOR_TYPE = "docker"
_CHUNK = 1024 * 1024


def resolve_docker_url(option: str | None, config_file: str | None) -> str:
    """The engine to save from (see the module docstring)."""
    if option:
        return option
    files = [config_file] if config_file else (
        ["novalith.conf"] if os.path.exists("novalith.conf") else [])
    if files:
        from novalith.conf import make_conf

        return str(make_conf(files, {}).docker.url or DEFAULT_DOCKER_URL)
    return DEFAULT_DOCKER_URL


def connect(url: str) -> Any:
    """A docker-py client of the engine at ``url``, answering; ClickException if docker-py
    is missing or the engine does not answer."""
    try:
        import docker
    except ImportError as err:
        raise click.ClickException(
            "docker-py is not installed; install it with: pip install 'novalith[docker]'"
        ) from err
    try:
        _check_socket(url)
        client = docker.DockerClient(base_url=url, timeout=60)
    except Exception as err:  # docker-py raises DockerException and requests' errors
        raise click.ClickException(f"The Docker engine at {url} does not answer: {err}") from err
    try:
        client.ping()
    except Exception as err:
        client.close()
        raise click.ClickException(f"The Docker engine at {url} does not answer: {err}") from err
    return client


def _check_socket(url: str) -> None:
    """OSError if ``url`` is a Unix socket nothing listens on (docker-py would leave the
    socket of its failed attempt open)."""
    if url.startswith("unix://"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(url[len("unix://"):])


def save_image(engine: Any, ref: str, dest: str) -> tuple[str, str]:
    """``docker save`` the image ``ref`` (name, name:tag or id) into the new file ``dest``,
    streamed; returns the image id and the MD5 of the file."""
    import docker.errors

    try:
        image = engine.images.get(ref)
    except docker.errors.ImageNotFound as err:
        raise click.ClickException(f"The Docker engine has no image {ref!r}.") from err
    except docker.errors.APIError as err:
        raise click.ClickException(f"Looking up the Docker image {ref!r} failed: {err}") from err
    md5 = hashlib.md5(usedforsecurity=False)
    try:
        with open(dest, "xb") as fh:
            for chunk in image.save(chunk_size=_CHUNK, named=False):
                md5.update(chunk)
                fh.write(chunk)
    except docker.errors.APIError as err:
        raise click.ClickException(f"Saving the Docker image {ref!r} failed: {err}") from err
    return str(image.id), md5.hexdigest()


@click.command("register-docker")
@click.argument("docker_image", metavar="DOCKER_IMAGE")
@click.option("--name", help="Image name (default: DOCKER_IMAGE).")
@click.option("--public", is_flag=True, help="Visible to every project (admin only).")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE",
              help="Custom property (repeat for more); hypervisor_type defaults to docker.")
@click.option("--docker-url", help="Docker engine API (default: [docker] url, else "
                                   f"{DEFAULT_DOCKER_URL}).")
@click.option("--config-file", type=click.Path(exists=True, dir_okay=False),
              help="novalith.conf whose [docker] url to use (default ./novalith.conf).")
@click.pass_context
def register_docker(ctx: click.Context, docker_image: str, name: str | None, public: bool,
                    properties: tuple[str, ...], docker_url: str | None,
                    config_file: str | None) -> None:
    """Register the local Docker image DOCKER_IMAGE (docker save) as a container image."""
    body: dict[str, Any] = {"hypervisor_type": HYPERVISOR_TYPE, **parse_properties(properties)}
    engine = connect(resolve_docker_url(docker_url, config_file))
    try:
        with tempfile.TemporaryDirectory(prefix="novalith-docker-save-") as tmp:
            path = os.path.join(tmp, "image.tar")
            console.print(f"Saving Docker image {docker_image} ...")
            image_id, md5 = save_image(engine, docker_image, path)
            body.update(name=name or docker_image, visibility="public" if public else "private",
                        **DOCKER_FORMATS)
            client = _client(ctx)
            shown = upload_image_file(client, path, body, label=f"Uploading {docker_image}")
            if shown.get("checksum") != md5:
                client.request_json("DELETE", f"/images/{shown['id']}")
                raise click.ClickException(
                    f"The image service recorded checksum {shown.get('checksum')}, but the "
                    f"saved image has {md5}; the image was deleted.")
    finally:
        engine.close()
    console.print(f"Docker image {image_id} registered")
    echo_image(shown)
