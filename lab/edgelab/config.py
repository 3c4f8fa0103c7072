"""Lab addresses and paths, in one place. Every value can be overridden by an environment variable."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("EDGELAB_STATE_DIR", REPO / ".lab"))

AWS_HOST = os.environ.get("EDGELAB_AWS_HOST", "127.0.0.1")
AWS_PORT = int(os.environ.get("EDGELAB_AWS_PORT", "4566"))
AWS_URL = f"http://{AWS_HOST}:{AWS_PORT}"
ACCOUNT_ID = "123456789012"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

SOURCE_REGISTRY = os.environ.get("EDGELAB_SOURCE_REGISTRY", "127.0.0.1:5001")
ECR_REGISTRY = os.environ.get("EDGELAB_ECR_REGISTRY", "127.0.0.1:5002")

KUBE_HOST = os.environ.get("EDGELAB_KUBE_HOST", "127.0.0.1")
KUBE_PORT = int(os.environ.get("EDGELAB_KUBE_PORT", "6443"))
KUBE_URL = f"https://{KUBE_HOST}:{KUBE_PORT}"
# TLS material and the lab-only admin token of the Kubernetes API: ca.crt/ca.key, server.crt/server.key, admin-token
# (created once, kept across restarts; see edgelab.kubetls).
KUBE_STATE_DIR = Path(os.environ.get("EDGELAB_KUBE_STATE_DIR", STATE_DIR / "kube"))
# The AWS endpoint the Kubernetes API asks which EKS clusters exist (EKS token validation).
KUBE_AWS_URL = os.environ.get("EDGELAB_KUBE_AWS_URL", AWS_URL)

# Address plan (loopback only; docs/lab.md): 127.0.0.1 = the internet and the region (control node, AWS APIs);
# 127.0.1.0/24 = carrier addresses of the nodes (auto-assigned bottom up .1, .2, ...; elastic carrier IPs top down
# .254, .253, ...), also the nodes' own "inside the VPC" source; 127.0.2.0/24 = devices on the carrier network.
# A carrier address accepts connections only from DEVICE_NETWORK and CARRIER_NETWORK.
CARRIER_IP_PREFIX = "127.0.1."  # carrier IPs are loopback aliases 127.0.1.N
CARRIER_NETWORK = "127.0.1.0/24"
DEVICE_NETWORK = "127.0.2.0/24"
DEVICE_ADDRESS = os.environ.get("EDGELAB_DEVICE_ADDRESS", "127.0.2.10")  # the default device (lab device, device.py)
# 127.0.3.0/24 = the nodes' private addresses as pods see them (status.hostIP; NodePorts are served there too).
# All pods share the host network, so the lab cannot tell a pod from the control node: any local source may use
# them (on AWS only sources inside the VPC). EC2 and the Node objects keep the VPC addresses moto assigns (10.x).
VPC_NETWORK = "127.0.3.0/24"

DOCKER_HOST = os.environ.get("EDGELAB_DOCKER_HOST", "unix:///run/edgelab/docker.sock")
DOCKER_DATA_ROOT = Path(os.environ.get("EDGELAB_DOCKER_DATA_ROOT", "/var/lib/edgelab/docker"))

JUMPSTART_CONTENT_BUCKET = "edgelab-jumpstart-content"
JUMPSTART_GATED_CONTENT_BUCKET = "edgelab-jumpstart-private-content"  # gated (EULA) models' content
CATALOG_DIR = REPO / "lab" / "catalog"
REGIONS = os.environ.get("EDGELAB_REGIONS", "us-east-1,us-west-2").split(",")  # regions the node agent watches
NODES_DIR = STATE_DIR / "nodes"  # node disks: .lab/nodes/<instance-id>/{var-lib-edgeml,etc-edgeml}
