"""forceDelete (admin): delete a server now, in any state, locked or not.

Nova reserves forceDelete for servers a deferred delete has put in SOFT_DELETED;
this cloud deletes at once (there is no reclaim interval), so forceDelete is the
administrator's delete that no lock or task in progress holds up.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response

from novalith import exceptions
from novalith.api.compute import servers
from novalith.api.compute.actions import action
from novalith.api.deps import Call


@action("forceDelete")
def force_delete(call: Call, row: Any, args: Any) -> Response:
    call.require_admin("os_compute_api:os-deferred-delete:force")
    if args is not None:
        raise exceptions.ValidationError(field="forceDelete", detail="The value must be null.")
    servers.delete_server(call, row["uuid"])
    return Response(status_code=202)
