"""[bootstrap] options: what the first start of an all-in-one cloud creates."""

from __future__ import annotations

from oslo_config import cfg

OPTS: list[cfg.Opt] = [
    cfg.StrOpt("admin_password", secret=True, default=None,
               help="Password of the admin user created at first start; generated and "
                    "printed once when unset."),
    cfg.BoolOpt("create_test_image", default=True,
                help="With the fake driver, register an image named 'fake-image' at first "
                     "start so a server can be booted at once."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [("bootstrap", OPTS)]
