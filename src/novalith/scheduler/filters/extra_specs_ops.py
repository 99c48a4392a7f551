"""The small language of flavor extra spec values that filters match against.

``"<op> <operand>"`` where op is one of::

    =   (number) value >= operand        ==  !=  >=  <=   number comparisons
    s== s!= s< s<= s> s>=               string comparisons
    <in> operand is a substring of the value
    <all-in> every operand word is in the value
    <or> a <or> b ...                    value equals one of the words

A requirement with no operator matches a value equal to it. A number operator
on something that is not a number does not match.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "=": operator.ge, "==": operator.eq, "!=": operator.ne,
    ">=": operator.ge, "<=": operator.le,
}
_STRING: dict[str, Callable[[str, str], bool]] = {
    "s==": operator.eq, "s!=": operator.ne, "s<": operator.lt, "s<=": operator.le,
    "s>": operator.gt, "s>=": operator.ge,
}


def matches(value: object, requirement: str) -> bool:
    """Whether a host-side ``value`` satisfies a flavor's ``requirement``."""
    text = str(value)
    words = requirement.split()
    if not words:
        return text == requirement
    op, rest = words[0], words[1:]
    if op in _NUMERIC and len(rest) == 1:
        try:
            return _NUMERIC[op](float(text), float(rest[0]))
        except ValueError:
            return False
    if op in _STRING and len(rest) == 1:
        return _STRING[op](text, rest[0])
    if op == "<in>" and len(rest) == 1:
        return rest[0] in text
    if op == "<all-in>" and rest:
        return all(word in text for word in rest)
    if op == "<or>":
        # "<or> a <or> b": the options are every other word after the first.
        options = [w for w in rest if w != "<or>"]
        return text in options
    return text == requirement
