"""Server bodies as the Compute API shows them, per microversion and role.

Built for lists of thousands: per-request facts (URLs, role, version flags)
are computed once in :class:`ServerView`, then each row is a dict literal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from novalith.api.deps import Call
from novalith.objects.specs import instance_name
from novalith.objects.states import status_from_state


def iso(ts: dt.datetime | None) -> str | None:
    return ts.isoformat(timespec="seconds") + "Z" if ts is not None else None


def iso_usec(ts: dt.datetime | None) -> str | None:
    return ts.isoformat(timespec="microseconds") if ts is not None else None


class ServerView:
    def __init__(self, call: Call, host_status: dict[str, str] | None = None) -> None:
        self.call = call
        self.admin = call.ctx.is_admin
        v = call.version
        self.v23, self.v29, self.v216 = v.at_least("2.3"), v.at_least("2.9"), v.at_least("2.16")
        self.v219, self.v226, self.v247 = (v.at_least("2.19"), v.at_least("2.26"),
                                           v.at_least("2.47"))
        self.base, self.bookmark = call.base, call.bookmark
        self.host_status = host_status or {}

    def summary(self, row: Mapping[Any, Any]) -> dict[str, Any]:
        uuid = row["uuid"]
        return {"id": uuid, "name": row["display_name"],
                "links": [{"rel": "self", "href": f"{self.base}/servers/{uuid}"},
                          {"rel": "bookmark", "href": f"{self.bookmark}/servers/{uuid}"}]}

    def _flavor(self, row: Mapping[Any, Any]) -> dict[str, Any]:
        f = row["flavor"]
        if self.v247:
            return {"vcpus": f["vcpus"], "ram": f["memory_mb"], "disk": f["root_gb"],
                    "ephemeral": f.get("ephemeral_gb", 0), "swap": f.get("swap", 0),
                    "original_name": f["name"], "extra_specs": f.get("extra_specs", {})}
        fid = f["flavorid"]
        return {"id": fid, "links": [{"rel": "bookmark",
                                      "href": f"{self.bookmark}/flavors/{fid}"}]}

    def _image(self, row: Mapping[Any, Any]) -> Any:
        ref = row["image_ref"]
        if not ref:
            return ""
        return {"id": ref, "links": [{"rel": "bookmark", "href": f"{self.bookmark}/images/{ref}"}]}

    def detail(self, row: Mapping[Any, Any], fault: Mapping[Any, Any] | None = None
               ) -> dict[str, Any]:
        host = row["host"]
        body = self.summary(row)
        body.update({
            "status": status_from_state(row["vm_state"], row["task_state"]),
            "tenant_id": row["project_id"], "user_id": row["user_id"],
            "metadata": row["metadata"] or {},
            "hostId": (hashlib.sha224((row["project_id"] + host).encode()).hexdigest()
                       if host else ""),
            "image": self._image(row), "flavor": self._flavor(row),
            "created": iso(row["created_at"]),
            "updated": iso(row["updated_at"] or row["created_at"]),
            "addresses": {}, "accessIPv4": row["access_ip_v4"] or "",
            "accessIPv6": row["access_ip_v6"] or "",
            "progress": row["progress"] or 0,
            "key_name": row["key_name"], "config_drive": row["config_drive"] or "",
            "OS-DCF:diskConfig": "MANUAL",
            "OS-EXT-AZ:availability_zone": row["availability_zone"] or "",
            "OS-EXT-STS:vm_state": row["vm_state"],
            "OS-EXT-STS:task_state": row["task_state"],
            "OS-EXT-STS:power_state": row["power_state"],
            "OS-SRV-USG:launched_at": iso_usec(row["launched_at"]),
            "OS-SRV-USG:terminated_at": iso_usec(row["terminated_at"]),
            "os-extended-volumes:volumes_attached": [],
        })
        if self.admin:
            body["OS-EXT-SRV-ATTR:host"] = host
            body["OS-EXT-SRV-ATTR:hypervisor_hostname"] = row["node"]
            body["OS-EXT-SRV-ATTR:instance_name"] = instance_name(row["id"])
            if self.v23:
                body.update({
                    "OS-EXT-SRV-ATTR:reservation_id": row["reservation_id"],
                    "OS-EXT-SRV-ATTR:launch_index": row["launch_index"],
                    "OS-EXT-SRV-ATTR:hostname": row["hostname"],
                    "OS-EXT-SRV-ATTR:kernel_id": row["kernel_id"] or "",
                    "OS-EXT-SRV-ATTR:ramdisk_id": row["ramdisk_id"] or "",
                    "OS-EXT-SRV-ATTR:root_device_name": row["root_device_name"],
                    "OS-EXT-SRV-ATTR:user_data": row.get("user_data"),
                })
        if self.v29:
            body["locked"] = bool(row["locked"])
        if self.v216 and self.admin:
            body["host_status"] = self.host_status.get(host, "") if host else ""
        if self.v219:
            body["description"] = row["display_description"]
        if self.v226:
            body["tags"] = list(row["tags"] or [])
        if fault is not None:
            body["fault"] = self.fault(fault)
        return body

    def fault(self, fault: Mapping[Any, Any]) -> dict[str, Any]:
        out = {"code": fault["code"], "created": iso(fault["created_at"]),
               "message": fault["message"]}
        if self.admin or fault["code"] != 500:
            out["details"] = fault["details"] or ""
        return out
