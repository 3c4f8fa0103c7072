"""Run-time settings (delays, faults, registry) and lab-only state shared by the patches.

moto keeps its backends in module globals, so there is one lab per process: this module is that lab's state.
"""

import json
import os
import random
import threading
import time

from edgelab import config

# refresh_warmup caps an instance refresh's InstanceWarmup (time compressed, as EKS creation is); iam_propagation is
# how long a new role or instance profile stays unusable by EC2 Auto Scaling and EKS; eni_linger how long the
# interfaces of a deleted cluster or a terminated node outlive it (eni_linger.py); cagw_delete how long a carrier
# gateway is `deleting` (carrier_gateway_states.py); addon how long an EKS add-on is CREATING or UPDATING;
# eks_update how long a cluster is UPDATING to a new Kubernetes version (eks.py).
DEFAULT_DELAYS = {"eks_create": 5.0, "eks_delete": 2.0, "eks_update": 3.0, "asg_instance": 1.0, "asg_health": 3.0,
                  "optin": 1.0, "refresh_warmup": 2.0, "iam_propagation": 2.0, "eni_linger": 3.0, "cagw_delete": 1.0,
                  "addon": 2.0}
DEFAULT_FAULTS = {"throttle_rate": 0.0, "error_rate": 0.0, "latency": 0.0, "seed": None}
REGIONS = ("us-east-1", "us-west-2")  # regions the lab seeds (AMIs, SSM parameters)


def _env_json(name: str) -> dict:
    raw = os.environ.get(name, "")
    return json.loads(raw) if raw else {}


class LabState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.defaults = {"delays": dict(DEFAULT_DELAYS), "faults": dict(DEFAULT_FAULTS)}
        self.defaults["delays"].update(_env_json("EDGELAB_AWS_DELAYS"))
        self.defaults["faults"].update(_env_json("EDGELAB_AWS_FAULTS"))
        for key in ("throttle_rate", "error_rate"):
            if os.environ.get(f"EDGELAB_AWS_{key.upper()}"):
                self.defaults["faults"][key] = float(os.environ[f"EDGELAB_AWS_{key.upper()}"])
        self.ecr_registry = config.ECR_REGISTRY
        self.kube_url = config.KUBE_URL
        self.kube_state_dir = config.KUBE_STATE_DIR  # its CA is the clusters' certificateAuthority
        self.reset_hooks: list = []  # called after every reset (moto's or the lab's) to re-seed
        self.reset_config()
        self.reset_data()

    # -- configuration -------------------------------------------------------------------------
    def reset_config(self) -> None:
        with self.lock:
            self.zone_groups = os.environ.get("EDGELAB_ZONE_GROUPS", "shared")  # or per-zone (Wavelength groups)
            # "enforce": IAM authn/authz on every call (iam_enforce.py); "audit": evaluated and logged, never refused
            self.iam = os.environ.get("EDGELAB_IAM", "off")
            self.delays = dict(self.defaults["delays"])
            self.faults = dict(self.defaults["faults"])
            self.rng = random.Random(self.faults["seed"])  # noqa: S311 (fault dice, not crypto)

    def update(self, cfg: dict) -> dict:
        with self.lock:
            unknown = set(cfg.get("delays", {})) - set(DEFAULT_DELAYS)
            unknown |= set(cfg.get("faults", {})) - set(DEFAULT_FAULTS)
            if unknown:
                raise ValueError(f"unknown settings: {sorted(unknown)}")
            if cfg.get("zone_groups", self.zone_groups) not in ("shared", "per-zone"):
                raise ValueError("zone_groups must be shared or per-zone")
            if cfg.get("iam", self.iam) not in ("off", "enforce", "audit"):
                raise ValueError("iam must be off, enforce or audit")
            self.zone_groups = cfg.get("zone_groups", self.zone_groups)
            self.iam = cfg.get("iam", self.iam)
            self.delays.update({k: float(v) for k, v in cfg.get("delays", {}).items()})
            self.faults.update(cfg.get("faults", {}))
            if "seed" in cfg.get("faults", {}):
                self.rng = random.Random(self.faults["seed"])  # noqa: S311 (fault dice, not crypto)
            return self.snapshot()

    def snapshot(self) -> dict:
        return {"delays": dict(self.delays), "faults": dict(self.faults), "zone_groups": self.zone_groups,
                "iam": self.iam, "ecr_registry": self.ecr_registry, "kube_url": self.kube_url}

    def roll(self) -> float:
        with self.lock:
            return self.rng.random()

    def deadline(self, delay_name: str) -> float:
        """Monotonic time at which a transition that started now completes."""
        return time.monotonic() + self.delays[delay_name]

    # -- lab-only data (what moto has no model for) -------------------------------------------
    def reset_data(self) -> None:
        with self.lock:
            self.optin: dict = {}  # (region, group) -> (status, deadline)
            self.carrier_ips: dict = {}  # N -> ENI with the auto-assigned carrier IP 127.0.1.N (bottom up)
            self.elastic_carrier_ips: dict = {}  # N -> elastic carrier IP 127.0.1.N (top down; ec2_addresses)
            self.deleting_clusters: dict = {}  # (account, region, name) -> (cluster, deadline)
            self.access_entries: dict = {}  # (account, region, cluster) -> {principalArn: entry}
            self.addons: dict = {}  # (account, region, cluster) -> {addon name: addon} (eks_addons.py)
            self.instance_refreshes: dict = {}  # (account, region, asg) -> [refresh dicts]

    def after_reset(self) -> None:
        self.reset_data()
        for hook in self.reset_hooks:
            hook()


LAB = LabState()


def now() -> float:
    return time.monotonic()
