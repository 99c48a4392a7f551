"""The late server-group check: a compute host re-checks a hard group policy at the
start of a build, before anything is built.

The scheduler's ServerGroup(Anti)AffinityFilter decides from the hosts it knows of
when it selects. Two scheduler processes placing members of one group at the same
instant do not see each other's choice, so both may pick one host (anti-affinity) or
two different hosts (affinity). The compute host therefore checks again, against
the database, as the build starts:

- anti-affinity: refused if another live member is already on this host;
- affinity: refused if other live members have hosts and this host is not one of them.

Soft policies only weigh and are never checked here. A member counts once a host has
taken it on (its build started there, or it is past building); a member still waiting
for its build is left out: it is checked when its own build starts, and sees this one.

The check and the move of the instance to ``spawning`` happen in one write transaction
that first locks the group's row (so builds on different hosts take turns), under a
per-group lock on this host (so two builds of one group here do not queue on the
database); of two racing members exactly one passes. A refused build never reaches
the driver: the caller puts the instance back to the scheduler and the conductor
reschedules it elsewhere (this host is in its attempts), up to
``[scheduler] max_attempts``. ``[workarounds] disable_group_policy_check_upcall``
turns the check off.

Moves check the same rules on their destination before anything happens there
(:func:`refuse_move`): a cold migration or resize in ``prep_resize`` (the conductor
then tries another host), a live migration in its destination pre-check, an
evacuation as its rebuild starts. The moving instance itself is left out; members
that are themselves moving count on the host they still run on.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Iterator

from sqlalchemy import Connection, RowMapping

from novalith import exceptions
from novalith.compute.deps import ComputeDeps
from novalith.db import server_groups as group_db
from novalith.objects.specs import RequestSpec
from novalith.scheduler.request_groups import group_hint

LOG = logging.getLogger(__name__)

AFFINITY = "affinity"
ANTI_AFFINITY = "anti-affinity"
# Nova's wording, so that logs and faults read as operators know them.
VIOLATED = {
    AFFINITY: "Affinity instance group policy was violated.",
    ANTI_AFFINITY: "Anti-affinity instance group policy was violated.",
}


def violation(policy: str, host: str, member_hosts: Collection[str]) -> str | None:
    """Why a member of a ``policy`` group may not be built on ``host``, given the hosts
    of the other placed members; None when it may (always for soft policies)."""
    if policy == ANTI_AFFINITY and host in member_hosts:
        return VIOLATED[ANTI_AFFINITY]
    if policy == AFFINITY and member_hosts and host not in member_hosts:
        return VIOLATED[AFFINITY]
    return None


def hard_group(deps: ComputeDeps, instance_uuid: str, spec: RequestSpec | None = None
               ) -> RowMapping | None:
    """The affinity or anti-affinity group the instance is a member of, when the check
    is on and (for a build, given its ``spec``) the boot named a group; None otherwise
    (no database read when the check is off or a build named no group). A move passes
    no spec: membership alone decides, as for Nova's moves."""
    if deps.config.disable_group_policy_check_upcall or (
            spec is not None and group_hint(spec) is None):
        return None
    with deps.db.read() as conn:
        group = group_db.group_of(conn, instance_uuid)
    if group is None or group["policy"] not in VIOLATED:
        return None
    return group


@contextlib.contextmanager
def serialised(deps: ComputeDeps, group: RowMapping | None) -> Iterator[None]:
    """Hold this host's lock for ``group`` (nothing without a group)."""
    if group is None:
        yield
        return
    with deps.group_locks.get(str(group["uuid"])):
        yield


def check(conn: Connection, group: RowMapping, instance_uuid: str, host: str,
          what: str = "Build") -> exceptions.Rescheduled | None:
    """Check the group's policy for a build of ``instance_uuid`` on ``host``, in the
    caller's write transaction (which this locks the group's row for); the error to
    reschedule with, or None if the build may go on."""
    if not group_db.lock(conn, group["id"]):
        return None  # the group was deleted meanwhile: no policy left to keep
    hosts = group_db.placed_member_hosts(conn, group["id"], exclude=instance_uuid)
    reason = violation(group["policy"], host, hosts)
    if reason is None:
        return None
    LOG.warning("%s of %s refused on %s: %s (group %s, members on %s)", what,
                instance_uuid, host, reason, group["uuid"], sorted(hosts))
    return exceptions.Rescheduled(instance_uuid=instance_uuid, reason=reason)


def refuse_move(deps: ComputeDeps, instance_uuid: str, host: str) -> str | None:
    """Why moving ``instance_uuid`` to ``host`` (this destination) would break its
    group's hard policy; None when it would not, or the check is off. Writes nothing:
    the group's row is locked only so that the read sees settled placements."""
    group = hard_group(deps, instance_uuid)
    if group is None:
        return None
    with serialised(deps, group), deps.db.write() as conn:
        refused = check(conn, group, instance_uuid, host, what="Move")
    return None if refused is None else str(refused.kwargs["reason"])
