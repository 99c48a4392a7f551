"""lock and unlock: a locked server refuses changes from anyone but an admin (409).

Who locked it is kept as Nova keeps it, ``owner`` (its project) or ``admin``
(anyone else); unlocking an admin's lock takes the admin-only rule
``os_compute_api:os-lock-server:unlock:unlock_override``. A reason for the lock
is microversion 2.73, beyond this API's maximum.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response

from novalith import exceptions
from novalith.api.compute.actions import action
from novalith.api.deps import Call
from novalith.db import instances as inst_db


def _body(args: Any, name: str) -> None:
    if args is not None and args != {}:
        raise exceptions.ValidationError(field=name, detail="The value must be null.")


def _locker(call: Call, row: Any) -> str:
    return "owner" if call.ctx.project_id == row["project_id"] else "admin"


@action("lock")
def lock(call: Call, row: Any, args: Any) -> Response:
    call.require_writer("os_compute_api:os-lock-server:lock")
    _body(args, "lock")
    with call.db.write() as conn:
        inst_db.transition(conn, row["uuid"], {"locked": True, "locked_by": _locker(call, row)})
        inst_db.start_action(conn, row["uuid"], "lock", call.ctx)
    return Response(status_code=202)


@action("unlock")
def unlock(call: Call, row: Any, args: Any) -> Response:
    call.require_writer("os_compute_api:os-lock-server:unlock")
    _body(args, "unlock")
    if row["locked"] and row["locked_by"] not in (None, _locker(call, row)):
        call.require_admin("os_compute_api:os-lock-server:unlock:unlock_override")
    with call.db.write() as conn:
        inst_db.transition(conn, row["uuid"], {"locked": False, "locked_by": None})
        inst_db.start_action(conn, row["uuid"], "unlock", call.ctx)
    return Response(status_code=202)
