"""The default policy (admin / member / reader) and overrides from a policy file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from novalith import exceptions
from novalith.conf import make_conf
from novalith.objects.context import RequestContext
from novalith.policy import Policy
from novalith.policy.rules import list_rules

P = "os_compute_api:"
OWN = {"project_id": "p1", "user_id": "u1"}
OTHER = {"project_id": "p2", "user_id": "u2"}


def _ctx(*roles: str, project: str = "p1", user: str = "u1") -> RequestContext:
    return RequestContext(user_id=user, project_id=project, roles=roles)


ADMIN = _ctx("admin", "member", "reader", project="admin-project", user="admin")
MEMBER = _ctx("member", "reader")
READER = _ctx("reader")


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy(make_conf([]))


@pytest.mark.parametrize(("rule", "target", "admin", "member", "reader"), [
    ("servers:show", OWN, True, True, True),
    ("servers:show", OTHER, True, False, False),
    ("servers:create", OWN, True, True, False),
    ("servers:delete", OTHER, True, False, False),
    ("os-aggregates:create", OWN, True, False, False),
    ("os-hypervisors:list", OWN, True, False, False),
    ("os-services:update", OWN, True, False, False),
    ("os-migrate-server:migrate_live", OWN, True, False, False),
    ("os-deferred-delete:force", OWN, True, False, False),
    ("os-quota-sets:update", OWN, True, False, False),
    ("os-quota-sets:show", OWN, True, True, True),
    ("os-quota-sets:show", OTHER, True, False, False),
    ("os-keypairs:create", OWN, True, True, False),
    ("os-keypairs:index", OWN, True, True, True),
    ("os-keypairs:index", {"user_id": "u2", "project_id": "p1"}, True, False, False),
    ("os-availability-zone:list", OWN, True, True, True),
    ("os-availability-zone:detail", OWN, True, False, False),
    ("limits", OWN, True, True, True),
])
def test_defaults(policy: Policy, rule: str, target: dict[str, str], admin: bool,
                  member: bool, reader: bool) -> None:
    got = [policy.check(ctx, P + rule, target) for ctx in (ADMIN, MEMBER, READER)]
    assert got == [admin, member, reader]


def test_authorize_raises_403_naming_the_rule(policy: Policy) -> None:
    with pytest.raises(exceptions.Forbidden) as err:
        policy.authorize(READER, P + "servers:create")
    assert err.value.status == 403
    assert str(err.value) == f"Policy doesn't allow {P}servers:create to be performed."


def test_every_rule_names_a_known_base_rule() -> None:
    names = {r.name for r in list_rules()}
    for rule in list_rules():
        for word in rule.check_str.replace("(", " ").replace(")", " ").split():
            if word.startswith("rule:"):
                assert word[5:] in names, (rule.name, word)


def test_a_policy_file_overrides_rules_and_is_reread(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(f'"{P}os-aggregates:index": "role:reader"\n')
    policy = Policy(make_conf([], {"oslo_policy": {"policy_file": str(path)}}))
    assert policy.check(READER, P + "os-aggregates:index")
    assert not policy.check(READER, P + "os-aggregates:create")  # untouched default
    # Change the file: within a second (the recheck interval) the new rules count.
    path.write_text(f'"{P}os-aggregates:index": "!"\n"context_is_admin": "role:superuser"\n')
    later = time.time() + 5
    os.utime(path, (later, later))
    policy._checked_at = 0.0  # as if the recheck interval had passed
    assert not policy.check(READER, P + "os-aggregates:index")
    assert not policy.is_admin(ADMIN)
    assert policy.is_admin(_ctx("superuser"))


def test_is_admin_follows_context_is_admin(policy: Policy) -> None:
    assert policy.is_admin(ADMIN)
    assert not policy.is_admin(MEMBER)
