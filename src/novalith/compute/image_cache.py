"""Compute's side of the host image cache: image data for the driver, and the periodic
pass that lets the driver prune its cache.

The cache itself (``_base``, overlays, the pruning rules) is the driver's, in
:mod:`novalith.virt.images`; compute supplies what a driver may not reach by itself:
the image service (``fetch_image``) and which images its instances use (the DB).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from novalith import exceptions
from novalith.compute.deps import ComputeDeps
from novalith.db import instances as inst_db
from novalith.objects.context import admin_context
from novalith.virt.driver import ImageCacheSupport

LOG = logging.getLogger(__name__)
INST = inst_db.INST


def fetch_image(deps: ComputeDeps, image_id: str, dest: str) -> None:
    """Download ``image_id`` into ``dest`` with the service's own (admin) context: the
    API checked the user may boot the image; the host only caches its data."""
    if deps.image_client is None:
        raise exceptions.ServiceUnavailable(
            f"Compute host {deps.host} has no image service to fetch images from.")
    deps.image_client.download(admin_context(), image_id, dest)


def images_in_use(deps: ComputeDeps) -> frozenset[str]:
    """Image ids of every live instance assigned to this host (building ones too)."""
    with deps.db.read() as conn:
        rows = conn.execute(select(INST.c.image_ref).distinct().where(
            INST.c.host == deps.host, INST.c.deleted == False,  # noqa: E712
            INST.c.image_ref.isnot(None)))
        return frozenset(str(r[0]) for r in rows if r[0])


def manage(deps: ComputeDeps) -> None:
    """The periodic image cache manager pass (``[image_cache] manager_interval``)."""
    driver = deps.driver
    if isinstance(driver, ImageCacheSupport):
        driver.manage_image_cache(images_in_use(deps))
