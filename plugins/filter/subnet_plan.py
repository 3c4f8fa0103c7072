# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: subnet_plan
author: edgeml team
version_added: 0.1.0
short_description: Plan and check the subnets of an edge VPC
description:
  - Derives the prefix length of the subnets, the two regional subnet CIDRs and one CIDR per Wavelength zone from
    the VPC CIDR where they are not given, chooses the regional zones of the EKS control plane, and checks the plan.
  - The VPC CIDR must be an IPv4 network CIDR written as such (V(10.0.0.0/16)) with a /16 to /24 prefix; the subnet
    prefix must be between the VPC prefix + 2 and 28; every zone must exist in the region.
  - Derived CIDRs are the subnets of the VPC at the subnet prefix, in order - 0 and 1 for the regional subnets,
    2, 3, ... for the Wavelength zones in the order of O(zones).
  - Every subnet CIDR must be a network CIDR inside the VPC, no two may overlap, and the Kubernetes service CIDR
    must not overlap the VPC.
  - Problems are returned in RV(_value.errors), one sentence each naming the variable to change. The filter fails
    only on inputs of the wrong type.
positional: _input, zones, zone_info_zones
options:
  _input:
    description: VPC CIDR (C(edge_vpc_cidr)).
    type: str
    required: true
  zones:
    description: Wavelength zone names (C(edge_zones)).
    type: list
    elements: str
    required: true
  zone_info_zones:
    description:
      - The zones of the region, as RV(edgeml.wavelength.zone_info#module:zones) returns them - dicts with
        C(zone_name), C(zone_type) and, for Wavelength zones, C(parent_zone_name).
    type: list
    elements: dict
    required: true
  subnet_prefix:
    description: Prefix length of every subnet, an integer or a string of digits; empty derives VPC prefix + 4.
    type: raw
    default: ""
  regional_cidrs:
    description: Two explicit regional subnet CIDRs; empty derives them.
    type: list
    elements: str
    default: []
  wavelength_cidrs:
    description: Explicit CIDR per Wavelength zone name; zones not listed get a derived CIDR.
    type: dict
    default: {}
  service_cidr:
    description: Kubernetes service CIDR, which must not overlap the VPC. Not checked if it is not a network CIDR.
    type: str
    default: 172.20.0.0/16
"""

EXAMPLES = r"""
# => {"prefix": 20, "regional_cidrs": ["10.0.0.0/20", "10.0.16.0/20"],
#     "wavelength_cidrs": {"us-east-1-wl1-bos-wlz-1": "10.0.32.0/20"},
#     "regional_zones": ["us-east-1a", "us-east-1b"], "errors": []}
plan: "{{ '10.0.0.0/16' | edgeml.wavelength.subnet_plan(['us-east-1-wl1-bos-wlz-1'], zone_info.zones) }}"

# errors: ["10.0.0.0/20 overlaps 10.0.8.0/24 (edge_network_regional_subnet_cidrs vs
#           edge_network_wavelength_subnet_cidrs[us-east-1-wl1-bos-wlz-1])"]
checked: "{{ edge_network_vpc_cidr | edgeml.wavelength.subnet_plan(edge_network_zones, zone_info.zones,
  regional_cidrs=['10.0.0.0/20', '10.0.16.0/20'],
  wavelength_cidrs={'us-east-1-wl1-bos-wlz-1': '10.0.8.0/24'}) }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    prefix:
      description: Prefix length of the derived subnets; null when the VPC CIDR or the prefix is unusable.
      type: int
    regional_cidrs:
      description: Regional subnet CIDRs (given or derived); empty when the VPC CIDR or the prefix is unusable.
      type: list
      elements: str
    wavelength_cidrs:
      description: Zone name to subnet CIDR (given or derived); zones without room in the VPC are left out.
      type: dict
    regional_zones:
      description: Regional zones for the control plane - the parents of the Wavelength zones first, then the other
        availability zones of the region in name order, without duplicates, leaving out zones EKS cannot use
        (zone ids use1-az3, usw1-az2, cac1-az3, and zones whose state is not available).
      type: list
      elements: str
    errors:
      description: What is wrong with the plan, one sentence each naming the variable to change; empty if nothing.
      type: list
      elements: str
"""

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network

from ansible.errors import AnsibleFilterError

VPC = "edge_vpc_cidr (edge_network_vpc_cidr)"
PREFIX = "edge_network_subnet_prefix"
REGIONAL = "edge_network_regional_subnet_cidrs"
WAVELENGTH = "edge_network_wavelength_subnet_cidrs"
SERVICE = "eks_cluster_service_cidr (edge_network_service_cidr)"


def _network(value):
    """IPv4 network of a CIDR whose host bits are zero and which holds more than one address, else None."""
    try:
        net = IPv4Network(value)
    except ValueError:
        return None
    return net if net.prefixlen < 32 else None


def _list_of_str(value, what):
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise AnsibleFilterError(f"subnet_plan: {what} must be a list of strings, got {value!r}")
    return list(value)


def _hint(cidr, example):
    """How to write a CIDR as an IPv4 network CIDR."""
    try:
        net = IPv4Network(cidr, strict=False)
    except ValueError:
        return f" such as {example}"
    if net.prefixlen == 32:
        return f" (a /32 is a single address) such as {example}"
    return f": write {net}"


def _vpc_errors(cidr):
    """(network, errors) of the VPC CIDR."""
    net = _network(cidr)
    if net is None or str(net) != cidr:
        return None, [f"{VPC} {cidr!r} must be an IPv4 network CIDR{_hint(cidr, '10.0.0.0/16')}"]
    if not 16 <= net.prefixlen <= 24:
        return net, [f"{VPC} {cidr} must have a /16 to /24 prefix"]
    return net, []


def _subnet_prefix(value, vpc, vpc_ok):
    """(prefix, errors): the given prefix, or the VPC prefix + 4 when it is empty."""
    if isinstance(value, bool) or not (value is None or isinstance(value, (int, str))):
        raise AnsibleFilterError(f"subnet_plan: subnet_prefix must be an integer or a string, got {value!r}")
    if value is None or str(value).strip() == "":
        return (vpc.prefixlen + 4 if vpc_ok else None), []
    text = str(value).strip()
    if not text.isdigit():
        return None, [f"{PREFIX} must be a prefix length such as 20, or empty for the VPC prefix + 4 (got {value!r})"]
    prefix = int(text)
    if vpc is not None and not vpc.prefixlen + 2 <= prefix <= 28:
        return None, [f"{PREFIX} ({prefix}) must be between the VPC prefix + 2 ({vpc.prefixlen + 2}) and 28"]
    return prefix, []


# Availability zone ids where EKS places no control plane (EKS user guide: CreateCluster fails with
# UnsupportedAvailabilityZoneException). Ids, not names: names map to different zones in each account.
EKS_UNSUPPORTED_ZONE_IDS = frozenset({"use1-az3", "usw1-az2", "cac1-az3"})


def _regional_zones(zones, zone_map):
    """Parents of the Wavelength zones first, then the region's availability zones by name, each once; zones EKS
    cannot use (an unsupported zone id, or a state other than available, e.g. impaired or constrained) left out."""
    def usable(name):
        zone = zone_map.get(name) or {}
        return zone.get("zone_id") not in EKS_UNSUPPORTED_ZONE_IDS and zone.get("state", "available") == "available"

    parents = [zone_map[z].get("parent_zone_name") for z in zones if z in zone_map]
    azs = sorted(z["zone_name"] for z in zone_map.values() if z.get("zone_type") == "availability-zone")
    return list(dict.fromkeys(z for z in parents + azs if z and usable(z)))


def _cidr_errors(vpc, planned):
    """Errors of the planned (cidr, label) pairs: invalid, outside the VPC, overlapping a later one."""
    nets = [(cidr, label, _network(cidr)) for cidr, label in planned]
    errors = []
    for i, (cidr, label, net) in enumerate(nets):
        if net is None:
            errors.append(f"{label}: {cidr} is not a valid network CIDR{_hint(cidr, '10.0.16.0/20')}")
        elif not net.subnet_of(vpc):
            errors.append(f"{cidr} ({label}) is outside the VPC {vpc} of {VPC}")
        else:
            errors.extend(f"{cidr} overlaps {other} ({label} vs {other_label})"
                          for other, other_label, other_net in nets[i + 1:]
                          if other_net is not None and net.overlaps(other_net))
    return errors


def subnet_plan(vpc_cidr, zones, zone_info_zones, subnet_prefix="", regional_cidrs=(), wavelength_cidrs=None,
                service_cidr="172.20.0.0/16"):
    """Subnet CIDRs and regional zones of an edge VPC, with what is wrong with them."""
    if not isinstance(vpc_cidr, str):
        raise AnsibleFilterError(f"subnet_plan: the VPC CIDR must be a string, got {vpc_cidr!r}")
    zones = _list_of_str(zones, "zones")
    regional_cidrs = _list_of_str(regional_cidrs, "regional_cidrs")
    wavelength_cidrs = {} if wavelength_cidrs is None else wavelength_cidrs
    if not isinstance(wavelength_cidrs, Mapping) or not all(isinstance(v, str) for v in wavelength_cidrs.values()):
        raise AnsibleFilterError(f"subnet_plan: wavelength_cidrs must be a dict of zone name to CIDR string, "
                                 f"got {wavelength_cidrs!r}")
    if not isinstance(service_cidr, str):
        raise AnsibleFilterError(f"subnet_plan: service_cidr must be a string, got {service_cidr!r}")
    if (isinstance(zone_info_zones, str) or not isinstance(zone_info_zones, Sequence)
            or not all(isinstance(z, Mapping) and isinstance(z.get("zone_name"), str) for z in zone_info_zones)):
        raise AnsibleFilterError("subnet_plan: zone_info_zones must be the zones edgeml.wavelength.zone_info "
                                 f"returns (dicts with zone_name), got {zone_info_zones!r}")
    zone_map = {z["zone_name"]: z for z in zone_info_zones}

    vpc, errors = _vpc_errors(vpc_cidr)
    vpc_ok = not errors
    prefix, prefix_errors = _subnet_prefix(subnet_prefix, vpc, vpc_ok)
    errors += prefix_errors
    unknown = [z for z in zones if z not in zone_map]
    if unknown:
        errors.append(f"every zone of edge_zones (edge_network_zones) must exist in the region "
                      f"(unknown: {', '.join(unknown)})")
    regional_zones = _regional_zones(zones, zone_map)
    if len(regional_zones) < 2:
        errors.append("the region (edge_region) has fewer than two availability zones EKS can use (available, and "
                      f"not {', '.join(sorted(EKS_UNSUPPORTED_ZONE_IDS))}); EKS needs two")
    plan = {"prefix": prefix, "regional_cidrs": [], "wavelength_cidrs": {}, "regional_zones": regional_zones,
            "errors": errors}
    if not vpc_ok or prefix is None:
        return plan

    size, count = 2 ** (32 - prefix), 2 ** (prefix - vpc.prefixlen)

    def derived(index):
        return str(IPv4Network((int(vpc.network_address) + index * size, prefix))) if index < count else None

    if regional_cidrs:
        planned = [(cidr, REGIONAL) for cidr in regional_cidrs]
    else:
        planned = [(derived(i), "regional subnet derived from edge_vpc_cidr") for i in (0, 1)]
    plan["regional_cidrs"] = [cidr for cidr, _label in planned]
    if len(planned) != 2:
        errors.append(f"{REGIONAL} must list two CIDRs, one per regional zone (got {len(planned)})")
    for index, zone in enumerate(zones, start=2):
        if zone in wavelength_cidrs:
            cidr, label = wavelength_cidrs[zone], f"{WAVELENGTH}[{zone}]"
        elif (cidr := derived(index)) is None:
            errors.append(f"no room for a /{prefix} subnet of {zone} in the VPC {vpc} (subnets 0 and 1 are "
                          f"regional): use a larger {VPC}, a longer {PREFIX} or set {WAVELENGTH}[{zone}]")
            continue
        else:
            label = f"subnet of {zone} derived from edge_vpc_cidr"
        plan["wavelength_cidrs"][zone] = cidr
        planned.append((cidr, label))
    errors += _cidr_errors(vpc, planned)

    service = _network(service_cidr)
    if service is not None and service.overlaps(vpc):
        errors.append(f"the service CIDR {service_cidr} of {SERVICE} overlaps the VPC {vpc} of {VPC}")
    return plan


class FilterModule:
    """Subnet plan of an edge VPC."""

    def filters(self):
        return {"subnet_plan": subnet_plan}
