"""The scheduler's in-memory view of one compute node.

Capacity follows placement's formula, which the atomic DB claim uses too::

    ram capacity  = (memory_mb - reserved_host_memory_mb) * ram_allocation_ratio
    vcpu capacity = (vcpus - reserved_host_cpus) * cpu_allocation_ratio
    disk capacity = (local_gb - ceil(reserved_host_disk_mb / 1024)) * disk_allocation_ratio

and a request fits when ``used + requested <= capacity`` for each resource.

``free_ram_mb``, ``free_vcpus`` and ``free_disk_gb`` (capacity - used) are stored, not
computed on read, so filters and weighers over thousands of hosts read one slot each.
They are recomputed whenever an input changes: the inputs are properties whose
setters do it. ``free >= requested`` is exactly ``used + requested <= capacity``:
``capacity - used`` of an integer ``used`` below a float ``capacity`` is exact in
binary floating point, so a filter never disagrees with the SQL claim at the edge.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Iterable, Mapping
from operator import attrgetter
from typing import Any

from novalith.objects.specs import FlavorSpec

SupportedInstance = tuple[str, str, str]
"""(architecture, hypervisor type, vm mode), lower case, as a host advertises them."""

# Fields that feed one free figure, grouped by the figure they feed.
_RAM_INPUTS = ("memory_mb", "memory_mb_used", "reserved_host_memory_mb", "ram_allocation_ratio")
_CPU_INPUTS = ("vcpus", "vcpus_used", "reserved_host_cpus", "cpu_allocation_ratio")
_DISK_INPUTS = ("local_gb", "local_gb_used", "reserved_host_disk_mb", "disk_allocation_ratio")

# Plain fields; a mapping given to from_mapping may name some by their DB column.
_PLAIN_FIELDS = (
    "node_id", "node_uuid", "host", "nodename", "hypervisor_type", "hypervisor_version",
    "availability_zone", "service_disabled", "service_up", "num_instances",
    "aggregate_metadata", "updated_at",
)
_COLUMN_ALIASES = {
    "node_id": "id",
    "node_uuid": "uuid",
    "nodename": "hypervisor_hostname",
    "num_instances": "running_vms",
}
_DEFAULTS: dict[str, Any] = {
    "hypervisor_version": 0,
    "service_disabled": False,
    "service_up": True,
    "supported_instances": (),
    "num_instances": 0,
    "updated_at": None,
    "reserved_host_memory_mb": 0,
    "reserved_host_disk_mb": 0,
    "reserved_host_cpus": 0,
    "memory_mb_used": 0,
    "vcpus_used": 0,
    "local_gb_used": 0,
    "ram_allocation_ratio": 1.0,
    "cpu_allocation_ratio": 1.0,
    "disk_allocation_ratio": 1.0,
}


def requested_disk_gb(flavor: FlavorSpec) -> int:
    """Disk (GB) a flavor claims: root + ephemeral + swap rounded up to whole GB."""
    return flavor.root_gb + flavor.ephemeral_gb + math.ceil(flavor.swap / 1024)


def normalise_supported(entries: Iterable[Iterable[str]] | None) -> tuple[SupportedInstance, ...]:
    """Lower-cased (arch, hv_type, vm_mode) tuples from lists (as JSON gives them)."""
    out: list[SupportedInstance] = []
    for entry in entries or ():
        arch, hv_type, vm_mode = (str(part).lower() for part in entry)
        out.append((arch, hv_type, vm_mode))
    return tuple(out)


# Distinct supported_instances values get a small integer key, so a filter can
# group 10,000 hosts by it with an int hash instead of hashing nested tuples.
_SUPPORTED_KEYS: dict[tuple[SupportedInstance, ...], int] = {}
_SUPPORTED_BY_KEY: list[tuple[SupportedInstance, ...]] = []
_SUPPORTED_LOCK = threading.Lock()


def _supported_key(entries: tuple[SupportedInstance, ...]) -> int:
    key = _SUPPORTED_KEYS.get(entries)
    if key is None:
        with _SUPPORTED_LOCK:
            key = _SUPPORTED_KEYS.get(entries)
            if key is None:
                key = len(_SUPPORTED_BY_KEY)
                _SUPPORTED_BY_KEY.append(entries)
                _SUPPORTED_KEYS[entries] = key
    return key


def supported_instances_for_key(key: int) -> tuple[SupportedInstance, ...]:
    """The supported_instances value whose ``HostState.supported_instances_key`` is ``key``."""
    return _SUPPORTED_BY_KEY[key]


def _recompute_ram(hs: HostState) -> None:
    capacity = (hs._memory_mb - hs._reserved_host_memory_mb) * hs._ram_allocation_ratio
    hs.free_ram_mb = float(capacity - hs._memory_mb_used)


def _recompute_cpu(hs: HostState) -> None:
    capacity = (hs._vcpus - hs._reserved_host_cpus) * hs._cpu_allocation_ratio
    hs.free_vcpus = float(capacity - hs._vcpus_used)


def _recompute_disk(hs: HostState) -> None:
    hs.free_disk_gb = float(hs.disk_capacity_gb - hs._local_gb_used)


def _input_property(name: str, recompute: Any) -> property:
    private = "_" + name

    def fset(self: HostState, value: Any) -> None:
        setattr(self, private, value)
        recompute(self)

    return property(attrgetter(private), fset, doc=f"{name}; setting it updates the free figure.")


class HostState:
    """Mutable view of one compute node: identity, service status, capacity and usage.

    Build one with :meth:`from_mapping`; :meth:`consume` records an instance the
    scheduler has just placed, so the next instance of the same request sees it.
    """

    __slots__ = (
        *_PLAIN_FIELDS,
        *("_" + name for name in (*_RAM_INPUTS, *_CPU_INPUTS, *_DISK_INPUTS)),
        "_supported_instances", "supported_instances_key",
        "free_ram_mb", "free_vcpus", "free_disk_gb",
    )

    node_id: int
    node_uuid: str
    host: str
    nodename: str
    hypervisor_type: str
    hypervisor_version: int
    availability_zone: str
    service_disabled: bool
    service_up: bool
    supported_instances_key: int
    num_instances: int
    aggregate_metadata: dict[str, set[str]]
    updated_at: dt.datetime | None
    free_ram_mb: float
    free_vcpus: float
    free_disk_gb: float

    def __init__(
        self,
        *,
        node_id: int,
        node_uuid: str,
        host: str,
        nodename: str,
        hypervisor_type: str,
        availability_zone: str,
        vcpus: int,
        memory_mb: int,
        local_gb: int,
        hypervisor_version: int = 0,
        service_disabled: bool = False,
        service_up: bool = True,
        vcpus_used: int = 0,
        memory_mb_used: int = 0,
        local_gb_used: int = 0,
        reserved_host_memory_mb: int = 0,
        reserved_host_disk_mb: int = 0,
        reserved_host_cpus: int = 0,
        cpu_allocation_ratio: float = 1.0,
        ram_allocation_ratio: float = 1.0,
        disk_allocation_ratio: float = 1.0,
        supported_instances: Iterable[Iterable[str]] = (),
        num_instances: int = 0,
        aggregate_metadata: dict[str, set[str]] | None = None,
        updated_at: dt.datetime | None = None,
    ) -> None:
        self.node_id = node_id
        self.node_uuid = node_uuid
        self.host = host
        self.nodename = nodename
        self.hypervisor_type = hypervisor_type
        self.hypervisor_version = hypervisor_version
        self.availability_zone = availability_zone
        self.service_disabled = service_disabled
        self.service_up = service_up
        self.supported_instances = supported_instances
        self.num_instances = num_instances
        self.aggregate_metadata = {} if aggregate_metadata is None else aggregate_metadata
        self.updated_at = updated_at
        # Private slots first, then one recompute each: setters would need all inputs.
        self._vcpus, self._vcpus_used = vcpus, vcpus_used
        self._reserved_host_cpus = reserved_host_cpus
        self._cpu_allocation_ratio = cpu_allocation_ratio
        self._memory_mb, self._memory_mb_used = memory_mb, memory_mb_used
        self._reserved_host_memory_mb = reserved_host_memory_mb
        self._ram_allocation_ratio = ram_allocation_ratio
        self._local_gb, self._local_gb_used = local_gb, local_gb_used
        self._reserved_host_disk_mb = reserved_host_disk_mb
        self._disk_allocation_ratio = disk_allocation_ratio
        self._recompute()

    # Inputs of the free figures (set through these so the figures stay right).
    memory_mb = _input_property("memory_mb", _recompute_ram)
    memory_mb_used = _input_property("memory_mb_used", _recompute_ram)
    reserved_host_memory_mb = _input_property("reserved_host_memory_mb", _recompute_ram)
    ram_allocation_ratio = _input_property("ram_allocation_ratio", _recompute_ram)
    vcpus = _input_property("vcpus", _recompute_cpu)
    vcpus_used = _input_property("vcpus_used", _recompute_cpu)
    reserved_host_cpus = _input_property("reserved_host_cpus", _recompute_cpu)
    cpu_allocation_ratio = _input_property("cpu_allocation_ratio", _recompute_cpu)
    local_gb = _input_property("local_gb", _recompute_disk)
    local_gb_used = _input_property("local_gb_used", _recompute_disk)
    reserved_host_disk_mb = _input_property("reserved_host_disk_mb", _recompute_disk)
    disk_allocation_ratio = _input_property("disk_allocation_ratio", _recompute_disk)

    @property
    def supported_instances(self) -> tuple[SupportedInstance, ...]:
        """(arch, hv_type, vm_mode) entries, lower case; equal values share a key."""
        return self._supported_instances

    @supported_instances.setter
    def supported_instances(self, entries: Iterable[Iterable[str]]) -> None:
        normalised = normalise_supported(entries)
        self.supported_instances_key = _supported_key(normalised)
        self._supported_instances = _SUPPORTED_BY_KEY[self.supported_instances_key]

    @property
    def ram_capacity_mb(self) -> float:
        return (self._memory_mb - self._reserved_host_memory_mb) * self._ram_allocation_ratio

    @property
    def vcpu_capacity(self) -> float:
        return (self._vcpus - self._reserved_host_cpus) * self._cpu_allocation_ratio

    @property
    def disk_capacity_gb(self) -> float:
        reserved_gb = math.ceil(self._reserved_host_disk_mb / 1024)
        return (self._local_gb - reserved_gb) * self._disk_allocation_ratio

    def _recompute(self) -> None:
        _recompute_ram(self)
        _recompute_cpu(self)
        _recompute_disk(self)

    def fits(self, flavor: FlavorSpec) -> bool:
        """Whether one more instance of ``flavor`` fits in RAM, vCPUs and disk."""
        return (
            self.free_ram_mb >= flavor.memory_mb
            and self.free_vcpus >= flavor.vcpus
            and self.free_disk_gb >= requested_disk_gb(flavor)
        )

    def consume(self, flavor: FlavorSpec) -> None:
        """Record one instance of ``flavor`` as placed here (in memory only)."""
        self._memory_mb_used += flavor.memory_mb
        self._vcpus_used += flavor.vcpus
        self._local_gb_used += requested_disk_gb(flavor)
        self.num_instances += 1
        self._recompute()

    def release(self, flavor: FlavorSpec) -> None:
        """Undo one :meth:`consume` of ``flavor`` (a batch failed, or a claim moved)."""
        self._memory_mb_used -= flavor.memory_mb
        self._vcpus_used -= flavor.vcpus
        self._local_gb_used -= requested_disk_gb(flavor)
        self.num_instances -= 1
        self._recompute()

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> HostState:
        """Build from a compute_nodes row joined with its service's status.

        Keys are the field names of this class; the DB column names ``id``, ``uuid``,
        ``hypervisor_hostname`` and ``running_vms`` are accepted in place of
        ``node_id``, ``node_uuid``, ``nodename`` and ``num_instances``. Missing
        optional keys take their defaults; ``availability_zone``, ``service_up`` and
        ``service_disabled`` come from the service and the aggregates.
        """
        return cls(**_fields_from_mapping(row))

    def update_from_mapping(self, row: Mapping[str, Any]) -> None:
        """Refresh every field present in ``row`` in place (same keys as from_mapping)."""
        fields = _fields_from_mapping(row, partial=True)
        for name, value in fields.items():
            attr = "_" + name if name in _ALL_INPUTS else name
            setattr(self, attr, value)
        self._recompute()

    def __repr__(self) -> str:
        return (
            f"HostState(host={self.host!r}, nodename={self.nodename!r}, "
            f"free_ram_mb={self.free_ram_mb}, free_vcpus={self.free_vcpus}, "
            f"free_disk_gb={self.free_disk_gb}, num_instances={self.num_instances})"
        )


_ALL_INPUTS = frozenset((*_RAM_INPUTS, *_CPU_INPUTS, *_DISK_INPUTS))
_ALL_FIELDS = (*_PLAIN_FIELDS, "supported_instances", *_RAM_INPUTS, *_CPU_INPUTS, *_DISK_INPUTS)


def _fields_from_mapping(row: Mapping[str, Any], partial: bool = False) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in _ALL_FIELDS:
        if name in row:
            value = row[name]
        elif name in _COLUMN_ALIASES and _COLUMN_ALIASES[name] in row:
            value = row[_COLUMN_ALIASES[name]]
        elif partial:
            continue
        elif name in _DEFAULTS:
            value = _DEFAULTS[name]
        elif name == "aggregate_metadata":
            value = {}
        else:
            raise KeyError(f"compute node mapping lacks {name!r}")
        if value is None and name in _DEFAULTS:
            value = _DEFAULTS[name]
        fields[name] = value
    return fields
