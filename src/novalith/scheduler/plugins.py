"""Load filters and weighers by entry-point name (stevedore).

An unknown name stops start-up with UnknownPlugin listing what is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import TypeVar

from stevedore import driver

from novalith.conf.scheduler import SchedulerConfig
from novalith.exceptions import UnknownPlugin
from novalith.scheduler.filters import BaseFilter
from novalith.scheduler.weighers import BaseWeigher

FILTER_NAMESPACE = "novalith.scheduler.filters"
WEIGHER_NAMESPACE = "novalith.scheduler.weighers"

_P = TypeVar("_P", BaseFilter, BaseWeigher)


def installed(namespace: str) -> list[str]:
    """Sorted names of the entry points in ``namespace``."""
    return sorted({ep.name for ep in entry_points(group=namespace)})


def _reraise(manager: object, entrypoint: object, exc: BaseException) -> None:
    # stevedore would log a broken plugin and go on; a scheduler must not start so.
    raise exc


def _load(namespace: str, kind: str, base: type[_P], names: Sequence[str],
          config: SchedulerConfig) -> list[_P]:
    available = installed(namespace)
    plugins: list[_P] = []
    for name in names:
        if name not in available:
            raise UnknownPlugin(kind=kind, name=name, available=", ".join(available) or "none")
        mgr: driver.DriverManager[_P] = driver.DriverManager(namespace, name, invoke_on_load=True,
                                   invoke_args=(config,),
                                   on_load_failure_callback=_reraise)
        plugin = mgr.driver
        if not isinstance(plugin, base):
            raise TypeError(f"{kind} {name!r} is {type(plugin).__name__}, "
                            f"not a {base.__name__}")
        plugins.append(plugin)
    return plugins


def load_filters(names: Sequence[str], config: SchedulerConfig) -> list[BaseFilter]:
    """One instance of each named filter, in the given order."""
    return _load(FILTER_NAMESPACE, "scheduler filter", BaseFilter, names, config)


def load_weighers(names: Sequence[str], config: SchedulerConfig) -> list[BaseWeigher]:
    """One instance of each named weigher, in the given order."""
    return _load(WEIGHER_NAMESPACE, "scheduler weigher", BaseWeigher, names, config)
