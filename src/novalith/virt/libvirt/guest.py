"""Operations on one libvirt domain, with libvirt errors mapped to Novalith's.

Functions here take a ``virDomain`` (or a connection and a uuid) and know nothing
of instances or files: the driver composes them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from novalith import exceptions
from novalith.objects.states import PowerState
from novalith.virt.libvirt import domain_xml
from novalith.virt.libvirt import power_state as ps
from novalith.virt.libvirt.connection import libvirt_module

LOG = logging.getLogger(__name__)
POLL = 0.1


def lookup(conn: Any, uuid: str, host: str) -> Any | None:
    """The domain of instance ``uuid`` belonging to compute ``host``, or None.

    The domain UUID is the instance UUID; the Novalith metadata must name ``host``
    (several compute services may share one libvirtd).
    """
    libvirt = libvirt_module()
    try:
        dom = conn.lookupByUUIDString(uuid)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise
    meta = metadata(dom)
    if meta is None or meta.host != host:
        return None
    return dom


def metadata(dom: Any) -> domain_xml.InstanceMetadata | None:
    """The Novalith metadata of ``dom`` (None: not one of ours)."""
    libvirt = libvirt_module()
    try:
        raw = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, domain_xml.NAMESPACE)
    except libvirt.libvirtError as err:
        if err.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN_METADATA,
                                    libvirt.VIR_ERR_NO_DOMAIN):
            return None
        raise
    return domain_xml.read_metadata(raw)


def state(dom: Any) -> int:
    """The libvirt state of ``dom`` (VIR_DOMAIN_*)."""
    return int(dom.state()[0])


def power(dom: Any) -> int:
    """Nova's power state of ``dom``."""
    current = state(dom)
    managed = False
    if current == ps.VIR_SHUTOFF:
        with contextlib.suppress(Exception):
            managed = bool(dom.hasManagedSaveImage(0))
    return ps.power_state(current, managed)


def power_name(dom: Any) -> str:
    value = power(dom)
    return PowerState.NAMES.get(value, str(value))


def wait_for(dom: Any, states: set[int], timeout: float) -> bool:
    """Poll until ``dom`` is in one of ``states``; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if state(dom) in states:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)


def force_stop(dom: Any) -> None:
    """Destroy the domain's QEMU process if there is one (idempotent)."""
    libvirt = libvirt_module()
    try:
        if dom.isActive():
            dom.destroy()
    except libvirt.libvirtError as err:
        if err.get_error_code() not in (libvirt.VIR_ERR_OPERATION_INVALID,
                                        libvirt.VIR_ERR_NO_DOMAIN):
            raise


def graceful_stop(dom: Any, timeout: float) -> bool:
    """ACPI power button, wait up to ``timeout`` seconds for SHUTOFF. True if it stopped.

    A paused guest cannot react to the button, so it is not asked.
    """
    libvirt = libvirt_module()
    if state(dom) not in (ps.VIR_RUNNING, ps.VIR_BLOCKED):
        return state(dom) == ps.VIR_SHUTOFF
    try:
        dom.shutdown()
    except libvirt.libvirtError as err:
        LOG.info("ACPI shutdown of %s refused: %s", dom.name(), err)
        return False
    return wait_for(dom, {ps.VIR_SHUTOFF, ps.VIR_CRASHED}, timeout)


def undefine(dom: Any) -> None:
    """Remove the domain definition with its managed-save image (idempotent)."""
    libvirt = libvirt_module()
    flags = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    try:
        try:
            dom.undefineFlags(flags | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
        except libvirt.libvirtError as err:
            if err.get_error_code() in (libvirt.VIR_ERR_NO_SUPPORT,
                                        libvirt.VIR_ERR_INVALID_ARG):
                dom.undefineFlags(flags)
            else:
                raise
    except libvirt.libvirtError as err:
        if err.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise


def remove(dom: Any) -> None:
    """Stop and undefine ``dom``."""
    force_stop(dom)
    undefine(dom)


def invalid_state(action: str, uuid: str, dom: Any) -> exceptions.InstanceInvalidState:
    return exceptions.InstanceInvalidState(action=action, instance_id=uuid,
                                           attr="power_state", state=power_name(dom))


def translate(err: Exception, uuid: str, action: str) -> exceptions.NovalithError:
    """A libvirt error during ``action`` on instance ``uuid`` as a Novalith error."""
    libvirt = libvirt_module()
    if isinstance(err, exceptions.NovalithError):
        return err
    if isinstance(err, libvirt.libvirtError):
        code = err.get_error_code()
        if code == libvirt.VIR_ERR_NO_DOMAIN:
            return exceptions.InstanceNotFound(instance_id=uuid)
        if code == libvirt.VIR_ERR_OPERATION_INVALID:
            return exceptions.Conflict(
                f"Cannot {action} instance {uuid}: {err.get_error_message()}")
        return exceptions.NovalithError(
            f"libvirt failed to {action} instance {uuid}: {err.get_error_message()}")
    return exceptions.NovalithError(f"Failed to {action} instance {uuid}: {err}")
