"""What exists, per service, for GET /_lab/resources (tests assert teardown left nothing).

Lab-seeded things (default VPC/subnets, AWS managed policies, the JumpStart content bucket, EKS AMIs, the hosted
zone edge.lab) are not listed; records in hosted zones are, but not a zone's own SOA and NS records."""

from moto.autoscaling.models import autoscaling_backends
from moto.ec2.models import ec2_backends
from moto.ecr.models import ecr_backends
from moto.eks.models import eks_backends
from moto.iam.models import iam_backends
from moto.route53.models import route53_backends
from moto.s3.models import s3_backends

from edgelab import config

from . import carrier_gateway_states, eni_linger
from .state import LAB


def _regions(backend_dict) -> list:
    account = dict.get(backend_dict, config.ACCOUNT_ID)
    return sorted(dict.items(account)) if account else []


def summary() -> dict:
    out: dict = {k: {} for k in ("vpcs", "subnets", "carrier_gateways", "network_interfaces", "internet_gateways",
                                 "launch_templates",
                                 "instances_running", "elastic_addresses", "autoscaling_groups", "eks_clusters",
                                 "ecr_repositories")}
    for region, ec2 in _regions(ec2_backends):
        out["vpcs"][region] = sorted(v.id for v in ec2.vpcs.values() if not v.is_default)
        default_vpcs = {v.id for v in ec2.vpcs.values() if v.is_default}
        out["subnets"][region] = sorted(s.id for zone in ec2.subnets.values() for s in zone.values()
                                        if s.vpc_id not in default_vpcs)
        out["carrier_gateways"][region] = carrier_gateway_states.available(ec2)  # not deleting/deleted ones
        # Interfaces of no instance: EKS's, and those left behind by deleted clusters and terminated nodes.
        out["network_interfaces"][region] = eni_linger.unattached(ec2)
        out["internet_gateways"][region] = sorted(ec2.internet_gateways)
        out["launch_templates"][region] = sorted(t.name for t in ec2.launch_templates.values())
        out["instances_running"][region] = sorted(i.id for i in ec2.all_instances()
                                                  if i.state not in ("terminated", "shutting-down"))
        # Elastic IPs (carrier or public) by allocation id (or the address, for moto's standard-domain ones).
        out["elastic_addresses"][region] = sorted(a.allocation_id or a.public_ip for a in ec2.addresses)
    for region, asg in _regions(autoscaling_backends):
        out["autoscaling_groups"][region] = sorted(asg.autoscaling_groups)
    for region, eks in _regions(eks_backends):
        deleting = [k[2] for k in LAB.deleting_clusters if k[1] == region]
        out["eks_clusters"][region] = sorted(set(eks.clusters) | set(deleting))
    for region, ecr in _regions(ecr_backends):
        out["ecr_repositories"][region] = sorted(ecr.repositories)
    iam = dict(_regions(iam_backends)).get("aws")
    out["iam_roles"] = sorted(r.name for r in iam.roles.values()) if iam else []
    out["iam_instance_profiles"] = sorted(iam.instance_profiles) if iam else []
    out["iam_policies"] = sorted(p.name for p in iam.managed_policies.values()
                                 if ":aws:policy/" not in p.arn) if iam else []
    s3 = dict(_regions(s3_backends)).get("aws")
    seeded = {config.JUMPSTART_CONTENT_BUCKET, config.JUMPSTART_GATED_CONTENT_BUCKET}  # the lab's JumpStart content
    out["s3_buckets"] = sorted(b for b in (s3.buckets if s3 else {}) if b not in seeded)
    route53 = dict(_regions(route53_backends)).get("aws")
    out["route53_records"] = sorted(f"{r.name} {r.type}" for z in (route53.zones.values() if route53 else [])
                                    for r in z.rrsets if not (r.type in ("SOA", "NS") and r.name == z.name))
    # Drop empty regions so that "nothing left" is simply {} / [].
    return {k: ({r: ids for r, ids in v.items() if ids} if isinstance(v, dict) else v) for k, v in out.items()}


def is_empty(res: dict) -> bool:
    return not any(res.values())
