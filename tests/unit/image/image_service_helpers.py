"""Shared pieces of the image service unit tests: contexts and a service factory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from novalith.image.config import ImageConfig
from novalith.image.service import ImageService
from novalith.objects.context import RequestContext

ADMIN = RequestContext(project_id="admin-project", user_id="admin",
                       roles=("admin", "member", "reader"))


def project(name: str, *roles: str) -> RequestContext:
    return RequestContext(project_id=name, user_id=f"user-of-{name}",
                          roles=roles or ("member", "reader"))


def make_service(db: Any, tmp_path: Path, **config: Any) -> ImageService:
    conf = ImageConfig(filesystem_store_datadir=str(tmp_path / "images"), **config)
    return ImageService(db, conf)
