"""Configuration: ``novalith.conf`` read with oslo.config, nova.conf-style names.

Each area declares its options in its own module (``conf/<area>.py``, a
``list_opts()`` function); services turn them into typed objects at
construction and never read the global config deep inside logic.
"""

from __future__ import annotations

from collections.abc import Sequence

from oslo_config import cfg

from novalith.conf.opts import list_opts


def make_conf(config_files: Sequence[str] = (),
              overrides: dict[str, dict[str, object]] | None = None) -> cfg.ConfigOpts:
    """A fresh ConfigOpts with every Novalith option registered and files loaded.

    ``overrides`` maps group (``DEFAULT`` for the default group) to option values,
    applied after the files; used by the command line and by tests.
    """
    conf = cfg.ConfigOpts()
    for group, opts in list_opts():
        conf.register_opts(opts, group=None if group in (None, "DEFAULT") else group)
    conf([], project="novalith", default_config_files=list(config_files),
         validate_default_values=True)
    for group, values in (overrides or {}).items():
        for name, value in values.items():
            conf.set_override(name, value, group=None if group == "DEFAULT" else group)
    return conf
