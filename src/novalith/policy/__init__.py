"""Authorization: oslo.policy over the default rules of :mod:`novalith.policy.rules`.

Every Compute API route asks :class:`Policy` by rule name whether the caller may act
on a target (the project and user that own the resource). Operators override any
rule in the file named by ``[oslo_policy] policy_file`` (YAML), which oslo.policy
re-reads when it changes.

oslo.policy's ``enforce`` costs ~0.3 ms (it looks for the policy file and inspects
check signatures on every call), so decisions are cached: a decision depends only
on the rule, the caller's roles, project and user, and the target, and the cache
is emptied whenever the loaded rules change (looked at once a second).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from oslo_config import cfg
from oslo_policy import policy as oslo_policy

from novalith import exceptions
from novalith.objects.context import RequestContext
from novalith.policy.rules import list_rules

__all__ = ["Policy", "list_rules", "get_enforcer"]


class Policy:
    """An oslo.policy Enforcer with Novalith's defaults registered."""

    RECHECK_SECONDS = 1.0
    CACHE_SIZE = 8192

    def __init__(self, conf: cfg.ConfigOpts | None = None) -> None:
        if conf is None:
            conf = cfg.ConfigOpts()
            conf([], project="novalith", default_config_files=[])
        self.enforcer = oslo_policy.Enforcer(conf)
        self.enforcer.register_defaults(list_rules())
        self._names = frozenset(r.name for r in list_rules())
        self._cache: dict[tuple[Any, ...], bool] = {}
        self._lock = threading.Lock()
        self._rules_seen: dict[str, str] = {}
        self._checked_at = 0.0
        self._refresh()

    def _refresh(self) -> None:
        """Reload the policy file if it changed; forget cached decisions if rules did."""
        self._checked_at = time.monotonic()
        self.enforcer.load_rules()
        seen = {name: str(rule) for name, rule in self.enforcer.rules.items()}
        if seen != self._rules_seen:
            self._rules_seen = seen
            self._cache = {}

    def knows(self, rule: str) -> bool:
        return rule in self._names

    @staticmethod
    def credentials(ctx: RequestContext) -> dict[str, Any]:
        return {"roles": list(ctx.roles), "project_id": ctx.project_id,
                "user_id": ctx.user_id}

    def check(self, ctx: RequestContext, rule: str,
              target: Mapping[str, Any] | None = None) -> bool:
        """Whether ``rule`` allows the caller to act on ``target`` (default: its own
        project and user)."""
        if target is None:
            target = {"project_id": ctx.project_id, "user_id": ctx.user_id}
        if time.monotonic() - self._checked_at > self.RECHECK_SECONDS:
            with self._lock:
                self._refresh()
        try:
            key: tuple[Any, ...] | None = (rule, ctx.roles, ctx.project_id, ctx.user_id,
                                           tuple(sorted(target.items())))
            hash(key)
        except TypeError:
            key = None
        if key is not None:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
        allowed = bool(self.enforcer.enforce(rule, dict(target), self.credentials(ctx)))
        if key is not None:
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache = {}
            self._cache[key] = allowed
        return allowed

    def authorize(self, ctx: RequestContext, rule: str,
                  target: Mapping[str, Any] | None = None) -> None:
        """Raise Forbidden (403) unless ``rule`` allows it."""
        if not self.check(ctx, rule, target):
            raise exceptions.Forbidden(action=rule)

    def is_admin(self, ctx: RequestContext) -> bool:
        return self.check(ctx, "context_is_admin")


def get_enforcer() -> oslo_policy.Enforcer:
    """For ``oslopolicy-*`` tools (entry point ``oslo.policy.enforcer``)."""
    conf = cfg.ConfigOpts()
    conf([], project="novalith")
    enforcer = oslo_policy.Enforcer(conf)
    enforcer.register_defaults(list_rules())
    return enforcer
