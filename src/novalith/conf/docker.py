"""[docker] options of the Docker compute driver (``compute_driver = docker``).

The driver reads them once into :class:`novalith.virt.docker.config.DockerSettings`
(validated there) and checks them against the engine when the compute service
starts. The image cache options it honours are ``[image_cache]
remove_unused_base_images`` and ``remove_unused_original_minimum_age_seconds``.
"""

from __future__ import annotations

from oslo_config import cfg

OPTS: list[cfg.Opt] = [
    cfg.StrOpt("url", default="unix:///var/run/docker.sock",
               help="Docker Engine API endpoint (unix:///path or tcp://host:port). The "
                    "engine must run on the compute host itself: the metadata directory "
                    "is bind-mounted from instances_path."),
    cfg.StrOpt("api_version", default="auto",
               help="Engine API version to speak, e.g. 1.41; 'auto' asks the engine."),
    cfg.IntOpt("api_timeout", default=120, min=1,
               help="Seconds one Engine API request may wait for an answer (image loads "
                    "and snapshots stream; this bounds each read, not the whole call)."),
    cfg.IntOpt("connection_timeout", default=10, min=0,
               help="Seconds the compute service keeps trying to reach the engine at "
                    "start-up before it refuses to start."),
    cfg.IntOpt("max_connections", default=32, min=1,
               help="Connections to the engine kept open for concurrent operations."),
    cfg.StrOpt("container_name_template", default="instance-%08x",
               help="Container names, from the instance's integer id (Nova's "
                    "instance_name_template); by default the instance name. Clouds that "
                    "share one engine (test runs) give each a distinct template. The "
                    "driver finds containers by label, never by name."),
    cfg.IntOpt("stop_timeout", default=30, min=1,
               help="Seconds a soft reboot waits for the container's main process to "
                    "exit on its stop signal (SIGTERM by default) before it is killed."),
    cfg.IntOpt("pids_limit", default=1024, min=0,
               help="Most processes a container may run (its pids cgroup); 0: no limit."),
    cfg.BoolOpt("use_init", default=False,
                help="Run an init process (the engine's docker-init) as PID 1 of each "
                     "container: it forwards stop signals to the image's command and "
                     "reaps zombies, so a command that ignores signals as PID 1 (a bare "
                     "'sleep') still stops at once instead of after stop_timeout. Off by "
                     "default, as in Docker: with it a command that cannot be executed "
                     "starts (the init does) and fails a moment later, so the spawn "
                     "succeeds and the instance shows SHUTDOWN at the next power sync, "
                     "instead of the spawn failing."),
    cfg.StrOpt("config_drive_mount", default="/var/lib/cloud/seed/config_drive",
               help="Where the instance's metadata directory (the config drive layout: "
                    "openstack/latest/meta_data.json, user_data, ...) is mounted read-only "
                    "in the container. The default is cloud-init's ConfigDrive seed "
                    "directory."),
    cfg.IntOpt("console_log_max_bytes", default=102400, min=1024,
               help="At most this many bytes from the end of the container's log are "
                    "returned as console output."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [("docker", OPTS)]
