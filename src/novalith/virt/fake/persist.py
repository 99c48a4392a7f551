"""Fake guests that outlive the compute process, as a real hypervisor's guests do.

With ``[fake_driver] state_dir`` set, each fake host keeps one small file per guest
in ``<state_dir>/<host>/<uuid>.json``: written when a spawn starts (a half-built
guest), rewritten when it completes, removed by destroy. A compute process killed
mid-build and started again finds its guests, half-built ones included, so its
start-up reconcile has something real to clean up; and tests of several compute
processes can see which host holds which guest (nothing built twice).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import msgspec

from novalith.objects.specs import InstanceSpec

LOG = logging.getLogger(__name__)


class GuestFile(msgspec.Struct, kw_only=True):
    spec: InstanceSpec
    built: bool = False  # False: the spawn never finished (crash mid-build)


_decoder = msgspec.json.Decoder(GuestFile)


class GuestFiles:
    """The guest files of one fake host (one directory)."""

    def __init__(self, state_dir: str, host: str) -> None:
        self.path = os.path.join(state_dir, host)
        os.makedirs(self.path, exist_ok=True)

    def _file(self, uuid: str) -> str:
        return os.path.join(self.path, f"{uuid}.json")

    def save(self, spec: InstanceSpec, built: bool) -> None:
        tmp = self._file(spec.uuid) + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(msgspec.json.encode(GuestFile(spec=spec, built=built)))
        os.replace(tmp, self._file(spec.uuid))

    def remove(self, uuid: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._file(uuid))

    def load(self) -> Iterator[GuestFile]:
        for name in sorted(os.listdir(self.path)):
            if not name.endswith(".json"):
                continue
            try:
                with open(os.path.join(self.path, name), "rb") as fh:
                    yield _decoder.decode(fh.read())
            except (OSError, msgspec.DecodeError) as exc:
                LOG.warning("Ignoring unreadable fake guest file %s: %s", name, exc)
