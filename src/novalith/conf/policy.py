"""[oslo_policy] options (oslo.policy's own: policy_file, policy_dirs, ...)."""

from __future__ import annotations

from oslo_config import cfg
from oslo_policy import opts


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [(group, list(options)) for group, options in opts.list_opts()]
