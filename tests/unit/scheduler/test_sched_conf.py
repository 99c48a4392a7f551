from __future__ import annotations

import dataclasses

import pytest
from oslo_config import cfg

from novalith.conf import scheduler as sched_conf
from novalith.conf.scheduler import DEFAULT_FILTERS, DEFAULT_WEIGHERS, SchedulerConfig


def _conf(tmp_path, text: str = "") -> cfg.ConfigOpts:
    path = tmp_path / "novalith.conf"
    path.write_text(text)
    conf = cfg.ConfigOpts()
    for group, opts in sched_conf.list_opts():
        conf.register_opts(opts, group=group)
    conf([], project="novalith", default_config_files=[str(path)])
    return conf


def test_defaults(tmp_path) -> None:
    config = SchedulerConfig.from_conf(_conf(tmp_path))
    assert config == SchedulerConfig()
    assert config.enabled_filters == DEFAULT_FILTERS
    assert config.weight_classes == DEFAULT_WEIGHERS
    assert (config.host_subset_size, config.max_attempts) == (1, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.max_attempts = 5  # type: ignore[misc]


def test_values_from_file(tmp_path) -> None:
    conf = _conf(tmp_path, "[filter_scheduler]\n"
                 "enabled_filters = ComputeFilter, RamFilter\n"
                 "ram_weight_multiplier = -1.5\nhost_subset_size = 4\n"
                 "[scheduler]\nmax_attempts = 1\n")
    config = SchedulerConfig.from_conf(conf)
    assert config.enabled_filters == ("ComputeFilter", "RamFilter")
    assert config.ram_weight_multiplier == -1.5
    assert (config.host_subset_size, config.max_attempts) == (4, 1)


def test_enabled_filters_deprecated_scheduler_section(tmp_path) -> None:
    conf = _conf(tmp_path, "[scheduler]\nenabled_filters = RamFilter,DiskFilter\n")
    assert SchedulerConfig.from_conf(conf).enabled_filters == ("RamFilter", "DiskFilter")


def test_minimums_enforced(tmp_path) -> None:
    conf = _conf(tmp_path, "[filter_scheduler]\nhost_subset_size = 0\n")
    with pytest.raises(cfg.ConfigFileValueError):
        SchedulerConfig.from_conf(conf)


def test_registered_in_novalith_opts() -> None:
    from novalith.conf.opts import _MODULES

    assert "scheduler" in _MODULES
