"""[conductor] options: the build watchdog that recovers builds whose message or
compute host was lost (see novalith.conductor.recovery)."""

from __future__ import annotations

import dataclasses

from oslo_config import cfg

OPTS: list[cfg.Opt] = [
    cfg.IntOpt("build_check_interval", default=30, min=0,
               help="Seconds between the conductor's checks for stuck builds; 0 turns "
                    "the check off."),
    cfg.IntOpt("build_redeliver_after", default=120, min=1,
               help="Seconds a build may wait for its scheduling or for its compute host "
                    "to start it before the conductor sends the request again (safe: "
                    "claims and builds refuse a second run)."),
    cfg.IntOpt("build_timeout", default=1800, min=1,
               help="Seconds after its creation a server still building goes to ERROR "
                    "and gives back what it claimed."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [("conductor", OPTS)]


@dataclasses.dataclass(frozen=True, slots=True)
class WatchdogConfig:
    check_interval: int = 30
    redeliver_after: int = 120
    build_timeout: int = 1800
    service_down_time: int = 60

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> WatchdogConfig:
        group = conf.conductor
        return cls(check_interval=group.build_check_interval,
                   redeliver_after=group.build_redeliver_after,
                   build_timeout=group.build_timeout,
                   service_down_time=conf.service_down_time)
