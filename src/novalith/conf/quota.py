"""[quota] options (nova.conf names and defaults) and the typed QuotaConfig."""

from __future__ import annotations

import dataclasses

from oslo_config import cfg

QUOTA_OPTS: list[cfg.Opt] = [
    cfg.IntOpt("instances", default=10, min=-1,
               help="Servers a project may have; -1 is unlimited."),
    cfg.IntOpt("cores", default=20, min=-1,
               help="Instance cores (vCPUs) a project may use; -1 is unlimited."),
    cfg.IntOpt("ram", default=50 * 1024, min=-1,
               help="Megabytes of instance RAM a project may use; -1 is unlimited."),
    cfg.IntOpt("metadata_items", default=128, min=-1,
               help="Metadata items a server may carry; -1 is unlimited."),
    cfg.IntOpt("injected_files", default=5, min=-1,
               help="Files a server may have injected (shown; personality is not served)."),
    cfg.IntOpt("injected_file_content_bytes", default=10 * 1024, min=-1,
               help="Bytes of one injected file (shown; personality is not served)."),
    cfg.IntOpt("injected_file_path_length", default=255, min=-1,
               help="Length of an injected file's path (shown; personality is not served)."),
    cfg.IntOpt("key_pairs", default=100, min=-1,
               help="Keypairs a user may have; -1 is unlimited."),
    cfg.IntOpt("server_groups", default=10, min=-1,
               help="Server groups a project may have; -1 is unlimited."),
    cfg.IntOpt("server_group_members", default=10, min=-1,
               help="Servers one server group may hold; -1 is unlimited."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [("quota", QUOTA_OPTS)]


@dataclasses.dataclass(frozen=True)
class QuotaConfig:
    """Default limits per resource, by the names the quota-sets API uses."""

    defaults: dict[str, int] = dataclasses.field(default_factory=lambda: {
        "instances": 10, "cores": 20, "ram": 51200, "metadata_items": 128,
        "injected_files": 5, "injected_file_content_bytes": 10240,
        "injected_file_path_bytes": 255, "key_pairs": 100, "server_groups": 10,
        "server_group_members": 10})

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> QuotaConfig:
        q = conf.quota
        return cls(defaults={
            "instances": q.instances, "cores": q.cores, "ram": q.ram,
            "metadata_items": q.metadata_items, "injected_files": q.injected_files,
            "injected_file_content_bytes": q.injected_file_content_bytes,
            # The API has always called this one ..._bytes; the option is ..._length.
            "injected_file_path_bytes": q.injected_file_path_length,
            "key_pairs": q.key_pairs, "server_groups": q.server_groups,
            "server_group_members": q.server_group_members})
