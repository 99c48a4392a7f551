"""Server metadata as Nova's schema accepts it: keys of 1-255 characters from
``[a-zA-Z0-9-_:. ]``, string values of at most 255 characters."""

from __future__ import annotations

import re
from typing import Any

from novalith import exceptions

_KEY = re.compile(r"^[a-zA-Z0-9\-_:. ]{1,255}$")


def check_key(key: str, field: str = "metadata") -> str:
    if not _KEY.match(key):
        raise exceptions.ValidationError(
            field=field, detail=f"Invalid metadata key {key[:300]!r}: keys are 1 to 255 "
                                "characters of letters, digits, space and -_:.")
    return key


def check_metadata(value: Any, field: str = "metadata") -> dict[str, str]:
    """``value`` as a metadata dict, or a 400 naming what is wrong."""
    if not isinstance(value, dict):
        raise exceptions.ValidationError(field=field, detail="The value must be an object.")
    for key, item in value.items():
        check_key(key, field)
        if not isinstance(item, str):
            raise exceptions.ValidationError(
                field=field, detail=f"The value of metadata key {key!r} must be a string.")
        if len(item) > 255:
            raise exceptions.ValidationError(
                field=field, detail=f"The value of metadata key {key!r} is longer than 255 "
                                    "characters.")
    return dict(value)
