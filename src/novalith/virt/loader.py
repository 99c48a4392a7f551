"""Find a compute driver by entry-point name and build it from the config."""

from __future__ import annotations

import importlib.metadata
from typing import Any

from oslo_config import cfg
from stevedore import driver as sv_driver
from stevedore import exception as sv_exception

from novalith import exceptions
from novalith.virt.driver import ComputeCallbacks, ComputeDriver

NAMESPACE = "novalith.compute_drivers"


def installed_drivers(namespace: str = NAMESPACE) -> list[str]:
    """Names of the compute drivers installed (entry points; nothing is imported)."""
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=namespace)})


def load_driver(name: str, conf: cfg.ConfigOpts, host: str, callbacks: ComputeCallbacks,
                *, namespace: str = NAMESPACE) -> ComputeDriver:
    """Build the compute driver called ``name`` through its ``from_conf``.

    Raises :class:`~novalith.exceptions.UnknownPlugin` (listing what is
    installed) for an unknown name, NovalithError when the plugin fails to import
    or is not a ComputeDriver, and whatever ``from_conf`` raises for bad settings.
    The driver is not connected: the caller runs ``init_host``.
    """

    def _import_failed(_mgr: Any, entry_point: Any, err: BaseException) -> None:
        raise exceptions.NovalithError(
            f"compute driver {name!r} ({entry_point.value}) failed to load: {err}") from err

    try:
        manager: sv_driver.DriverManager[Any] = sv_driver.DriverManager(
            namespace, name, on_load_failure_callback=_import_failed,
            on_missing_entrypoints_callback=None)
    except sv_exception.NoMatches:
        raise exceptions.UnknownPlugin(
            kind="compute driver", name=name,
            available=", ".join(installed_drivers(namespace)) or "(none)") from None
    plugin = manager.extensions[0].plugin
    if not (isinstance(plugin, type) and issubclass(plugin, ComputeDriver)):
        raise exceptions.NovalithError(
            f"compute driver {name!r} is {plugin!r}, not a ComputeDriver subclass")
    return plugin.from_conf(conf, host, callbacks)
