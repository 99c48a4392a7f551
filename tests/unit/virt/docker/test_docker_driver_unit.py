"""The Docker driver without an engine: what it declares, and how it fails to connect."""

from __future__ import annotations

from pathlib import Path

import pytest

from novalith import exceptions
from novalith.conf import make_conf
from novalith.virt.docker import driver as docker_driver
from novalith.virt.docker.driver import DockerDriver
from novalith.virt.driver import (
    ImageCacheSupport,
    PauseSupport,
    SnapshotSupport,
    SuspendSupport,
    require,
)
from novalith.virt.loader import load_driver


class Callbacks:
    def instance_power_changed(self, uuid: str, power_state: int) -> None: ...

    def fetch_image(self, image_id: str, dest: str) -> None:
        raise exceptions.ImageNotFound(image_id=image_id)


def driver(tmp_path: Path, **docker_opts: object) -> DockerDriver:
    conf = make_conf(overrides={"DEFAULT": {"compute_driver": "docker",
                                            "instances_path": str(tmp_path)},
                                "docker": docker_opts})
    built = load_driver("docker", conf, "host-a", Callbacks())
    assert isinstance(built, DockerDriver)
    return built


def test_loaded_by_entry_point_with_its_capabilities(tmp_path: Path) -> None:
    drv = driver(tmp_path)
    caps = drv.capabilities
    assert (caps.supports_pause, caps.supports_console, caps.supports_snapshot) == (
        True, True, True)
    assert caps.supports_suspend is False and caps.supports_config_drive is True
    assert isinstance(drv, ImageCacheSupport)
    # Compute uploads its snapshots as docker images.
    assert (drv.snapshot_disk_format, drv.snapshot_container_format) == ("raw", "docker")


def test_suspend_is_a_clear_409(tmp_path: Path) -> None:
    drv = driver(tmp_path)
    assert require(drv, PauseSupport, "pause") is drv
    assert require(drv, SnapshotSupport, "createImage") is drv
    for operation in ("suspend", "resume"):
        with pytest.raises(exceptions.NotSupported) as err:
            require(drv, SuspendSupport, operation)
        assert err.value.status == 409
        assert str(err.value) == (
            f"The {operation} operation is not supported by the docker driver.")


def test_bad_settings_stop_the_driver_before_it_connects(tmp_path: Path) -> None:
    with pytest.raises(exceptions.Invalid, match="container_name_template"):
        driver(tmp_path, container_name_template="no-id")


def test_an_unreachable_engine_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("docker")
    drv = driver(tmp_path, url=f"unix://{tmp_path}/no-docker.sock", connection_timeout=0)
    with pytest.raises(exceptions.ServiceUnavailable,
                       match=r"Cannot reach the Docker engine at unix://.*no-docker\.sock.*"
                             r"Is dockerd running"):
        drv.init_host()
    # Before a connection, every call says so instead of failing obscurely.
    with pytest.raises(exceptions.ServiceUnavailable, match="not connected"):
        drv.list_instances()
    drv.cleanup_host()
    with pytest.raises(exceptions.ServiceUnavailable, match="compute is stopping"):
        drv.list_instances()


@pytest.mark.parametrize("error,kind", [
    (RuntimeError("engine said no"), exceptions.BuildFailed),
    (exceptions.NovalithError("The Docker engine refused image x"), exceptions.BuildFailed),
    (exceptions.ServiceUnavailable("engine down"), exceptions.BuildFailed),
    (exceptions.ImageNotFound(image_id="x"), exceptions.ImageNotFound),
    (exceptions.Invalid("bad user data"), exceptions.Invalid),
    (exceptions.BuildFailed(instance_uuid="u", reason="r"), exceptions.BuildFailed),
])
def test_spawn_failures_that_another_host_might_avoid_are_build_failures(
        error: Exception, kind: type[Exception]) -> None:
    mapped = docker_driver._build_error(error, "u-1")
    assert type(mapped) is kind
    if kind is exceptions.BuildFailed and not isinstance(error, exceptions.BuildFailed):
        assert str(error) in str(mapped) and "u-1" in str(mapped)
    elif not isinstance(error, RuntimeError):
        assert mapped is error
