"""``novalith up --demo``: boot one server through the public API and show it.

It talks HTTP to the running cloud exactly as a client would (token, POST
/servers, poll, console output), so the demo proves the whole path.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from typing import Any

from rich.console import Console


class _Api:
    def __init__(self, endpoint: str, token: str | None = None) -> None:
        self.endpoint, self.token = endpoint, token

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any, Any]:
        headers = {"Content-Type": "application/json",
                   "OpenStack-API-Version": "compute 2.47"}
        if self.token:
            headers["X-Auth-Token"] = self.token
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.endpoint + path, data=data, headers=headers,
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None, resp.headers
        except urllib.error.HTTPError as err:
            raw = err.read()
            return err.code, json.loads(raw) if raw else None, err.headers


def boot_demo_server(endpoint: str, password: str, image_name: str, console: Console,
                     timeout: float = 300.0, wait_console: str | None = None) -> bool:
    """Boot ``demo`` with m1.tiny from ``image_name``; True when it went ACTIVE.

    ``wait_console``: wait (up to ``timeout``) until the console shows this text before
    printing it (a real guest prints its banner seconds after ACTIVE)."""
    api = _Api(endpoint)
    status, _, headers = api.request("POST", "/identity/v3/auth/tokens", {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
    if status != 201:
        console.print(f"[red]Demo: authentication failed ({status})[/red]")
        return False
    api.token = headers["X-Subject-Token"]
    status, images, _ = api.request("GET", f"/image/v2/images?name={image_name}")
    if status != 200 or not images["images"]:
        console.print(f"[red]Demo: no image named {image_name}[/red]")
        return False
    image_id = images["images"][0]["id"]
    status, created, _ = api.request("POST", "/compute/v2.1/servers", {"server": {
        "name": "demo", "flavorRef": "1", "imageRef": image_id, "networks": "none",
        "config_drive": True,
        "user_data": base64.b64encode(b"#!/bin/sh\necho hello from novalith\n").decode()}})
    if status != 202:
        console.print(f"[red]Demo: boot refused ({status}): {created}[/red]")
        return False
    server_id = created["server"]["id"]
    console.print(f"Demo: booting server 'demo' ({server_id}) from {image_name} ...")
    start = time.monotonic()
    server: dict[str, Any] = {}
    while time.monotonic() - start < timeout:
        _, body, _ = api.request("GET", f"/compute/v2.1/servers/{server_id}")
        server = body["server"]
        if server["status"] in ("ACTIVE", "ERROR"):
            break
        time.sleep(0.1)
    elapsed = time.monotonic() - start
    if server.get("status") != "ACTIVE":
        fault = server.get("fault", {}).get("message", "timed out")
        console.print(f"[red]Demo: server ended {server.get('status')}: {fault}[/red]")
        return False
    console.print(f"Demo: server 'demo' is ACTIVE on host "
                  f"{server.get('OS-EXT-SRV-ATTR:host')} after {elapsed:.2f} s")
    while True:
        status, out, _ = api.request("POST", f"/compute/v2.1/servers/{server_id}/action",
                                     {"os-getConsoleOutput": {"length": 20}})
        if (wait_console is None or (status == 200 and wait_console in out.get("output", ""))
                or time.monotonic() - start > timeout):
            break
        time.sleep(0.5)
    if status == 200 and out.get("output"):
        console.print("Demo: console output:")
        console.print(out["output"].rstrip(), markup=False)
    return True
