"""``novalith image register-docker`` before it reaches a cloud: which engine it asks,
and the clear errors when docker-py or the engine is missing. The whole command
against a real engine and cloud is tests/e2e/test_docker_image_cli.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from novalith.cmd.docker_image import DEFAULT_DOCKER_URL, resolve_docker_url
from novalith.cmd.main import cli

NO_ENGINE = "unix:///nonexistent/novalith-test/docker.sock"


def test_the_option_wins_then_the_config_then_the_local_socket(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./novalith.conf
    assert resolve_docker_url(None, None) == DEFAULT_DOCKER_URL
    assert resolve_docker_url("tcp://127.0.0.1:2375", None) == "tcp://127.0.0.1:2375"
    conf = tmp_path / "novalith.conf"
    conf.write_text("[DEFAULT]\nhost = h\n")  # no [docker] url: the default
    assert resolve_docker_url(None, str(conf)) == DEFAULT_DOCKER_URL
    conf.write_text("[docker]\nurl = unix:///run/other/docker.sock\n")
    assert resolve_docker_url(None, None) == "unix:///run/other/docker.sock"  # ./novalith.conf
    other = tmp_path / "other.conf"
    other.write_text("[docker]\nurl = tcp://127.0.0.1:2375\n")
    assert resolve_docker_url(None, str(other)) == "tcp://127.0.0.1:2375"
    assert resolve_docker_url("unix:///x.sock", str(other)) == "unix:///x.sock"


def test_an_unreachable_engine_is_a_clear_error(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("docker", reason="docker-py is not installed")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["image", "register-docker", "busybox", "--docker-url",
                                      NO_ENGINE])
    assert result.exit_code == 1
    assert f"The Docker engine at {NO_ENGINE} does not answer" in result.output


def test_without_docker_py_the_error_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "docker", None)  # import docker -> ImportError
    result = CliRunner().invoke(cli, ["image", "register-docker", "busybox"])
    assert result.exit_code == 1
    assert "pip install 'novalith[docker]'" in result.output


def test_a_bad_property_is_refused_before_anything_happens(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["image", "register-docker", "busybox", "--property",
                                      "novalue", "--docker-url", NO_ENGINE])
    assert result.exit_code == 2 and "is not KEY=VALUE" in result.output
