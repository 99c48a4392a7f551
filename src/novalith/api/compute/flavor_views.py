"""Flavor bodies as the Compute API shows them, per microversion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from novalith.api.compute.links import links
from novalith.api.deps import Call


def summary(call: Call, row: Mapping[Any, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": row["flavorid"], "name": row["name"],
                            "links": links(call, "flavors", row["flavorid"])}
    if call.version.at_least("2.55"):
        body["description"] = row["description"]
    return body


def detail(call: Call, row: Mapping[Any, Any], extra_specs: dict[str, str] | None = None
           ) -> dict[str, Any]:
    body = summary(call, row)
    body.update({
        "ram": row["memory_mb"], "vcpus": row["vcpus"], "disk": row["root_gb"],
        "OS-FLV-EXT-DATA:ephemeral": row["ephemeral_gb"],
        "swap": row["swap"] if row["swap"] or call.version.at_least("2.75") else "",
        "rxtx_factor": row["rxtx_factor"],
        "os-flavor-access:is_public": row["is_public"],
        "OS-FLV-DISABLED:disabled": row["disabled"],
    })
    if call.version.at_least("2.61") and extra_specs is not None:
        body["extra_specs"] = extra_specs
    return body
