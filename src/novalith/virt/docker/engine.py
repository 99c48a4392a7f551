"""The connection to the Docker engine, and its errors as Novalith's.

One low-level ``docker.APIClient`` per driver: a requests session over a connection
pool (``[docker] max_connections``), safe to use from many threads at once (every
call is an independent HTTP request). :meth:`Engine.connect` retries for up to
``connection_timeout`` seconds at start-up, then fails with a clear
:class:`~novalith.exceptions.ServiceUnavailable` naming the endpoint.

Error mapping (:func:`translate`), for calls on one instance's container:

======================================  =============================================
docker-py error                         Novalith error
======================================  =============================================
``NotFound`` (404, the container)       InstanceNotFound
``APIError`` 409 (state conflict)       InstanceInvalidState-like Conflict (409)
``APIError`` other                      NovalithError naming the action and the cause
requests ``ConnectionError``/timeouts   ServiceUnavailable (the engine does not answer)
======================================  =============================================
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

from novalith import exceptions
from novalith.virt.docker.config import DockerSettings

T = TypeVar("T")

LOG = logging.getLogger(__name__)
#: The oldest Engine API the driver uses (init, pids_limit, restart/stop timeouts).
MIN_API_VERSION = (1, 25)


def docker_module() -> Any:
    """The ``docker`` (docker-py) module, or ServiceUnavailable naming the package."""
    try:
        import docker
    except ImportError as err:
        raise exceptions.ServiceUnavailable(
            "The docker driver needs docker-py (pip install 'docker>=7', or the "
            f"novalith[docker] extra): {err}") from err
    if not hasattr(docker, "APIClient"):  # a directory named docker, not the package
        raise exceptions.ServiceUnavailable(
            f"The docker driver needs docker-py; 'docker' is {docker!r}")
    return docker


def _version_tuple(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        return 0, 0


class Engine:
    """A thread-safe connection to the engine at ``settings.url``."""

    def __init__(self, settings: DockerSettings) -> None:
        self.settings = settings
        self._api: Any = None
        self._closed = False

    @property
    def url(self) -> str:
        return self.settings.url

    def connect(self) -> None:
        """Connect and ping, retrying up to ``connection_timeout`` seconds."""
        docker = docker_module()
        self._closed = False
        deadline = time.monotonic() + self.settings.connection_timeout
        while True:
            api = None
            try:
                probe(self.settings.url)
                api = docker.APIClient(base_url=self.settings.url,
                                       version=self.settings.api_version,
                                       timeout=self.settings.api_timeout,
                                       max_pool_size=self.settings.max_connections)
                api.ping()
                break
            except Exception as err:
                if api is not None:
                    api.close()
                if time.monotonic() >= deadline:
                    raise exceptions.ServiceUnavailable(
                        f"Cannot reach the Docker engine at {self.settings.url}: "
                        f"{reason(err)}. Is dockerd running (dockerd >log 2>&1 &)?"
                    ) from err
                time.sleep(0.5)
        if _version_tuple(api.api_version) < MIN_API_VERSION:
            api.close()
            raise exceptions.Invalid(
                f"The Docker engine at {self.settings.url} speaks API {api.api_version}; "
                f"the docker driver needs {'.'.join(map(str, MIN_API_VERSION))} or later.")
        self._api = api

    @property
    def api(self) -> Any:
        """The ``docker.APIClient``; ServiceUnavailable before connect or after close."""
        api = self._api
        if api is None:
            why = "compute is stopping" if self._closed else "not connected yet"
            raise exceptions.ServiceUnavailable(
                f"The connection to the Docker engine at {self.settings.url} is closed "
                f"({why}).")
        return api

    def close(self) -> None:
        """Disconnect (idempotent). Containers keep running."""
        self._closed = True
        api, self._api = self._api, None
        if api is not None:
            try:
                api.close()
            except Exception:
                LOG.debug("closing the engine connection failed", exc_info=True)


def probe(url: str) -> None:
    """Connect to a unix socket endpoint and close again: OSError when nobody listens.

    docker-py leaks the socket of a failed unix connection (a ResourceWarning later);
    this check fails first, cleanly. Other schemes are left to docker-py.
    """
    if not url.startswith("unix://"):
        return
    with contextlib.closing(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)) as sock:
        sock.settimeout(5)
        sock.connect(url.removeprefix("unix://"))


def reason(err: BaseException) -> str:
    """A one-line cause: the engine's explanation when it gave one."""
    explanation = getattr(err, "explanation", None)
    if explanation:
        return str(explanation.decode() if isinstance(explanation, bytes) else explanation)
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__



def is_connection_error(err: BaseException) -> bool:
    """Whether ``err`` says the engine did not answer (not that it refused something)."""
    import requests

    return isinstance(err, (requests.exceptions.ConnectionError,
                            requests.exceptions.Timeout))


def not_answering(err: BaseException, url: str, doing: str
                  ) -> exceptions.ServiceUnavailable | None:
    """The error to raise when ``err`` says the engine at ``url`` did not answer while
    ``doing`` something; None when it answered (and refused)."""
    if not is_connection_error(err):
        return None
    where = f" at {url}" if url else ""
    return exceptions.ServiceUnavailable(
        f"The Docker engine{where} does not answer ({doing}): {reason(err)}")


def call(fn: Callable[[], T], *, url: str, doing: str, failed: str) -> T:
    """``fn()``, with what docker-py raises mapped: :func:`not_answering`, or else
    ``NovalithError("<failed>: <reason>")``. Novalith errors pass through."""
    try:
        return fn()
    except exceptions.NovalithError:
        raise
    except Exception as err:
        raise (not_answering(err, url, doing)
               or exceptions.NovalithError(f"{failed}: {reason(err)}")) from err


def status_of(err: BaseException) -> int | None:
    """The HTTP status of a docker-py ``APIError`` (None for other errors)."""
    docker = docker_module()
    if isinstance(err, docker.errors.APIError):
        code = err.status_code
        return int(code) if code is not None else None
    return None


def translate(err: BaseException, uuid: str, action: str, url: str = ""
              ) -> exceptions.NovalithError:
    """A docker-py error during ``action`` on the container of instance ``uuid``."""
    if isinstance(err, exceptions.NovalithError):
        return err
    docker = docker_module()
    unanswered = not_answering(err, url, f"{action} of {uuid}")
    if unanswered is not None:
        return unanswered
    if isinstance(err, docker.errors.NotFound):
        return exceptions.InstanceNotFound(instance_id=uuid)
    status = status_of(err)
    if status == 409:
        return exceptions.Conflict(f"Cannot {action} instance {uuid}: {reason(err)}")
    return exceptions.NovalithError(f"Docker {action} of instance {uuid} failed: {reason(err)}")
