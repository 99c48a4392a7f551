"""[workarounds] options: switches that turn off a safety behaviour, as in nova.conf."""

from __future__ import annotations

from oslo_config import cfg

OPTS: list[cfg.Opt] = [
    cfg.BoolOpt("disable_group_policy_check_upcall", default=False,
                help="Skip the late server-group check a compute host makes before it "
                     "builds a member of an affinity or anti-affinity group (the check "
                     "refuses a build that would break the policy and lets the conductor "
                     "reschedule it). Without it, two schedulers placing members of one "
                     "group at the same instant can break the policy."),
    cfg.BoolOpt("handle_virt_lifecycle_events", default=True,
                help="Apply the life-cycle events a compute driver reports (a guest or "
                     "container stopped, paused or started outside Novalith) at once. "
                     "When False, only the periodic power state sync "
                     "(sync_power_state_interval) notices such changes."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [("workarounds", OPTS)]
