"""[DEFAULT] options of moves: resize to the same host, auto-confirm of resizes."""

from __future__ import annotations

from oslo_config import cfg

OPTS: list[cfg.Opt] = [
    cfg.BoolOpt("allow_resize_to_same_host", default=False,
                help="Let a resize pick the server's current host as its destination "
                     "(the scheduler still applies its filters; both flavors are claimed "
                     "there until the resize is confirmed or reverted). Cold migrations "
                     "always go to another host."),
    cfg.IntOpt("resize_confirm_window", default=0, min=0,
               help="Seconds after which a resize or cold migration waiting in "
                    "VERIFY_RESIZE is confirmed automatically by the destination "
                    "compute service; 0 never confirms automatically."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [(None, OPTS)]
