"""Projects, users, roles and assignments; implied roles; bootstrap."""

from __future__ import annotations

import pytest

from novalith import exceptions
from novalith.identity import IMPLIED_ROLES, IdentityService, bootstrap
from novalith.identity.records import expand_roles


def test_projects(identity: IdentityService) -> None:
    p = identity.create_project("p1", description="first")
    assert identity.get_project(p.id) == p
    assert identity.find_project("p1", "Default") == p
    assert [x.name for x in identity.list_projects()] == ["p1"]
    assert identity.list_projects(name="zzz") == []
    with pytest.raises(exceptions.Duplicate):
        identity.create_project("p1")
    with pytest.raises(exceptions.ValidationError):
        identity.create_project("p2", domain="elsewhere")
    with pytest.raises(exceptions.ValidationError):
        identity.create_project("")
    with pytest.raises(exceptions.ProjectNotFound):
        identity.get_project("missing")


def test_users(identity: IdentityService) -> None:
    u = identity.create_user("u1", "pw")
    assert identity.get_user(u.id) == u and identity.find_user("u1") == u
    with pytest.raises(exceptions.Duplicate):
        identity.create_user("u1", "other")
    with pytest.raises(exceptions.ValidationError):
        identity.create_user("u2", "pw", default_project_id="missing")
    with pytest.raises(exceptions.UserNotFound):
        identity.get_user("missing")
    nopw = identity.create_user("nopw", None)
    assert nopw.enabled
    with pytest.raises(exceptions.NotAuthenticated):
        identity.authenticate_password("", user_name="nopw")


def test_password_too_long(identity: IdentityService) -> None:
    with pytest.raises(exceptions.ValidationError):
        identity.create_user("u", "x" * 5000)


def test_assignments(identity: IdentityService) -> None:
    p = identity.create_project("p")
    u = identity.create_user("u", "pw")
    admin = identity.ensure_role("admin")
    assert identity.ensure_role("admin") == admin
    identity.assign_role(u.id, p.id, admin.id)
    identity.assign_role(user=u.id, project=p.id, role="admin")  # idempotent, by name too
    assert identity.list_user_roles(u.id, p.id) == [admin]
    assert [x.id for x in identity.list_projects(user_id=u.id)] == [p.id]
    with pytest.raises(exceptions.NotFound):
        identity.assign_role(u.id, p.id, "no-such-role")
    with pytest.raises(exceptions.UserNotFound):
        identity.assign_role("missing", p.id, "admin")
    identity.unassign_role(u.id, p.id, "admin")
    with pytest.raises(exceptions.NotFound):
        identity.unassign_role(u.id, p.id, "admin")


def test_implied_roles_expand() -> None:
    assert expand_roles({"admin"}) == {"admin", "member", "reader"}
    assert expand_roles({"member"}) == {"member", "reader"}
    assert expand_roles({"custom"}) == {"custom"}
    assert set(IMPLIED_ROLES["admin"]) == {"member", "reader"}


def test_admin_token_carries_implied_roles(identity: IdentityService) -> None:
    result = bootstrap(identity, "adminpw")
    info = identity.authenticate_password("adminpw", user_name="admin",
                                          project_name="admin").info
    assert info.role_names == ("admin", "member", "reader")
    assert info.is_admin and info.user_id == result.user_id
    assert info.to_context().is_admin


def test_bootstrap_is_idempotent(identity: IdentityService) -> None:
    first = bootstrap(identity, None)
    assert first.created and first.generated_password
    second = bootstrap(identity, "ignored")
    assert not second.created and second.generated_password is None
    assert (second.user_id, second.project_id) == (first.user_id, first.project_id)
    assert sorted(r.name for r in identity.list_roles()) == ["admin", "member", "reader"]
    assert sorted(p.name for p in identity.list_projects()) == ["admin", "service"]
    assert [u.name for u in identity.list_users()] == ["admin"]
    # The generated password works; the one passed the second time does not.
    identity.authenticate_password(first.generated_password, user_name="admin",
                                   project_name="admin")
    with pytest.raises(exceptions.NotAuthenticated):
        identity.authenticate_password("ignored", user_name="admin")


def test_bootstrap_with_given_password(identity: IdentityService) -> None:
    result = bootstrap(identity, "given")
    assert result.created and result.generated_password is None
    identity.authenticate_password("given", user_name="admin", project_name="admin")
