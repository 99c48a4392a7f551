"""ImagePropertiesFilter: only hosts that can run the image's architecture,
hypervisor type, vm mode and hypervisor version.

Read from the image properties (the first name wins, the second is the older one):

=====================  ==========================  ===============================
what                   property                    compared with
=====================  ==========================  ===============================
architecture           hw_architecture             an entry of supported_instances
                       architecture
hypervisor type        img_hv_type                 the same entry
                       hypervisor_type
vm mode                hw_vm_mode                  the same entry
                       vm_mode
hypervisor version     img_hv_requested_version    host.hypervisor_version
=====================  ==========================  ===============================

Values compare case-insensitively after aliases are folded (``amd64`` is
``x86_64``, vm mode ``hv`` is ``hvm``); ``qemu`` and ``kvm`` stay distinct. A
version constraint is clauses joined by commas, each an optional operator
(``>=``, ``<=``, ``>``, ``<``, ``==``, ``!=``; none means ``==``) and a version,
either the integer a driver reports (``6000000``) or dotted (``6.0.0`` is
``6 * 10**6 + 0 * 10**3 + 0``). A host reporting no version (0) fails a version
constraint: an image that demands a version should not land where it cannot be
checked. An unparsable constraint fails every host, logged.
"""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from novalith.objects.specs import RequestSpec
from novalith.scheduler.filters import BaseFilter
from novalith.scheduler.host_state import (
    HostState,
    SupportedInstance,
    supported_instances_for_key,
)

LOG = logging.getLogger(__name__)

ARCH_ALIASES = {
    "amd64": "x86_64", "x64": "x86_64", "x86-64": "x86_64", "em64t": "x86_64",
    "i386": "i686", "i486": "i686", "i586": "i686", "x86": "i686", "ia32": "i686",
    "arm64": "aarch64", "armv8": "aarch64", "armhf": "armv7l", "armv7": "armv7l",
    "ppc64el": "ppc64le", "powerpc64le": "ppc64le", "powerpc64": "ppc64", "powerpc": "ppc",
}
VM_MODE_ALIASES = {"hv": "hvm", "pv": "xen"}

_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<)?\s*(\d+(?:\.\d+){0,2})\s*$")
_OPS: dict[str, Callable[[int, int], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq,
    "!=": operator.ne, ">": operator.gt, "<": operator.lt,
}


class _Wanted(NamedTuple):
    arch: str | None
    hv_type: str | None
    vm_mode: str | None
    version: Callable[[int], bool] | None


def canonical_arch(value: str) -> str:
    value = value.strip().lower()
    return ARCH_ALIASES.get(value, value)


def canonical_vm_mode(value: str) -> str:
    value = value.strip().lower()
    return VM_MODE_ALIASES.get(value, value)


def version_to_int(text: str) -> int:
    """``"6000000"`` -> 6000000; ``"6.1"`` -> 6001000 (major, minor, patch by 1000s)."""
    if "." not in text:
        return int(text)
    parts = [int(p) for p in text.split(".")] + [0, 0]
    return parts[0] * 1_000_000 + parts[1] * 1_000 + parts[2]


def parse_version_constraint(text: str) -> Callable[[int], bool]:
    """A predicate over a host's integer version; ValueError if ``text`` is malformed."""
    clauses: list[tuple[Callable[[int, int], bool], int]] = []
    for raw in str(text).split(","):
        match = _CLAUSE.match(raw)
        if match is None:
            raise ValueError(f"bad version constraint {text!r}")
        clauses.append((_OPS[match.group(1) or "=="], version_to_int(match.group(2))))

    def satisfied(version: int) -> bool:
        return bool(version) and all(op(version, bound) for op, bound in clauses)

    return satisfied


def _first(props: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = props.get(name)
        if value not in (None, ""):
            return str(value)
    return None


def _never(version: int) -> bool:
    return False


def wanted_from_image(props: Mapping[str, Any]) -> _Wanted | None:
    """What the image asks of a host, canonicalised; None if it asks nothing."""
    arch = _first(props, "hw_architecture", "architecture")
    hv_type = _first(props, "img_hv_type", "hypervisor_type")
    vm_mode = _first(props, "hw_vm_mode", "vm_mode")
    version_text = _first(props, "img_hv_requested_version")
    if arch is None and hv_type is None and vm_mode is None and version_text is None:
        return None
    version: Callable[[int], bool] | None = None
    if version_text is not None:
        try:
            version = parse_version_constraint(version_text)
        except ValueError:
            LOG.warning("Image asks for unparsable hypervisor version %r; no host fits",
                        version_text)
            version = _never
    return _Wanted(
        arch=canonical_arch(arch) if arch else None,
        hv_type=hv_type.strip().lower() if hv_type else None,
        vm_mode=canonical_vm_mode(vm_mode) if vm_mode else None,
        version=version,
    )


def supports(entries: tuple[SupportedInstance, ...], wanted: _Wanted) -> bool:
    """Whether one advertised (arch, hv_type, vm_mode) entry matches all that is asked."""
    if wanted.arch is None and wanted.hv_type is None and wanted.vm_mode is None:
        return True
    for arch, hv_type, vm_mode in entries:
        if wanted.arch is not None and canonical_arch(arch) != wanted.arch:
            continue
        if wanted.hv_type is not None and hv_type != wanted.hv_type:
            continue
        if wanted.vm_mode is not None and canonical_vm_mode(vm_mode) != wanted.vm_mode:
            continue
        return True
    return False


class ImagePropertiesFilter(BaseFilter):
    run_on_rebuild = True  # a rebuild's new image must suit the host it stays on

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return bool(self.filter_all([host], spec))

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        if spec.image is None or not spec.image.properties:
            return hosts
        wanted = wanted_from_image(spec.image.properties)
        if wanted is None:
            return hosts
        # Hosts share few distinct values; judge each distinct value once, then
        # keep hosts by membership of an int key instead of a Python call per host.
        good_keys = {
            key for key in {h.supported_instances_key for h in hosts}
            if supports(supported_instances_for_key(key), wanted)
        }
        check = wanted.version
        if check is None:
            return [h for h in hosts if h.supported_instances_key in good_keys]
        good_versions = {v for v in {h.hypervisor_version for h in hosts} if check(v)}
        return [
            h for h in hosts
            if h.supported_instances_key in good_keys and h.hypervisor_version in good_versions
        ]
