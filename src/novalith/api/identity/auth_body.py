"""Parsing the body of ``POST /v3/auth/tokens`` into one typed request.

Supported: the ``password`` method (user by id, or by name within a domain given
by id or name) and the ``token`` method (rescoping); scope to a project by id or
by name + domain, ``"scope": "unscoped"``, or no scope. Malformed bodies are
ValidationError (400); methods or scopes we do not offer are NotAuthenticated
(401), as Keystone answers them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from novalith import exceptions
from novalith.identity.records import DEFAULT_DOMAIN_ID

SUPPORTED_METHODS = ("password", "token")


@dataclasses.dataclass(frozen=True)
class AuthRequest:
    method: str
    password: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    user_domain: str = DEFAULT_DOMAIN_ID
    token: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    project_domain: str = DEFAULT_DOMAIN_ID
    unscoped: bool = False


def _bad(field: str, detail: str) -> exceptions.ValidationError:
    return exceptions.ValidationError(field=field, detail=detail)


def _obj(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise _bad(f"{where}.{key}" if where else key, "Expected an object.")
    return value


def _str(parent: dict[str, Any], key: str, where: str) -> str | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _bad(f"{where}.{key}", "Expected a non-empty string.")
    return value


def _domain(parent: dict[str, Any], where: str) -> str:
    if parent.get("domain") is None:
        return DEFAULT_DOMAIN_ID
    domain = _obj(parent, "domain", where)
    ref = _str(domain, "id", f"{where}.domain") or _str(domain, "name", f"{where}.domain")
    if ref is None:
        raise _bad(f"{where}.domain", "Expected an id or a name.")
    return ref


def parse_auth(body: Any) -> AuthRequest:
    """The typed request in ``body`` (already decoded JSON)."""
    if not isinstance(body, dict):
        raise _bad("body", "Expected a JSON object.")
    auth = _obj(body, "auth", "")
    identity = _obj(auth, "identity", "auth")
    methods = identity.get("methods")
    if (not isinstance(methods, list) or not methods
            or not all(isinstance(m, str) for m in methods)):
        raise _bad("auth.identity.methods", "Expected a non-empty list of method names.")
    if len(set(methods)) != 1 or methods[0] not in SUPPORTED_METHODS:
        raise exceptions.NotAuthenticated(
            "Attempted to authenticate with an unsupported method.")
    method = methods[0]
    fields: dict[str, Any] = {"method": method}
    if method == "password":
        fields.update(_password(identity))
    else:
        token = _obj(identity, "token", "auth.identity")
        token_id = _str(token, "id", "auth.identity.token")
        if token_id is None:
            raise _bad("auth.identity.token.id", "Required.")
        fields["token"] = token_id
    fields.update(_scope(auth.get("scope")))
    return AuthRequest(**fields)


def _password(identity: dict[str, Any]) -> dict[str, Any]:
    where = "auth.identity.password.user"
    password = _obj(identity, "password", "auth.identity")
    user = _obj(password, "user", "auth.identity.password")
    secret = user.get("password")
    if not isinstance(secret, str):
        raise _bad(f"{where}.password", "Expected a string.")
    user_id = _str(user, "id", where)
    user_name = _str(user, "name", where)
    if user_id is None and user_name is None:
        raise _bad(where, "Expected an id or a name.")
    return {"password": secret, "user_id": user_id, "user_name": user_name,
            "user_domain": _domain(user, where)}


def _scope(scope: Any) -> dict[str, Any]:
    if scope is None:
        return {}
    if scope == "unscoped":
        return {"unscoped": True}
    if not isinstance(scope, dict):
        raise _bad("auth.scope", "Expected an object or 'unscoped'.")
    if "project" not in scope:
        # Domain, system and trust scopes: nobody holds such roles here.
        raise exceptions.NotAuthenticated()
    project = _obj(scope, "project", "auth.scope")
    project_id = _str(project, "id", "auth.scope.project")
    project_name = _str(project, "name", "auth.scope.project")
    if project_id is None and project_name is None:
        raise _bad("auth.scope.project", "Expected an id or a name.")
    return {"project_id": project_id, "project_name": project_name,
            "project_domain": _domain(project, "auth.scope.project")}
