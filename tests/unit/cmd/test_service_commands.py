"""The one-service-per-process commands (novalith.cmd.services): registered on the
`novalith` command, and `manage bootstrap` idempotent on a synced database.

Running them for real, as processes over RabbitMQ and PostgreSQL/MariaDB, is
tests/integration/test_distributed*.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from novalith.cmd.main import cli


@pytest.mark.parametrize("command", ["api", "scheduler", "conductor", "compute"])
def test_each_service_has_its_command(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "--config-file" in result.output and "SIGTERM" in result.output


def test_manage_bootstrap_after_db_sync_is_idempotent(tmp_path: Path) -> None:
    conf = tmp_path / "novalith.conf"
    conf.write_text(f"[DEFAULT]\nstate_path = {tmp_path / 'data'}\n"
                    "[bootstrap]\nadmin_password = boot-pw-123\n")
    runner = CliRunner()
    synced = runner.invoke(cli, ["manage", "db", "sync", "--config-file", str(conf)])
    assert synced.exit_code == 0, synced.output
    first = runner.invoke(cli, ["manage", "bootstrap", "--config-file", str(conf)])
    assert first.exit_code == 0, first.output
    assert "5 flavors created" in first.output and "password" not in first.output
    again = runner.invoke(cli, ["manage", "bootstrap", "--config-file", str(conf)])
    assert again.exit_code == 0, again.output
    assert "0 flavors created" in again.output
