"""The default policy: rule names in Nova's vocabulary, overridable in a policy file.

Base rules::

    context_is_admin         role:admin (who counts as an administrator at all)
    admin_api                rule:context_is_admin
    project_member_api       role:member in the target's project
    project_reader_api       role:reader in the target's project
    project_member_or_admin  either
    project_reader_or_admin  either
    owner_member_or_admin    role:member and the target's user is the caller (keypairs)
    owner_reader_or_admin    role:reader and the target's user is the caller

Admin implies member implies reader (role inference in the identity service), so a
reader-only caller passes only the ``*_reader_*`` rules. Every API rule below is
one of these; ``oslopolicy-sample-generator --namespace novalith`` prints them all.
"""

from __future__ import annotations

from oslo_policy import policy

ADMIN = "rule:admin_api"
MEMBER = "rule:project_member_or_admin"
READER = "rule:project_reader_or_admin"
OWNER_MEMBER = "rule:owner_member_or_admin"
OWNER_READER = "rule:owner_reader_or_admin"
ANY = "@"

BASE = [
    policy.RuleDefault("context_is_admin", "role:admin",
                       "Who is an administrator (sees and acts on every project)."),
    policy.RuleDefault("admin_api", "rule:context_is_admin", "Administrators only."),
    policy.RuleDefault("project_member_api", "role:member and project_id:%(project_id)s",
                       "A member of the target's project."),
    policy.RuleDefault("project_reader_api", "role:reader and project_id:%(project_id)s",
                       "A reader (or member) of the target's project."),
    policy.RuleDefault("project_member_or_admin",
                       "rule:project_member_api or rule:context_is_admin",
                       "A member of the target's project, or an administrator."),
    policy.RuleDefault("project_reader_or_admin",
                       "rule:project_reader_api or rule:context_is_admin",
                       "A reader of the target's project, or an administrator."),
    policy.RuleDefault("owner_member_or_admin",
                       "(role:member and user_id:%(user_id)s) or rule:context_is_admin",
                       "A member acting on what the caller's user owns, or an administrator."),
    policy.RuleDefault("owner_reader_or_admin",
                       "(role:reader and user_id:%(user_id)s) or rule:context_is_admin",
                       "A reader looking at what the caller's user owns, or an administrator."),
]

_P = "os_compute_api:"

# (rule name, default, description)
_API: list[tuple[str, str, str]] = [
    # servers
    ("servers:index", READER, "List servers."),
    ("servers:detail", READER, "List servers with details."),
    ("servers:show", READER, "Show a server."),
    ("servers:create", MEMBER, "Create servers."),
    ("servers:create:forced_host", ADMIN, "Create a server on a named host or node."),
    ("servers:update", MEMBER, "Update a server."),
    ("servers:delete", MEMBER, "Delete a server."),
    ("servers:reboot", MEMBER, "Reboot a server."),
    ("servers:os-start", MEMBER, "Start a server."),
    ("servers:os-stop", MEMBER, "Stop a server."),
    ("servers:pause", MEMBER, "Pause a server."),
    ("servers:unpause", MEMBER, "Unpause a server."),
    ("servers:suspend", MEMBER, "Suspend a server."),
    ("servers:resume", MEMBER, "Resume a server."),
    ("servers:resize", MEMBER, "Resize a server."),
    ("servers:confirm_resize", MEMBER, "Confirm a resize."),
    ("servers:revert_resize", MEMBER, "Revert a resize."),
    ("servers:rebuild", MEMBER, "Rebuild a server."),
    ("servers:create_image", MEMBER, "Snapshot a server to an image."),
    ("os-create-backup", MEMBER, "Back a server up to an image."),
    ("os-console-output", MEMBER, "Show a server's console output."),
    ("os-migrate-server:migrate", ADMIN, "Cold migrate a server."),
    ("os-migrate-server:migrate_live", ADMIN, "Live migrate a server."),
    ("os-evacuate", ADMIN, "Evacuate a server from a failed host."),
    ("os-deferred-delete:force", ADMIN, "Force delete a server."),
    ("os-lock-server:lock", MEMBER, "Lock a server."),
    ("os-lock-server:unlock", MEMBER, "Unlock a server."),
    ("os-lock-server:unlock:unlock_override", ADMIN, "Unlock a server someone else locked."),
    ("os-migrations:index", ADMIN, "List migrations."),
    ("servers:migrations:index", ADMIN, "List a server's migrations."),
    ("servers:migrations:show", ADMIN, "Show a server migration."),
    ("servers:migrations:force_complete", ADMIN, "Force a live migration to complete."),
    ("servers:migrations:delete", ADMIN, "Abort a live migration."),
    ("os-instance-actions:list", READER, "List a server's actions."),
    ("os-instance-actions:show", READER, "Show a server action."),
    ("os-instance-actions:events", ADMIN, "Show the events of a server action."),
    ("server-metadata:index", READER, "List a server's metadata."),
    ("server-metadata:show", READER, "Show a server metadata item."),
    ("server-metadata:create", MEMBER, "Add server metadata."),
    ("server-metadata:update", MEMBER, "Update a server metadata item."),
    ("server-metadata:update_all", MEMBER, "Replace a server's metadata."),
    ("server-metadata:delete", MEMBER, "Delete a server metadata item."),
    ("os-server-tags:index", READER, "List a server's tags."),
    ("os-server-tags:show", READER, "Check a server tag."),
    ("os-server-tags:update", MEMBER, "Add a server tag."),
    ("os-server-tags:update_all", MEMBER, "Replace a server's tags."),
    ("os-server-tags:delete", MEMBER, "Delete a server tag."),
    ("os-server-tags:delete_all", MEMBER, "Delete all of a server's tags."),
    # flavors
    ("os-flavor-manage:create", ADMIN, "Create a flavor."),
    ("os-flavor-manage:delete", ADMIN, "Delete a flavor."),
    ("os-flavor-extra-specs:create", ADMIN, "Set flavor extra specs."),
    ("os-flavor-extra-specs:update", ADMIN, "Update a flavor extra spec."),
    ("os-flavor-extra-specs:delete", ADMIN, "Delete a flavor extra spec."),
    # keypairs (owned by a user)
    ("os-keypairs:index", OWNER_READER, "List keypairs."),
    ("os-keypairs:show", OWNER_READER, "Show a keypair."),
    ("os-keypairs:create", OWNER_MEMBER, "Create or import a keypair."),
    ("os-keypairs:delete", OWNER_MEMBER, "Delete a keypair."),
    # server groups
    ("os-server-groups:index", READER, "List server groups."),
    ("os-server-groups:index:all_projects", ADMIN, "List the server groups of all projects."),
    ("os-server-groups:show", READER, "Show a server group."),
    ("os-server-groups:create", MEMBER, "Create a server group."),
    ("os-server-groups:delete", MEMBER, "Delete a server group."),
    # availability zones, aggregates, hosts
    ("os-availability-zone:list", ANY, "List availability zones."),
    ("os-availability-zone:detail", ADMIN, "List availability zones with their hosts."),
    ("os-aggregates:index", ADMIN, "List aggregates."),
    ("os-aggregates:show", ADMIN, "Show an aggregate."),
    ("os-aggregates:create", ADMIN, "Create an aggregate."),
    ("os-aggregates:update", ADMIN, "Update an aggregate."),
    ("os-aggregates:delete", ADMIN, "Delete an aggregate."),
    ("os-aggregates:add_host", ADMIN, "Add a host to an aggregate."),
    ("os-aggregates:remove_host", ADMIN, "Remove a host from an aggregate."),
    ("os-aggregates:set_metadata", ADMIN, "Set an aggregate's metadata."),
    ("os-hypervisors:list", ADMIN, "List hypervisors."),
    ("os-hypervisors:list-detail", ADMIN, "List hypervisors with details."),
    ("os-hypervisors:show", ADMIN, "Show a hypervisor."),
    ("os-hypervisors:statistics", ADMIN, "Show hypervisor statistics."),
    ("os-services:list", ADMIN, "List services."),
    ("os-services:update", ADMIN, "Enable, disable or force down a service."),
    ("os-services:delete", ADMIN, "Delete a service."),
    # quotas and limits
    ("os-quota-sets:show", READER, "Show a project's quotas."),
    ("os-quota-sets:detail", READER, "Show a project's quotas with usage."),
    ("os-quota-sets:defaults", ANY, "Show the default quotas."),
    ("os-quota-sets:update", ADMIN, "Update a project's quotas."),
    ("os-quota-sets:delete", ADMIN, "Revert a project's quotas to the defaults."),
    ("limits", ANY, "Show the caller's absolute limits and usage."),
    ("limits:other_project", ADMIN, "Show another project's limits (tenant_id=)."),
]

API = [policy.RuleDefault(_P + name, check, description)
       for name, check, description in _API]


def list_rules() -> list[policy.RuleDefault]:
    """Every default rule (entry point ``oslo.policy.policies``: novalith)."""
    return [*BASE, *API]
