from __future__ import annotations

import pytest

from novalith.conf.scheduler import DEFAULT_FILTERS, DEFAULT_WEIGHERS, SchedulerConfig
from novalith.exceptions import UnknownPlugin
from novalith.scheduler.filters import BaseFilter
from novalith.scheduler.filters.ram import RamFilter
from novalith.scheduler.plugins import installed, load_filters, load_weighers
from novalith.scheduler.weighers import BaseWeigher


def test_load_defaults_in_order() -> None:
    config = SchedulerConfig(ram_weight_multiplier=-3.0)
    filters = load_filters(DEFAULT_FILTERS, config)
    assert [f.name for f in filters] == list(DEFAULT_FILTERS)
    assert all(isinstance(f, BaseFilter) and f.config is config for f in filters)
    weighers = load_weighers(DEFAULT_WEIGHERS, config)
    assert [w.name for w in weighers] == list(DEFAULT_WEIGHERS)
    assert all(isinstance(w, BaseWeigher) for w in weighers)
    assert weighers[0].multiplier == -3.0


def test_subset_and_order_follow_names() -> None:
    [ram] = load_filters(["RamFilter"], SchedulerConfig())
    assert isinstance(ram, RamFilter)


def test_unknown_filter_lists_installed() -> None:
    with pytest.raises(UnknownPlugin) as info:
        load_filters(["ComputeFilter", "NoSuchFilter"], SchedulerConfig())
    message = str(info.value)
    assert "scheduler filter" in message and "'NoSuchFilter'" in message
    assert "RamFilter" in message and "ImagePropertiesFilter" in message
    assert info.value.kwargs["name"] == "NoSuchFilter"


def test_unknown_weigher() -> None:
    with pytest.raises(UnknownPlugin, match=r"scheduler weigher 'Heavy'.*RAMWeigher"):
        load_weighers(["Heavy"], SchedulerConfig())


def test_installed() -> None:
    assert set(DEFAULT_FILTERS) <= set(installed("novalith.scheduler.filters"))
    assert installed("novalith.no.such.namespace") == []
