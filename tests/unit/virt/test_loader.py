"""Finding compute drivers by entry-point name."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path

import pytest
import stevedore._cache

from novalith import exceptions
from novalith.conf import make_conf
from novalith.virt.fake import FakeDriver, FakeSettings
from novalith.virt.loader import NAMESPACE, installed_drivers, load_driver


class Callbacks:
    def instance_power_changed(self, uuid: str, power_state: int) -> None:
        pass


_namespaces = itertools.count()


@pytest.fixture
def plugin_namespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A private entry-point namespace holding a non-driver and a broken plugin.

    Installed as a throw-away distribution on sys.path; the namespace name is
    unique per test because stevedore caches entry points per namespace.
    """
    namespace = f"novalith.tests.loader_{next(_namespaces)}"
    (tmp_path / "loader_plugins_mod.py").write_text("class NotADriver:\n    pass\n")
    dist = tmp_path / "novalith_loader_test_plugins-0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: novalith-loader-test-plugins\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(f"""\
        [{namespace}]
        notadriver = loader_plugins_mod:NotADriver
        broken = loader_plugins_missing_mod:Driver
        fake = novalith.virt.fake.driver:FakeDriver
        """))
    # Keep stevedore from writing a cache file for this throw-away sys.path.
    monkeypatch.setattr(stevedore._cache._c, "_disable_caching", True, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    return namespace


def test_loads_fake_with_its_settings() -> None:
    conf = make_conf(overrides={"fake_driver": {"vcpus": 12, "spawn_delay": 0.5}})
    drv = load_driver("fake", conf, "host-a", Callbacks())
    assert isinstance(drv, FakeDriver)
    assert drv.host == "host-a"
    assert drv.settings == FakeSettings(vcpus=12, spawn_delay=0.5)


def test_fake_is_installed() -> None:
    assert "fake" in installed_drivers()
    assert installed_drivers() == installed_drivers(NAMESPACE)


def test_unknown_name_lists_what_is_installed() -> None:
    with pytest.raises(exceptions.UnknownPlugin) as err:
        load_driver("hyperwarp", make_conf(), "host-a", Callbacks())
    message = str(err.value)
    assert "'hyperwarp'" in message and "compute driver" in message
    assert "fake" in err.value.kwargs["available"]  # type: ignore[operator]


def test_invalid_settings_stop_loading() -> None:
    conf = make_conf(overrides={"fake_driver": {"hypervisor_type": ""}})
    with pytest.raises(exceptions.Invalid, match="hypervisor_type"):
        load_driver("fake", conf, "host-a", Callbacks())


def test_unknown_name_in_other_namespace(plugin_namespace: str) -> None:
    with pytest.raises(exceptions.UnknownPlugin) as err:
        load_driver("nope", make_conf(), "h", Callbacks(), namespace=plugin_namespace)
    assert err.value.kwargs["available"] == "broken, fake, notadriver"


def test_plugin_that_is_not_a_driver(plugin_namespace: str) -> None:
    with pytest.raises(exceptions.NovalithError, match="not a ComputeDriver") as err:
        load_driver("notadriver", make_conf(), "h", Callbacks(), namespace=plugin_namespace)
    assert not isinstance(err.value, exceptions.UnknownPlugin)


def test_plugin_that_fails_to_import_says_why(plugin_namespace: str) -> None:
    with pytest.raises(exceptions.NovalithError, match="failed to load") as err:
        load_driver("broken", make_conf(), "h", Callbacks(), namespace=plugin_namespace)
    assert not isinstance(err.value, exceptions.UnknownPlugin)
    assert isinstance(err.value.__cause__, ImportError)
    assert "loader_plugins_missing_mod" in str(err.value)


def test_other_namespace_loads_real_driver(plugin_namespace: str) -> None:
    drv = load_driver("fake", make_conf(), "h", Callbacks(), namespace=plugin_namespace)
    assert isinstance(drv, FakeDriver)
