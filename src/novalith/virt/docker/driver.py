"""DockerDriver: instances are containers of a Docker engine (entry point ``docker``).

The driver implements the core contract plus pause (the cgroup freezer), console
(the container's log), snapshot (commit + save) and the image cache. Suspend is not
offered: it needs checkpoint/restore (CRIU), which the engines here lack, so
``require(driver, SuspendSupport, "suspend")`` answers 409 "The suspend operation is
not supported by the docker driver."

How the pieces fit (one module per concern):

* :mod:`.config`: ``[docker]`` settings; :mod:`.engine`: the connection and the
  error mapping;
* :mod:`.images`: images loaded once per host and tagged
  ``novalith-image/<host>:<image id>``; :mod:`.image_tar`: what an image file holds;
* :mod:`.container_spec`: labels, limits, command, mounts of a container;
  :mod:`.metadata`: the config-drive directory mounted into it;
* :mod:`.power_state`: container states -> power states (the table is there);
* :mod:`.resources`: host capacity; :mod:`.snapshot`: commit and save.
* :mod:`.events`: the engine's container events -> ``instance_power_changed`` at
  once (a container stopped, killed, paused or restarted outside Novalith).

Identity: a container carries the labels ``novalith.instance_uuid`` and
``novalith.host``; the driver finds its containers by those labels only, so
several compute hosts (or test clouds) can share one engine, and start-up
reconciliation (``list_instances`` + ``destroy``) only ever sees this host's.

Operations map onto the engine as follows: reboot SOFT is ``docker restart`` with
``[docker] stop_timeout`` (stop signal, then SIGKILL after the timeout, then
start); HARD is kill + start; power_off with a timeout is ``docker stop`` with it,
without one ``docker kill``; destroy removes the container with its anonymous
volumes (``docker rm -f -v``) and the instance directory, and keeps the image.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any, Self, TypeVar

from oslo_config import cfg

from novalith import exceptions
from novalith.objects.specs import InstanceSpec
from novalith.objects.states import PowerState
from novalith.virt.docker import container_spec as cs
from novalith.virt.docker import engine as eng
from novalith.virt.docker import events as ev
from novalith.virt.docker import images, metadata, resources
from novalith.virt.docker import power_state as ps
from novalith.virt.docker import snapshot as snap
from novalith.virt.docker.config import DockerSettings
from novalith.virt.driver import (
    REBOOT_HARD,
    REBOOT_TYPES,
    ComputeCallbacks,
    ComputeDriver,
    ConsoleSupport,
    DriverCapabilities,
    HostResources,
    ImageCacheSupport,
    InstanceInfo,
    PauseSupport,
    SnapshotSupport,
)

LOG = logging.getLogger(__name__)
T = TypeVar("T")


class DockerDriver(ComputeDriver, PauseSupport, ConsoleSupport, SnapshotSupport,
                   ImageCacheSupport):
    """Containers of one compute host on the engine at ``[docker] url``."""

    name = "docker"
    # Every container gets the config-drive files (mounted), asked for or not.
    declared_capabilities = DriverCapabilities(supports_config_drive=True)
    snapshot_disk_format = "raw"
    snapshot_container_format = "docker"

    def __init__(self, settings: DockerSettings, host: str,
                 callbacks: ComputeCallbacks) -> None:
        super().__init__(host, callbacks)
        self.settings = settings
        self.engine = eng.Engine(settings)
        self.images = images.ImageStore(self.engine, host, settings.instances_path,
                                        self._fetch)
        self._lock = threading.Lock()
        self._building: set[str] = set()
        self._events: ev.EventWatcher | None = None  # from init_host to cleanup_host

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts, host: str, callbacks: ComputeCallbacks) -> Self:
        return cls(DockerSettings.from_conf(conf), host, callbacks)

    @property
    def instances_path(self) -> str:
        return self.settings.instances_path

    def _fetch(self, image_id: str, dest: str) -> None:
        self.callbacks.fetch_image(image_id, dest)

    # -- life of the driver ------------------------------------------------

    def init_host(self) -> None:
        self.engine.connect()
        os.makedirs(self.instances_path, exist_ok=True)
        version = self._engine_call("version", lambda api: api.version())
        LOG.info("docker driver of %s: engine %s (API %s) at %s", self.host,
                 version.get("Version"), self.engine.api.api_version, self.settings.url)
        if self._events is None:
            self._events = ev.EventWatcher(self.engine, self.host, self._power_changed)
            self._events.start()

    def cleanup_host(self) -> None:
        events, self._events = self._events, None
        if events is not None:
            events.stop()
        self.engine.close()

    def _power_changed(self, uuid: str, power_state: int) -> None:
        self.callbacks.instance_power_changed(uuid, power_state)

    # -- finding containers --------------------------------------------------

    def _engine_call(self, action: str, fn: Callable[[Any], T]) -> T:
        """``fn(api)`` for a call about no particular instance, errors mapped."""
        return eng.call(lambda: fn(self.engine.api), url=self.settings.url, doing=action,
                        failed=f"Docker {action} failed")

    def _containers(self, uuid: str | None = None, *, any_host: bool = False
                    ) -> list[dict[str, Any]]:
        """Summaries (``docker ps -a``) of Novalith containers: of this host, or of
        every host on the engine; of one instance when ``uuid`` is given."""
        wanted = [f"{cs.LABEL_UUID}={uuid}" if uuid else cs.LABEL_UUID]
        if not any_host:
            wanted.append(f"{cs.LABEL_HOST}={self.host}")
        return self._engine_call("list", lambda api: list(
            api.containers(all=True, filters={"label": wanted})))

    def _find(self, uuid: str) -> dict[str, Any] | None:
        found = self._containers(uuid)
        return found[0] if found else None

    def _container(self, instance: InstanceSpec) -> dict[str, Any]:
        found = self._find(instance.uuid)
        if found is None:
            raise exceptions.InstanceNotFound(instance_id=instance.uuid)
        return found

    def _do(self, instance: InstanceSpec, action: str, fn: Callable[[Any], T]) -> T:
        """``fn(api)`` acting on the instance's container, with errors mapped."""
        try:
            return fn(self.engine.api)
        except exceptions.NovalithError:
            raise
        except Exception as err:
            raise eng.translate(err, instance.uuid, action, self.settings.url) from err

    @staticmethod
    def _status(summary: dict[str, Any]) -> str:
        return str(summary.get("State") or "")

    @staticmethod
    def _invalid(action: str, instance: InstanceSpec, status: str
                 ) -> exceptions.InstanceInvalidState:
        power = PowerState.NAMES.get(ps.power_state(status), "NOSTATE")
        return exceptions.InstanceInvalidState(action=action, instance_id=instance.uuid,
                                               attr="power_state", state=power)

    # -- spawn -------------------------------------------------------------

    def spawn(self, instance: InstanceSpec, admin_password: str | None,
              network_info: list[Any] | None = None) -> None:
        uuid = instance.uuid
        with self._lock:
            if uuid in self._building:
                raise exceptions.Duplicate(what="Instance", key="uuid", value=uuid)
            self._building.add(uuid)
        try:
            if self._find(uuid) is not None:
                raise exceptions.Duplicate(what="Instance", key="uuid", value=uuid)
            # Files without a container: a leftover of a crash; not ours to reuse.
            metadata.remove(self.instances_path, uuid)
            created: list[str] = []
            try:
                self._build(instance, admin_password, network_info, created)
            except BaseException as err:
                LOG.warning("Spawn of %s failed, cleaning up: %s", uuid, err)
                self._remove_everything(uuid, created)
                failure = _build_error(err, uuid)
                if failure is err:
                    raise
                raise failure from err
        finally:
            with self._lock:
                self._building.discard(uuid)

    def _build(self, instance: InstanceSpec, admin_password: str | None,
               network_info: list[Any] | None, created: list[str]) -> None:
        image = images.check_meta(instance.image, instance.uuid)
        config_dir = metadata.write(self.instances_path, instance, admin_password,
                                    network_info)
        api = self.engine.api
        with self.images.use(image) as ready:
            spec = cs.build(instance, self.settings, self.host, ready.reference, image.id,
                            ready.config, config_dir)
            answer = api.create_container(
                image=spec.image, command=spec.command, name=spec.name,
                hostname=spec.hostname, labels=spec.labels, environment=spec.environment,
                stop_timeout=spec.stop_timeout, detach=True,
                host_config=api.create_host_config(**spec.host_config))
            created.append(str(answer["Id"]))
        for warning in answer.get("Warnings") or ():
            LOG.warning("Container of %s: %s", instance.uuid, warning)
        api.start(created[0])
        # start returns once the process runs; one look catches a command that ended
        # at once (nothing that takes its time is waited for).
        state = api.inspect_container(created[0])["State"]
        if state.get("Status") != ps.RUNNING:
            why = f"exit code {state.get('ExitCode')}"
            if state.get("Error"):
                why += f", {state['Error']}"
            tail = _text(api.logs(created[0], stdout=True, stderr=True, tail=5)).strip()
            raise exceptions.BuildFailed(
                instance_uuid=instance.uuid,
                reason=f"the container is {state.get('Status')} right after its start "
                       f"({why})" + (f": {tail[-500:]}" if tail else ""))

    def _remove_everything(self, uuid: str, known_ids: list[str]) -> None:
        """Containers of ``uuid`` (those just created and any the label finds) and the
        instance directory; never the image."""
        ids = list(known_ids)
        try:
            ids += [c["Id"] for c in self._containers(uuid) if c["Id"] not in ids]
        except Exception:
            LOG.exception("Could not list the containers of %s", uuid)
        for container_id in ids:
            try:
                self._remove_container(container_id)
            except Exception:
                LOG.exception("Could not remove container %s of %s", container_id, uuid)
        metadata.remove(self.instances_path, uuid)

    def _remover(self, container_id: str) -> Callable[[Any], None]:
        return lambda _api: self._remove_container(container_id)

    def _remove_container(self, container_id: str) -> None:
        docker = eng.docker_module()
        try:
            self.engine.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass

    # -- destroy / reboot / power --------------------------------------------

    def destroy(self, instance: InstanceSpec, destroy_disks: bool = True) -> None:
        """Remove the container (and its anonymous volumes); with ``destroy_disks``
        also the instance directory. The image stays cached."""
        for summary in self._containers(instance.uuid):
            self._do(instance, "destroy", self._remover(str(summary["Id"])))
        if destroy_disks:
            metadata.remove(self.instances_path, instance.uuid)

    def reboot(self, instance: InstanceSpec, reboot_type: str) -> None:
        if reboot_type not in REBOOT_TYPES:
            raise exceptions.Invalid(f"reboot_type must be SOFT or HARD, not {reboot_type!r}.")
        summary = self._container(instance)
        cid, status = summary["Id"], self._status(summary)
        if reboot_type != REBOOT_HARD and status == ps.RUNNING:
            # Stop signal, up to stop_timeout s, then SIGKILL; then start again.
            self._do(instance, "reboot", lambda api: api.restart(
                cid, timeout=self.settings.stop_timeout))
            return
        self._do(instance, "reboot", lambda api: self._kill_and_start(api, cid, status))

    def _kill_and_start(self, api: Any, cid: str, status: str) -> None:
        if status in ps.ACTIVE:
            self._kill(api, cid)
        api.start(cid)

    @staticmethod
    def _kill(api: Any, cid: str) -> None:
        """SIGKILL the container (a paused one too) and wait until it runs no more."""
        docker = eng.docker_module()
        try:
            api.kill(cid)
        except docker.errors.APIError as err:
            if eng.status_of(err) != 409:  # 409: it stopped meanwhile
                raise
        api.wait(cid, condition="not-running")

    def power_off(self, instance: InstanceSpec, timeout: int = 0) -> None:
        summary = self._container(instance)
        cid, status = summary["Id"], self._status(summary)
        if status not in ps.ACTIVE:
            return
        if timeout > 0:
            self._do(instance, "power off", lambda api: api.stop(cid, timeout=timeout))
        else:
            self._do(instance, "power off", lambda api: self._kill(api, cid))

    def power_on(self, instance: InstanceSpec) -> None:
        summary = self._container(instance)
        cid, status = summary["Id"], self._status(summary)
        if status in (ps.RUNNING, ps.RESTARTING):
            return
        if status == ps.PAUSED:
            raise self._invalid("power on", instance, status)
        self._do(instance, "power on", lambda api: api.start(cid))

    # -- pause -----------------------------------------------------------------

    def pause(self, instance: InstanceSpec) -> None:
        summary = self._container(instance)
        status = self._status(summary)
        if status == ps.PAUSED:
            return
        if status != ps.RUNNING:
            raise self._invalid("pause", instance, status)
        self._do(instance, "pause", lambda api: api.pause(summary["Id"]))

    def unpause(self, instance: InstanceSpec) -> None:
        summary = self._container(instance)
        status = self._status(summary)
        if status == ps.RUNNING:
            return
        if status != ps.PAUSED:
            raise self._invalid("unpause", instance, status)
        self._do(instance, "unpause", lambda api: api.unpause(summary["Id"]))

    # -- inspection ------------------------------------------------------------

    def get_info(self, instance: InstanceSpec) -> InstanceInfo:
        summary = self._container(instance)
        details = self._do(instance, "get info",
                           lambda api: api.inspect_container(summary["Id"]))
        return InstanceInfo(power_state=ps.from_inspect(details.get("State") or {}),
                            internal_id=str(details.get("Name") or "").lstrip("/") or None)

    def get_console_output(self, instance: InstanceSpec) -> str:
        """stdout and stderr of every run of the container, in order (its tail)."""
        summary = self._container(instance)
        limit = self.settings.console_log_max_bytes
        raw = self._do(instance, "console output", lambda api: api.logs(
            summary["Id"], stdout=True, stderr=True, tail=max(limit // 16, 100)))
        return _text(raw[-limit:] if isinstance(raw, bytes) else raw)

    def list_instances(self) -> list[str]:
        uuids = (str((c.get("Labels") or {}).get(cs.LABEL_UUID) or "")
                 for c in self._containers())
        return sorted({u for u in uuids if u})

    def get_available_resource(self) -> HostResources:
        info = self._engine_call("info", lambda api: api.info())
        version = self._engine_call("version", lambda api: api.version())
        everyone = self._containers(any_host=True)
        ours = sum(1 for c in everyone
                   if (c.get("Labels") or {}).get(cs.LABEL_HOST) == self.host)
        disk = os.statvfs(resources.disk_path(info, self.instances_path))
        return resources.host_resources(info, version, everyone, self.host, ours, disk)

    # -- snapshot / image cache ---------------------------------------------------

    def snapshot(self, instance: InstanceSpec, dest: str) -> None:
        """A ``docker save`` tarball of the container's file system and command
        (see :mod:`.snapshot`); the instance keeps its power state."""
        summary = self._container(instance)
        snap.snapshot(self.engine.api, summary["Id"], instance.uuid, dest)

    def manage_image_cache(self, images_in_use: frozenset[str]) -> None:
        if not self.settings.remove_unused_images:
            return
        try:
            self.images.prune(images_in_use, self.settings.remove_unused_min_age)
        except Exception:
            LOG.exception("The docker image cache pass of %s failed", self.host)


def _text(raw: Any) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    return str(raw or "")


def _build_error(err: BaseException, uuid: str) -> BaseException:
    """What a failed spawn raises: BuildFailed (the conductor may reschedule) for a
    failure of this host or engine; the error itself for one no other host would
    avoid (bad user data, an image that cannot be found or used)."""
    if not isinstance(err, Exception) or isinstance(err, exceptions.BuildFailed):
        return err
    if isinstance(err, exceptions.NovalithError) and type(err) not in (
            exceptions.NovalithError, exceptions.ServiceUnavailable):
        return err
    return exceptions.BuildFailed(instance_uuid=uuid, reason=_reason(err))


def _reason(err: BaseException) -> str:
    if isinstance(err, exceptions.NovalithError):
        return str(err)
    return eng.reason(err)
