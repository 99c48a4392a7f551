"""Make the DB and the hypervisor agree: at start-up and periodically (power states)."""

from __future__ import annotations

import logging

from novalith import exceptions
from novalith.compute import move_recovery, power_sync, snapshot
from novalith.compute import state_machine as sm
from novalith.compute.delete import deleted_values
from novalith.compute.deps import ComputeDeps
from novalith.compute.instance_spec import from_row
from novalith.db import claims
from novalith.db import instances as inst_db
from novalith.objects import states as s
from novalith.objects.states import PowerState

LOG = logging.getLogger(__name__)

_BUILD_TASKS = {s.SCHEDULING, s.SPAWNING, s.NETWORKING, s.BLOCK_DEVICE_MAPPING}


def at_startup(deps: ComputeDeps) -> None:
    """Resolve instances left mid-operation by a crash, and orphans on the hypervisor.

    - building, waiting for us (task scheduling): left as is; its build message may
      still be queued for us, else the conductor's build watchdog sends it again;
    - building, being built (spawning, ...): the build died with us -> ERROR with a
      fault, hypervisor side removed, claim released;
    - deleting: finish the delete;
    - any other transient task: clear it and take the power state from the driver
      (an interrupted snapshot or backup also loses its unfinished image);
    - hypervisor instances with no live instance row here: destroyed.
    """
    with deps.db.read() as conn:
        rows = inst_db.on_host(conn, deps.host)
    # Guests a move keeps here for an instance of another host are not orphans.
    known = {r["uuid"] for r in rows} | move_recovery.kept_here(deps)
    for row in rows:
        task = row["task_state"]
        if task is None or task not in sm.TRANSIENT_TASKS:
            continue
        spec = from_row(row)
        if row["vm_state"] == s.BUILDING and task == s.SCHEDULING:
            continue
        if row["vm_state"] == s.BUILDING or task in _BUILD_TASKS:
            _destroy_quietly(deps, spec)
            with deps.db.write() as conn:
                # Conditional: the conductor's watchdog may have moved it on meanwhile.
                if inst_db.transition(conn, row["uuid"],
                                      {"vm_state": s.ERROR, "task_state": None,
                                       "power_state": PowerState.NOSTATE},
                                      expected_task=[task]):
                    claims.release(conn, row["uuid"])
                    inst_db.add_fault(conn, row["uuid"], None, host=deps.host,
                                      message="Compute service restarted while building.")
        elif task == s.DELETING:
            _destroy_quietly(deps, spec)
            with deps.db.write() as conn:
                claims.release(conn, row["uuid"])
                inst_db.transition(conn, row["uuid"], deleted_values())
        else:
            with deps.db.write() as conn:
                inst_db.transition(conn, row["uuid"], {"task_state": None})
            if task in sm.IMAGE_TASKS:
                snapshot.abandon_unfinished(deps, row["uuid"])
    for uuid in deps.driver.list_instances():
        if uuid not in known:
            LOG.warning("Destroying %s: on the hypervisor but not an instance of %s",
                        uuid, deps.host)
            try:
                deps.driver.destroy(_orphan_spec(deps, uuid), destroy_disks=True)
            except Exception:
                LOG.exception("Could not destroy orphan %s", uuid)
    sync_power_states(deps)


def sync_power_states(deps: ComputeDeps) -> None:
    """Record what the hypervisor says, by the rules of :mod:`.power_sync`: a guest that
    shut itself down becomes STOPPED, a guest running against a STOPPED instance is
    powered off; an instance the hypervisor does not know only gets power state
    NOSTATE (it may be mid-migration or its hypervisor briefly unreachable)."""
    with deps.db.read() as conn:
        rows = inst_db.on_host(conn, deps.host)
    for row in rows:
        if not power_sync.applies(row["vm_state"], row["task_state"]):
            continue
        try:
            power_sync.sync_instance(deps, row["uuid"], seen=row)
        except exceptions.ServiceUnavailable as err:
            LOG.warning("Power sync of %s stopped: %s", deps.host, err)
            return
        except Exception:
            LOG.exception("Power sync of %s failed", row["uuid"])


def _destroy_quietly(deps: ComputeDeps, spec: object) -> None:
    try:
        deps.driver.destroy(spec, destroy_disks=True)  # type: ignore[arg-type]
    except Exception:
        LOG.exception("Clean-up destroy failed")


def _orphan_spec(deps: ComputeDeps, uuid: str):  # type: ignore[no-untyped-def]
    """A minimal spec for destroying an instance we only know by uuid."""
    from novalith.objects.specs import FlavorSpec, InstanceSpec

    return InstanceSpec(uuid=uuid, id=0, name="", display_name="", hostname="", project_id="",
                        user_id="", flavor=FlavorSpec(flavorid="", name="", memory_mb=0,
                                                      vcpus=0, root_gb=0))
