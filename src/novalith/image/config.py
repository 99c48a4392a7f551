"""The image service's settings, read once from the config at construction."""

from __future__ import annotations

from dataclasses import dataclass

from oslo_config import cfg


@dataclass(frozen=True)
class ImageConfig:
    filesystem_store_datadir: str
    default_store: str = "file"
    image_size_cap: int = 1024**4
    limit_param_default: int = 25
    api_limit_max: int = 1000
    image_member_quota: int = 128
    image_tag_quota: int = 128
    image_property_quota: int = 128
    upload_idle_timeout: int = 300

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> ImageConfig:
        img = conf.image
        return cls(filesystem_store_datadir=conf.glance_store.filesystem_store_datadir,
                   default_store=conf.glance_store.default_store,
                   image_size_cap=img.image_size_cap,
                   limit_param_default=img.limit_param_default,
                   api_limit_max=img.api_limit_max,
                   image_member_quota=img.image_member_quota,
                   image_tag_quota=img.image_tag_quota,
                   image_property_quota=img.image_property_quota,
                   upload_idle_timeout=img.upload_idle_timeout)
