"""Query-string parsing shared by list endpoints (limit, marker, booleans)."""

from __future__ import annotations

from fastapi import Request

from novalith import exceptions


def limit(request: Request, max_limit: int) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return max_limit
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.Invalid(f"Invalid input for query parameters limit. Value: {raw}. "
                                 f"'{raw}' does not match '^[0-9]*$'") from None
    if value < 0:
        raise exceptions.Invalid("limit param must be positive")
    return min(value, max_limit)


def boolean(raw: str, name: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "t", "true", "on", "y", "yes"):
        return True
    if low in ("0", "f", "false", "off", "n", "no"):
        return False
    raise exceptions.Invalid(f"Invalid value '{raw}' for {name}: not a boolean.")
