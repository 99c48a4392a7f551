"""``novalith image build-tiny``: build the tiny test guest and register it.

The build (:mod:`novalith.virt.libvirt.tiny_image`) is cached: the second run
reuses the files, and registering reuses images already uploaded for the same
build, so the command is cheap to repeat.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from novalith import exceptions


@click.command("build-tiny")
@click.option("--cache-dir", type=click.Path(file_okay=False),
              help="Where the build is kept (default $NOVALITH_TINY_CACHE or "
                   "~/.cache/novalith/tiny).")
@click.option("--force", is_flag=True, help="Rebuild even if a complete build is cached.")
@click.option("--no-register", is_flag=True,
              help="Only build; do not upload to the running cloud's Image API.")
@click.option("--private", is_flag=True, help="Register the images as private, not public.")
@click.pass_context
def build_tiny(ctx: click.Context, cache_dir: str | None, force: bool, no_register: bool,
               private: bool) -> None:
    """Build a cirros-like guest (Debian cloud kernel + busybox initramfs) and register
    kernel (aki), ramdisk (ari) and disk (raw, with kernel_id/ramdisk_id) images."""
    from novalith.cmd.image import _client, console
    from novalith.objects.context import RequestContext
    from novalith.virt.libvirt import tiny_image

    try:
        built = tiny_image.build(Path(cache_dir) if cache_dir else None, force=force)
    except exceptions.NovalithError as err:
        raise click.ClickException(f"Building the tiny guest failed: {err}") from err
    console.print(f"Tiny guest (kernel {built.kernel_version}, build {built.build_id}) "
                  f"in {built.directory}")
    if no_register:
        return
    client: Any = _client(ctx)
    try:
        ids = tiny_image.register(client, RequestContext(),
                                  built, visibility="private" if private else "public")
    except exceptions.NovalithError as err:
        raise click.ClickException(f"Registering the tiny guest failed: {err}") from err
    console.print(f"kernel  {tiny_image.KERNEL_IMAGE_NAME}  {ids.kernel_id}")
    console.print(f"ramdisk {tiny_image.RAMDISK_IMAGE_NAME}  {ids.ramdisk_id}")
    click.echo(f"image   {tiny_image.IMAGE_NAME}  {ids.image_id}")
