"""The two lab OCI registries (Debian `docker-registry`, plain http on loopback): source and "ECR"."""

from pathlib import Path

from edgelab import config

BINARY = "/usr/bin/docker-registry"
REGISTRIES = {"registry-source": config.SOURCE_REGISTRY, "registry-ecr": config.ECR_REGISTRY}

CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {addr}
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
"""


def write_config(name: str) -> Path:
    """Write the config of registry `name` (key of REGISTRIES); its storage lives under .lab/<name>."""
    root = config.STATE_DIR / name
    root.mkdir(parents=True, exist_ok=True)
    path = config.STATE_DIR / "run" / f"{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CONFIG.format(root=root, addr=REGISTRIES[name]))
    return path


def command(name: str) -> list[str]:
    return [BINARY, "serve", str(write_config(name))]
