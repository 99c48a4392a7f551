"""Every option group, for registration and for ``novalith config sample``."""

from __future__ import annotations

import importlib

from oslo_config import cfg

# One module per area; each has list_opts() -> [(group, [opts])].
_MODULES = ("default", "database", "api", "identity", "scheduler", "compute", "fake_driver",
            "bootstrap", "image_cache", "image", "service", "conductor", "libvirt", "docker",
            "quota", "policy", "moves", "workarounds")


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    merged: dict[str | None, list[cfg.Opt]] = {}
    for name in _MODULES:
        module = importlib.import_module(f"novalith.conf.{name}")
        for group, opts in module.list_opts():
            merged.setdefault(group, []).extend(opts)
    return sorted(merged.items(), key=lambda kv: (kv[0] not in (None, "DEFAULT"), kv[0] or ""))
