"""Factories for scheduler unit tests: hosts and request specs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from novalith.objects.specs import FlavorSpec, ImageMeta, RequestSpec
from novalith.scheduler.host_state import HostState

HostFactory = Callable[..., HostState]
SpecFactory = Callable[..., RequestSpec]


def _host(name: str = "h1", **overrides: Any) -> HostState:
    fields: dict[str, Any] = dict(
        node_id=1, node_uuid=f"uuid-{name}", host=name, nodename=f"{name}.node",
        hypervisor_type="QEMU", hypervisor_version=8002000, availability_zone="nova",
        vcpus=8, memory_mb=16384, local_gb=100,
        supported_instances=[["x86_64", "qemu", "hvm"]],
    )
    fields.update(overrides)
    return HostState(**fields)


def _spec(
    memory_mb: int = 1024, vcpus: int = 1, root_gb: int = 10, ephemeral_gb: int = 0,
    swap: int = 0, image_props: dict[str, Any] | None = None, **overrides: Any,
) -> RequestSpec:
    flavor = FlavorSpec(flavorid="f", name="f", memory_mb=memory_mb, vcpus=vcpus,
                        root_gb=root_gb, ephemeral_gb=ephemeral_gb, swap=swap)
    image = None if image_props is None else ImageMeta(id="img", properties=image_props)
    fields: dict[str, Any] = dict(instance_uuids=["i1"], project_id="p", flavor=flavor,
                                  image=image)
    fields.update(overrides)
    return RequestSpec(**fields)


@pytest.fixture
def make_host() -> HostFactory:
    return _host


@pytest.fixture
def make_spec() -> SpecFactory:
    return _spec
