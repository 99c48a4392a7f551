"""``novalith up --driver docker``: the busybox container image for the Docker driver.

The image (:mod:`novalith.virt.docker.busybox_image`: a ``docker save`` tarball built
from Debian's busybox-static, no registry, no engine needed) is built once and cached,
and after the cloud's first start registered as the public image ``novalith-busybox``
(``container_format=docker``, ``disk_format=raw``, ``hypervisor_type=docker``), so
that ``--demo`` boots a real container. A build that fails is reported and the cloud
comes up without the image.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from novalith.virt.docker import busybox_image

IMAGE_NAME = "novalith-busybox"
#: What the demo waits for on the container's console: the busybox demo's banner.
CONSOLE_READY = busybox_image.BANNER
_BUILD_PROPERTY = "novalith_busybox_build"


def build_busybox(console: Console) -> Any:
    """The busybox image build (cached after the first time), or None, saying why."""
    console.print("Building the busybox container image (once; cached afterwards) ...")
    try:
        return busybox_image.build()
    except Exception as err:  # no apt lists, no mirror: come up without it, say why
        console.print(f"[yellow]The busybox container image could not be built ({err}); "
                      "register one with `novalith image register-docker`.[/yellow]")
        return None


def register_busybox(cloud: Any, first: Any, built: Any) -> str:
    """Register the build as a public Docker image (reusing an upload of the same build);
    returns the image's name."""
    from novalith.cmd.docker_image import DOCKER_FORMATS, HYPERVISOR_TYPE
    from novalith.objects.context import RequestContext

    client = cloud.image_client
    admin = RequestContext(project_id=first.admin.project_id, user_id=first.admin.user_id,
                           roles=("admin", "member", "reader"))
    for record in client.list(admin, name=IMAGE_NAME):
        if (record.status == "active"
                and record.properties.get(_BUILD_PROPERTY) == built.build_id):
            return IMAGE_NAME
    record = client.create(admin, name=IMAGE_NAME, visibility="public", properties={
        "hypervisor_type": HYPERVISOR_TYPE, "os_distro": "busybox",
        _BUILD_PROPERTY: built.build_id}, **DOCKER_FORMATS)
    try:
        client.upload(admin, record.id, str(built.saved))
    except BaseException:
        client.delete(admin, record.id)
        raise
    return IMAGE_NAME
