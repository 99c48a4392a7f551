"""Image service options: ``[glance_store]`` (where image data lives), ``[image]`` (the
Image API's limits, named as in glance-api.conf) and ``[glance]`` (how a compute
service in distributed mode reaches the Image API, named as in nova.conf)."""

from __future__ import annotations

from oslo_config import cfg

STORE_OPTS: list[cfg.Opt] = [
    cfg.StrOpt("default_store", default="file",
               help="Store new image data goes to: 'file' (the filesystem store), or the "
                    "name of a store installed under the novalith.image_stores entry point."),
    cfg.StrOpt("filesystem_store_datadir", default="$state_path/images",
               help="Directory of the filesystem store. Partial uploads are written there "
                    "under a temporary name and renamed only when complete."),
]
IMAGE_OPTS: list[cfg.Opt] = [
    cfg.IntOpt("image_size_cap", default=1099511627776, min=1,
               help="Largest image (bytes) an upload may store; larger uploads get 413."),
    cfg.IntOpt("limit_param_default", default=25, min=1,
               help="Images a list returns when the request gives no limit."),
    cfg.IntOpt("api_limit_max", default=1000, min=1,
               help="Most images one list request returns, whatever limit it asks for."),
    cfg.IntOpt("image_member_quota", default=128, min=-1,
               help="Most members an image may have; -1 means unlimited."),
    cfg.IntOpt("image_tag_quota", default=128, min=-1,
               help="Most tags an image may have; -1 means unlimited."),
    cfg.IntOpt("image_property_quota", default=128, min=-1,
               help="Most custom properties an image may have; -1 means unlimited."),
    cfg.IntOpt("upload_idle_timeout", default=300, min=1,
               help="Seconds an upload may wait for its next bytes before it is abandoned "
                    "(the image goes back to queued and the partial data is removed)."),
]
GLANCE_OPTS: list[cfg.Opt] = [
    cfg.StrOpt("endpoint_override", default="",
               help="Image API URL (e.g. http://controller:8774/image) for services that "
                    "reach it over HTTP; empty means taken from the identity catalog."),
    cfg.StrOpt("auth_url", default="",
               help="Identity URL (e.g. http://controller:8774/identity) of the service "
                    "user that talks to the Image API over HTTP."),
    cfg.StrOpt("username", default="", help="Service user name for the Image API."),
    cfg.StrOpt("password", default="", secret=True,
               help="Service user password for the Image API."),
    cfg.StrOpt("project_name", default="admin", help="Service user's project."),
    cfg.StrOpt("user_domain_name", default="Default", help="Service user's domain."),
    cfg.StrOpt("project_domain_name", default="Default", help="Service project's domain."),
    cfg.IntOpt("timeout", default=60, min=1,
               help="Seconds an Image API request may wait for the next bytes."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [("glance_store", STORE_OPTS), ("image", IMAGE_OPTS), ("glance", GLANCE_OPTS)]
