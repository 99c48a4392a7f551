"""``novalith up --driver auto``: the libvirt driver where a hypervisor can run, else fake.

Used by ``make run``: it checks (and starts) libvirtd, builds the tiny guest once,
and after the cloud's first start registers it in the image service so the demo
server boots a real VM. Every reason to fall back is printed.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console


def choose_driver(console: Console) -> tuple[str, Any]:
    """("libvirt", tiny image) when libvirt and the tiny guest work here, else ("fake", None)."""
    from novalith.virt.libvirt import daemons, tiny_image

    reason = daemons.ensure_local_libvirtd()
    if reason is None:
        console.print("Building the tiny guest image (once; cached afterwards) ...")
        try:
            return "libvirt", tiny_image.build()
        except Exception as err:  # no apt lists, no mirror: fall back, say why
            reason = f"the tiny guest image could not be built: {err}"
    console.print(f"[yellow]No hypervisor can run here ({reason}); using the fake driver."
                  "[/yellow]")
    return "fake", None


def register_tiny(cloud: Any, first: Any, tiny: Any) -> str:
    """Register the tiny guest as public images; returns the disk image's name."""
    from novalith.objects.context import RequestContext
    from novalith.virt.libvirt import tiny_image

    admin = RequestContext(project_id=first.admin.project_id, user_id=first.admin.user_id,
                           roles=("admin", "member", "reader"))
    tiny_image.register(cloud.image_client, admin, tiny)
    return tiny_image.IMAGE_NAME
