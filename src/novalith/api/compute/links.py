"""Self and bookmark links, and the ``*_links`` of a paged list."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from novalith.api.deps import Call


def links(call: Call, collection: str, ident: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": f"{call.base}/{collection}/{ident}"},
            {"rel": "bookmark", "href": f"{call.bookmark}/{collection}/{ident}"}]


def bookmark(call: Call, collection: str, ident: str) -> list[dict[str, str]]:
    return [{"rel": "bookmark", "href": f"{call.bookmark}/{collection}/{ident}"}]


def next_link(call: Call, path: str, params: list[tuple[str, str]], marker: str
              ) -> list[dict[str, Any]]:
    kept = [(k, v) for k, v in params if k != "marker"] + [("marker", marker)]
    return [{"rel": "next", "href": f"{call.base}/{path}?{urlencode(kept)}"}]
