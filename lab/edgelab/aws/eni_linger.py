"""Network interfaces that outlive their owner, as EKS and the VPC CNI leave them, and the DependencyViolation
errors they cause (teardown meets them on AWS for minutes; the lab delay `eni_linger`, default 3 s).

- EKS CreateCluster puts one cross-account interface in each control-plane subnet: description
  "Amazon EKS <cluster>", requester-managed, in-use (attached on EKS's side), in the cluster's security groups (those
  of resourcesVpcConfig that exist in EC2, else the VPC's default group). After DeleteCluster they stay until the
  cluster is gone (`eks_delete`) plus `eni_linger` s, then EKS deletes them.
- Terminating an EKS node (an instance tagged kubernetes.io/cluster/<name>, or whose user data has a NodeConfig part)
  leaves the VPC CNI's interface behind: description aws-K8S-<instance id>, tag node.k8s.amazonaws.com/instance_id,
  status available, in the instance's subnet and security groups. The user may delete it; else it goes after
  `eni_linger` s (the CNI's leaked-interface cleanup on AWS).
- DeleteNetworkInterface of an interface in use -> InvalidParameterValue "Network interface 'eni-x' is currently in
  use." (moto deletes it).
- DeleteSubnet / DeleteSecurityGroup / DeleteVpc while interfaces are in it -> DependencyViolation with AWS's
  messages (moto refuses none of the three for interfaces). Interfaces still attached to a terminated instance do
  not count: AWS deletes or detaches them with the instance, moto leaves them attached.
Transitions happen when the interfaces are read or a deletion is checked (as the lab's other delays).
"""

import math
import uuid
from datetime import UTC, datetime

from moto.core.responses import EmptyResult
from moto.ec2.exceptions import DependencyViolationError, EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_network_interfaces import NetworkInterface, NetworkInterfaceBackend
from moto.ec2.models.instances import Instance
from moto.ec2.models.security_groups import SecurityGroupBackend
from moto.ec2.models.subnets import SubnetBackend
from moto.ec2.models.vpcs import VPCBackend
from moto.ec2.responses import EC2Response
from moto.eks.models import EKSBackend

from .state import LAB, now

EKS_DESCRIPTION = "Amazon EKS {}"
CNI_DESCRIPTION = "aws-K8S-{}"
CNI_INSTANCE_TAG = "node.k8s.amazonaws.com/instance_id"
SERVICE_OWNER = "amazon-aws"  # InstanceOwnerId of an interface attached on a service's side

# (account, region, eni id) -> monotonic time at which the interface goes (inf while its cluster exists)
_lingering: dict = {}
# (account, region, cluster name) -> [eni ids]
_cluster_enis: dict = {}


def _clear() -> None:
    with LAB.lock:
        _lingering.clear()
        _cluster_enis.clear()


class ServiceAttachment:
    """The attachment of an interface used by a service in its own account (no instance of the user's)."""

    def __init__(self) -> None:
        self.attachment_id = f"ela-attach-{uuid.uuid4().hex[:17]}"
        self.attach_time = datetime.now(UTC)
        self.delete_on_termination = False
        self.device_index = 1
        self.network_card_index = 0
        self.instance_id = None
        self.instance_owner_id = SERVICE_OWNER
        self.status = "attached"


_attachment = NetworkInterface.attachment.fget


def attachment(self):
    return self.__dict__.get("_lab_attachment") or _attachment(self)


def _backend(account: str, region: str):
    return ec2_backends[account][region]


def sweep(ec2) -> None:
    """Forget the interfaces of this backend whose time is up."""
    with LAB.lock:
        for key, deadline in list(_lingering.items()):
            account, region, eni_id = key
            if account == ec2.account_id and region == ec2.region_name and now() >= deadline:
                ec2.enis.pop(eni_id, None)
                del _lingering[key]


def _leftover(eni) -> bool:
    """An interface moto keeps attached to a terminated instance (gone on AWS)."""
    return eni.instance is not None and eni.instance.state == "terminated"


def interfaces(ec2, predicate) -> list:
    sweep(ec2)
    return [e for e in list(ec2.enis.values()) if e.subnet is not None and not _leftover(e) and predicate(e)]


# -- EKS: the cluster's cross-account interfaces -------------------------------------------------------------------

def cluster_created(eks, cluster) -> None:
    ec2 = _backend(eks.account_id, eks.region_name)
    vpc_config = cluster.resources_vpc_config or {}
    groups = [g for g in [vpc_config.get("clusterSecurityGroupId"), *(vpc_config.get("securityGroupIds") or [])]
              if g and ec2.get_security_group_from_id(g) is not None]
    ids = []
    for subnet_id in vpc_config.get("subnetIds") or []:
        try:
            subnet = ec2.get_subnet(subnet_id)
        except EC2ClientError:
            continue
        eni = ec2.create_network_interface(subnet, None, group_ids=list(groups),
                                           description=EKS_DESCRIPTION.format(cluster.name))
        eni.requester_managed = True
        eni.requester_id = SERVICE_OWNER
        eni.status = "in-use"
        eni._lab_attachment = ServiceAttachment()
        ids.append(eni.id)
    with LAB.lock:
        _cluster_enis[(eks.account_id, eks.region_name, cluster.name)] = ids
        for eni_id in ids:
            _lingering[(eks.account_id, eks.region_name, eni_id)] = math.inf


def cluster_deleted(eks, name: str) -> None:
    with LAB.lock:
        ids = _cluster_enis.pop((eks.account_id, eks.region_name, name), [])
        deadline = LAB.deadline("eks_delete") + LAB.delays["eni_linger"]
        for eni_id in ids:
            _lingering[(eks.account_id, eks.region_name, eni_id)] = deadline


def _wrap_create_cluster(inner):
    def create_cluster(self, name, *args, **kwargs):
        cluster = inner(self, name, *args, **kwargs)
        cluster_created(self, cluster)
        return cluster
    return create_cluster


def _wrap_delete_cluster(inner):
    def delete_cluster(self, name):
        cluster = inner(self, name)
        cluster_deleted(self, name)
        return cluster
    return delete_cluster


# -- VPC CNI: the node's interface left behind ----------------------------------------------------------------------

def _is_eks_node(instance) -> bool:
    tags = {t["key"]: t["value"] for t in instance.get_tags()}
    if any(k.startswith("kubernetes.io/cluster/") for k in tags):
        return True
    from edgelab.nodes import userdata
    try:
        return instance.user_data is not None and userdata.parse(str(instance.user_data)).nodeconfig is not None
    except Exception:  # unreadable user data: not a node
        return False


def node_terminated(instance) -> None:
    ec2 = instance.ec2_backend
    if not instance.subnet_id or not _is_eks_node(instance):
        return
    eni = ec2.create_network_interface(
        instance.subnet_id, None, group_ids=[g.id for g in instance.security_groups],
        description=CNI_DESCRIPTION.format(instance.id), tags={CNI_INSTANCE_TAG: instance.id})
    with LAB.lock:
        _lingering[(ec2.account_id, ec2.region_name, eni.id)] = now() + LAB.delays["eni_linger"]


def _wrap_terminate(inner):
    def terminate(self, *args, **kwargs):
        was = self.state
        result = inner(self, *args, **kwargs)
        if was != "terminated":
            node_terminated(self)
        return result
    return terminate


# -- what interfaces block -------------------------------------------------------------------------------------------

def _wrap_delete_subnet(inner):
    def delete_subnet(self, subnet_id):
        if interfaces(self, lambda e: e.subnet.id == subnet_id):
            raise DependencyViolationError(f"The subnet '{subnet_id}' has dependencies and cannot be deleted.")
        return inner(self, subnet_id)
    return delete_subnet


def _wrap_delete_security_group(inner):
    def delete_security_group(self, name=None, group_id=None):
        group = self.get_security_group_from_id(group_id) if group_id else (
            self.get_security_group_by_name_or_id(name) if name else None)
        if group is not None and interfaces(self, lambda e: group.id in {g.id for g in e.group_set}):
            raise DependencyViolationError(f"resource {group.id} has a dependent object")
        return inner(self, name=name, group_id=group_id)
    return delete_security_group


def _wrap_delete_vpc(inner):
    def delete_vpc(self, vpc_id):
        if interfaces(self, lambda e: e.subnet.vpc_id == vpc_id):
            raise DependencyViolationError(f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
        return inner(self, vpc_id)
    return delete_vpc


def _wrap_read(inner):
    def method(self, *args, **kwargs):
        sweep(self)
        return inner(self, *args, **kwargs)
    return method


def delete_network_interface(self) -> EmptyResult:
    eni_id = self._get_param("NetworkInterfaceId")
    self.error_on_dryrun()
    sweep(self.ec2_backend)
    eni = self.ec2_backend.get_network_interface(eni_id)
    if eni.status == "in-use" and not _leftover(eni):
        raise EC2ClientError("InvalidParameterValue", f"Network interface '{eni_id}' is currently in use.")
    self.ec2_backend.delete_network_interface(eni_id)
    with LAB.lock:
        _lingering.pop((self.ec2_backend.account_id, self.ec2_backend.region_name, eni_id), None)
    return EmptyResult()


def unattached(ec2) -> list:
    """Interfaces not attached to an instance of the account (services' and left-over ones), for /_lab/resources."""
    return sorted(e.id for e in interfaces(ec2, lambda e: e.instance is None))


def install() -> None:
    """After eks, iam_propagation, ec2_wavelength and autoscaling: wraps what they patched."""
    NetworkInterface.attachment = property(attachment)
    EKSBackend.create_cluster = _wrap_create_cluster(EKSBackend.create_cluster)
    EKSBackend.delete_cluster = _wrap_delete_cluster(EKSBackend.delete_cluster)
    Instance.terminate = _wrap_terminate(Instance.terminate)
    SubnetBackend.delete_subnet = _wrap_delete_subnet(SubnetBackend.delete_subnet)
    SecurityGroupBackend.delete_security_group = _wrap_delete_security_group(SecurityGroupBackend.delete_security_group)
    VPCBackend.delete_vpc = _wrap_delete_vpc(VPCBackend.delete_vpc)
    for name in ("get_all_network_interfaces", "describe_network_interfaces", "get_network_interface"):
        setattr(NetworkInterfaceBackend, name, _wrap_read(getattr(NetworkInterfaceBackend, name)))
    EC2Response.delete_network_interface = delete_network_interface
    LAB.reset_hooks.append(_clear)
