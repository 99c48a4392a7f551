"""Integration tests run against the machine's real servers: RabbitMQ, PostgreSQL,
MariaDB. The session starts them if they are stopped (scripts/ensure-services.sh);
a test whose server still cannot be reached skips, saying which one."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"rabbitmq": 5672, "postgresql": 5432, "mariadb": 3306}


def reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def servers_up() -> dict[str, bool]:
    """Which servers answer, after starting the stopped ones once per session."""
    if not all(reachable(port) for port in PORTS.values()):
        subprocess.run(["bash", str(ROOT / "scripts" / "ensure-services.sh")],
                       capture_output=True, timeout=600)
    return {name: reachable(port) for name, port in PORTS.items()}
