#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: edge_network
version_added: 0.1.0
short_description: The whole edge network of a deployment in one run (VPC, subnets, carrier gateway, routes, groups)
description:
  - Ensures the network stage's resources, named after O(name) and found by name in the VPC, in one module run
    with one EC2 client. A run that changes nothing makes six describe calls and no other.
  - The VPC (found by its C(Name) tag and CIDR), with DNS support and DNS host names.
  - A regional subnet per entry of O(regional_subnets) and a Wavelength subnet per entry of O(wavelength_subnets),
    found by CIDR, tagged C(edgeml:tier) (and C(edgeml:zone) for Wavelength ones).
  - One live carrier gateway (gateways that are deleting or deleted are ignored, as M(edgeml.wavelength.carrier_gateway)
    does).
  - Route table C(<name>-wavelength) (default route to the carrier gateway, the Wavelength subnets) and
    C(<name>-regional) (local routes only, the regional subnets). Other routes of these tables are deleted, and
    subnets no longer listed are disassociated from them (a removed zone's subnet goes with the prune step).
  - Security groups C(<name>-node) (O(node_ports) from O(nodeport_allowed_cidrs), everything from the node and
    cluster groups) and C(<name>-cluster) (443 from the node group), egress open. Other rules are revoked.
  - Tags are O(tags) plus a C(Name) per resource; tags not listed are removed when O(purge_tags=true).
  - Resources that exist are adopted whatever made them, so a deployment made with the amazon.aws modules
    converges without change.
  - Also returns the Wavelength subnets of zones no longer listed (RV(stale_wavelength_subnets)), for the prune step
    of a later play (it deletes them once their nodes are gone); this module never deletes a subnet.
author:
  - edgeml team
options:
  name:
    description: The deployment's name, the base of every resource name.
    type: str
    required: true
  vpc_cidr:
    description: The VPC's IPv4 CIDR.
    type: str
    required: true
  regional_subnets:
    description: "The control plane's subnets, as C({zone: cidr})."
    type: dict
    required: true
  wavelength_subnets:
    description: "A subnet per Wavelength zone, as C({zone: cidr})."
    type: dict
    required: true
  node_ports:
    description: The models' NodePorts opened to O(nodeport_allowed_cidrs).
    type: list
    elements: int
    required: true
  nodeport_allowed_cidrs:
    description: Who may reach the node ports (IPv4 or IPv6 CIDRs).
    type: list
    elements: str
    required: true
  tags:
    description: Tags of every resource (a C(Name) is added per resource).
    type: dict
    default: {}
    aliases: [resource_tags]
  purge_tags:
    description: Remove tags not in O(tags).
    type: bool
    default: true
notes:
  - Supports check mode (the ids of resources it would create are empty) and diff mode.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The edge network
  edgeml.wavelength.edge_network:
    name: edgeml
    vpc_cidr: 10.0.0.0/16
    regional_subnets:
      us-east-1a: 10.0.0.0/20
      us-east-1b: 10.0.16.0/20
    wavelength_subnets:
      us-east-1-wl1-bos-wlz-1: 10.0.32.0/20
    node_ports: [30007]
    nodeport_allowed_cidrs: [198.51.100.0/24]
    tags:
      edgeml:deployment: edgeml
  register: network
"""

RETURN = r"""
vpc_id:
  description: The VPC (empty in check mode when it would be created).
  returned: always
  type: str
regional_subnet_ids:
  description: The regional subnets, in the order of O(regional_subnets) (empty strings in check mode for ones to
    create).
  returned: always
  type: list
  elements: str
wavelength_subnets:
  description: "C({zone: subnet id})."
  returned: always
  type: dict
carrier_gateway_id:
  description: The live carrier gateway.
  returned: always
  type: str
route_table_ids:
  description: C({wavelength, regional}).
  returned: always
  type: dict
node_security_group_id:
  description: The node group.
  returned: always
  type: str
cluster_security_group_id:
  description: The cluster group.
  returned: always
  type: str
stale_wavelength_subnets:
  description:
    - Subnets tagged C(edgeml:tier=wavelength) and with the C(edgeml:deployment) tag of O(tags), in any VPC, whose
      C(edgeml:zone) is not a key of O(wavelength_subnets), as C({id, vpc_id, zone}). Empty without that tag.
  returned: always
  type: list
  elements: dict
changes:
  description: What this run changed (or would change in check mode), one line each.
  returned: always
  type: list
  elements: str
"""

import ipaddress

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import (
    ansible_dict_to_boto3_tag_list,
    boto3_tag_list_to_ansible_dict,
)
from ansible_collections.edgeml.wavelength.plugins.module_utils.wavelength import split_carrier_gateways, tag_changes

# Right after a create, EC2 may not know the new id yet: retry calls that name it.
NOT_YET = ["InvalidVpcID.NotFound", "InvalidSubnetID.NotFound", "InvalidGroup.NotFound",
           "InvalidRouteTableID.NotFound", "InvalidCarrierGatewayID.NotFound"]
ROUTE_TARGETS = ("CarrierGatewayId", "GatewayId", "NatGatewayId", "TransitGatewayId", "LocalGatewayId",
                 "VpcPeeringConnectionId", "NetworkInterfaceId", "InstanceId", "CoreNetworkArn")
EGRESS_ALL = ("-1", None, None, "cidr", "0.0.0.0/0")


def rule_key(proto, from_port, to_port, kind, source):
    proto = str(proto)
    if proto in ("-1", "all"):
        return ("-1", None, None, kind, source)
    return (proto, from_port, to_port, kind, source)


def flatten(permissions):
    """{rule key: description} of EC2 IpPermissions (one key per source)."""
    rules = {}
    for p in permissions:
        ports = (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"))
        for r in p.get("IpRanges") or []:
            rules[rule_key(*ports, "cidr", r["CidrIp"])] = r.get("Description")
        for r in p.get("Ipv6Ranges") or []:
            rules[rule_key(*ports, "cidr6", r["CidrIpv6"])] = r.get("Description")
        for r in p.get("UserIdGroupPairs") or []:
            rules[rule_key(*ports, "group", r["GroupId"])] = r.get("Description")
        for r in p.get("PrefixListIds") or []:
            rules[rule_key(*ports, "prefix", r["PrefixListId"])] = r.get("Description")
    return rules


def permission(key, description):
    """The EC2 IpPermission of one rule key."""
    proto, from_port, to_port, kind, source = key
    perm = {"IpProtocol": proto}
    if from_port is not None:
        perm.update(FromPort=from_port, ToPort=to_port)
    desc = {"Description": description} if description else {}
    if kind == "cidr":
        perm["IpRanges"] = [{"CidrIp": source, **desc}]
    elif kind == "cidr6":
        perm["Ipv6Ranges"] = [{"CidrIpv6": source, **desc}]
    elif kind == "group":
        perm["UserIdGroupPairs"] = [{"GroupId": source, **desc}]
    else:
        perm["PrefixListIds"] = [{"PrefixListId": source, **desc}]
    return perm


def rule_changes(current, desired):
    """(to add, to revoke, to describe): rule keys missing, extra, and present with another description."""
    add = {k: d for k, d in desired.items() if k not in current}
    revoke = {k: d for k, d in current.items() if k not in desired}
    describe = {k: d for k, d in desired.items() if k in current and (current[k] or None) != (d or None)}
    return add, revoke, describe


def node_rules(node_ports, cidrs, node_group, cluster_group):
    rules = {}
    for port in sorted(set(node_ports)):
        for cidr in cidrs:
            kind = "cidr6" if ipaddress.ip_network(cidr, strict=False).version == 6 else "cidr"
            rules[rule_key("tcp", port, port, kind, cidr)] = "model NodePorts"
    rules[rule_key("-1", None, None, "group", node_group)] = "node to node"
    rules[rule_key("-1", None, None, "group", cluster_group)] = "control plane to nodes"
    return rules


def cluster_rules(node_group):
    return {rule_key("tcp", 443, 443, "group", node_group): "nodes to the API server"}


def route_changes(routes, desired):
    """(create, replace, delete) for a table's routes: desired is {destination: (target key, target id)}; the local
    route and propagated routes are left alone."""
    current = {}
    for r in routes:
        dest = r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock") or r.get("DestinationPrefixListId")
        if r.get("GatewayId") == "local" or r.get("Origin") != "CreateRoute" or not dest:
            continue
        target = next(((k, r[k]) for k in ROUTE_TARGETS if r.get(k)), (None, None))
        current[dest] = target
    create = {d: t for d, t in desired.items() if d not in current}
    replace = {d: t for d, t in desired.items() if d in current and current[d] != t}
    delete = [d for d in current if d not in desired]
    return create, replace, delete


class Network:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.name = self.p["name"]
        self.check = module.check_mode
        self.changes = []
        self.client = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(
            retries=10, catch_extra_error_codes=NOT_YET))

    def call(self, what, method, **kwargs):
        try:
            return getattr(self.client, method)(aws_retry=True, **kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.fail_json_aws(e, msg=f"Failed to {what}", changes=self.changes)

    def change(self, line, method=None, **kwargs):
        """Record a change and make it unless in check mode; returns the call's answer (None in check mode)."""
        self.changes.append(line)
        if self.check or method is None:
            return None
        return self.call(line, method, **kwargs)

    def describe(self, method, key, **kwargs):
        items, token = [], None
        while True:
            page = self.call(f"{method.replace('_', ' ')}", method, **kwargs, **({"NextToken": token} if token else {}))
            items += page.get(key) or []
            token = page.get("NextToken")
            if not token:
                return items

    def tags_for(self, name, **extra):
        return {**self.p["tags"], **extra, "Name": name}

    def spec(self, kind, tags):
        return [{"ResourceType": kind, "Tags": ansible_dict_to_boto3_tag_list(tags)}]

    def sync_tags(self, what, resource_id, current, desired):
        to_set, to_remove = tag_changes(boto3_tag_list_to_ansible_dict(current or []), desired,
                                        self.p["purge_tags"])
        if to_set:
            self.change(f"tag {what}: {', '.join(sorted(to_set))}", "create_tags", Resources=[resource_id],
                        Tags=ansible_dict_to_boto3_tag_list(to_set))
        if to_remove:
            self.change(f"untag {what}: {', '.join(sorted(to_remove))}", "delete_tags", Resources=[resource_id],
                        Tags=[{"Key": k} for k in to_remove])

    # -- VPC ------------------------------------------------------------------------------------------------------
    def vpc(self):
        found = self.describe("describe_vpcs", "Vpcs", Filters=[
            {"Name": "tag:Name", "Values": [self.name]}, {"Name": "cidr-block", "Values": [self.p["vpc_cidr"]]}])
        tags = self.tags_for(self.name)
        if len(found) > 1:
            self.module.fail_json(msg=f"{len(found)} VPCs are named {self.name} with CIDR {self.p['vpc_cidr']} "
                                      f"({', '.join(v['VpcId'] for v in found)}): delete all but one")
        if not found:
            created = self.change(f"create VPC {self.name} {self.p['vpc_cidr']}", "create_vpc",
                                  CidrBlock=self.p["vpc_cidr"], TagSpecifications=self.spec("vpc", tags))
            if created is None:
                return None
            vpc_id = created["Vpc"]["VpcId"]
            self.wait("vpc_available", VpcIds=[vpc_id])
            for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):
                self.call(f"enable {attribute} on {vpc_id}", "modify_vpc_attribute", VpcId=vpc_id,
                          **{attribute: {"Value": True}})
            return vpc_id
        vpc = found[0]
        for attribute in ("enableDnsSupport", "enableDnsHostnames"):
            answer = self.call(f"read {attribute} of {vpc['VpcId']}", "describe_vpc_attribute",
                               VpcId=vpc["VpcId"], Attribute=attribute)
            key = attribute[0].upper() + attribute[1:]
            if not answer.get(key, {}).get("Value"):
                self.change(f"enable {attribute} on VPC {self.name}", "modify_vpc_attribute", VpcId=vpc["VpcId"],
                            **{key: {"Value": True}})
        self.sync_tags(f"VPC {self.name}", vpc["VpcId"], vpc.get("Tags"), tags)
        return vpc["VpcId"]

    def wait(self, waiter, **kwargs):
        try:
            self.client.get_waiter(waiter).wait(WaiterConfig={"Delay": 2, "MaxAttempts": 60}, **kwargs)
        except botocore.exceptions.WaiterError as e:
            self.module.fail_json_aws(e, msg=f"Timed out waiting for {waiter}", changes=self.changes)

    # -- subnets --------------------------------------------------------------------------------------------------
    def subnets(self, vpc_id):
        """{cidr: subnet id or ''} of every listed subnet, created or tagged as needed."""
        existing = {s["CidrBlock"]: s for s in self.describe(
            "describe_subnets", "Subnets", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])} if vpc_id else {}
        wanted = [(zone, cidr, self.tags_for(f"{self.name}-regional-{zone}", **{"edgeml:tier": "regional"}))
                  for zone, cidr in self.p["regional_subnets"].items()]
        wanted += [(zone, cidr, self.tags_for(f"{self.name}-{zone}", **{"edgeml:tier": "wavelength",
                                                                         "edgeml:zone": zone}))
                   for zone, cidr in self.p["wavelength_subnets"].items()]
        ids, new = {}, []
        for zone, cidr, tags in wanted:
            found = existing.get(cidr)
            if found and found["AvailabilityZone"] != zone:
                self.module.fail_json(msg=f"Subnet {found['SubnetId']} ({cidr}) of VPC {vpc_id} is in "
                                          f"{found['AvailabilityZone']}, not {zone}: give {zone} another CIDR "
                                          "(edge_network_*_subnet_cidrs) or delete that subnet")
            if found:
                self.sync_tags(f"subnet {tags['Name']}", found["SubnetId"], found.get("Tags"), tags)
                ids[cidr] = found["SubnetId"]
                continue
            created = self.change(f"create subnet {tags['Name']} {cidr}", "create_subnet" if vpc_id else None,
                                  VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone,
                                  TagSpecifications=self.spec("subnet", tags))
            ids[cidr] = created["Subnet"]["SubnetId"] if created else ""
            new += [ids[cidr]] if created else []
        if new:
            self.wait("subnet_available", SubnetIds=new)
        return ids

    # -- carrier gateway ------------------------------------------------------------------------------------------
    def carrier_gateway(self, vpc_id):
        tags = self.tags_for(self.name)
        live, _gone = split_carrier_gateways(self.describe(
            "describe_carrier_gateways", "CarrierGateways", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
        ) if vpc_id else ([], [])
        if len(live) > 1:
            self.module.fail_json(msg=f"VPC {vpc_id} has {len(live)} carrier gateways: "
                                      f"{', '.join(g['CarrierGatewayId'] for g in live)}; keep one")
        if live:
            self.sync_tags(f"carrier gateway {self.name}", live[0]["CarrierGatewayId"], live[0].get("Tags"), tags)
            return live[0]["CarrierGatewayId"]
        created = self.change(f"create carrier gateway {self.name}", "create_carrier_gateway" if vpc_id else None,
                              VpcId=vpc_id, TagSpecifications=self.spec("carrier-gateway", tags))
        return created["CarrierGateway"]["CarrierGatewayId"] if created else ""

    # -- route tables ---------------------------------------------------------------------------------------------
    def route_tables(self, vpc_id, wanted):
        """wanted: {table name: (routes {dest: (target key, id)}, [subnet ids])}; returns {table name: id or ''}."""
        tables = self.describe("describe_route_tables", "RouteTables",
                               Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]) if vpc_id else []
        by_name = {}
        for table in tables:
            name = boto3_tag_list_to_ansible_dict(table.get("Tags") or []).get("Name")
            by_name.setdefault(name, []).append(table)
        # Where each subnet is associated now (explicit associations only).
        assoc = {a["SubnetId"]: (a["RouteTableAssociationId"], t["RouteTableId"]) for t in tables
                 for a in t.get("Associations") or [] if a.get("SubnetId")}
        ids = {}
        for name, (routes, _subnets) in wanted.items():
            found = by_name.get(name) or []
            if len(found) > 1:
                self.module.fail_json(msg=f"{len(found)} route tables of VPC {vpc_id} are named {name} "
                                          f"({', '.join(t['RouteTableId'] for t in found)}): delete all but one")
            tags = self.tags_for(name)
            if found:
                table = found[0]
                self.sync_tags(f"route table {name}", table["RouteTableId"], table.get("Tags"), tags)
            else:
                created = self.change(f"create route table {name}", "create_route_table" if vpc_id else None,
                                      VpcId=vpc_id, TagSpecifications=self.spec("route-table", tags))
                table = created["RouteTable"] if created else {"RouteTableId": "", "Routes": []}
            ids[name] = table["RouteTableId"]
            self.routes(name, table, routes)
        for name, (_routes, subnets) in wanted.items():
            self.associations(name, ids[name], subnets, assoc)
        # Subnets these tables still hold that no table wants: disassociated (they fall back to the main table).
        wanted_subnets = {s for _routes, subnets in wanted.values() for s in subnets}
        for subnet, (association, table_id) in sorted(assoc.items()):
            name = next((n for n, i in ids.items() if i == table_id and i), None)
            if name and subnet not in wanted_subnets:
                self.change(f"disassociate subnet {subnet} from route table {name}", "disassociate_route_table",
                            AssociationId=association)
        return ids

    def routes(self, name, table, routes):
        create, replace, delete = route_changes(table.get("Routes") or [], routes)
        table_id = table["RouteTableId"]
        for dest, (key, target) in sorted(create.items()):
            self.change(f"add route {dest} -> {target or '(new)'} to route table {name}",
                        "create_route" if table_id and target else None,
                        RouteTableId=table_id, DestinationCidrBlock=dest, **{key: target})
        for dest, (key, target) in sorted(replace.items()):
            self.change(f"point route {dest} of route table {name} to {target or '(new)'}",
                        "replace_route" if target else None,
                        RouteTableId=table_id, DestinationCidrBlock=dest, **{key: target})
        for dest in delete:
            self.change(f"delete route {dest} from route table {name}", "delete_route",
                        RouteTableId=table_id, DestinationCidrBlock=dest)

    def associations(self, name, table_id, subnets, assoc):
        for subnet in subnets:
            now = assoc.get(subnet) if subnet else None
            if now and now[1] == table_id:
                continue
            if now:
                self.change(f"move subnet {subnet} to route table {name}", "replace_route_table_association",
                            AssociationId=now[0], RouteTableId=table_id)
            else:
                answer = self.change(f"associate subnet {subnet or '(new)'} with route table {name}",
                                     "associate_route_table" if subnet and table_id else None,
                                     SubnetId=subnet, RouteTableId=table_id)
                if answer:
                    now = (answer["AssociationId"], table_id)
            if subnet:
                assoc[subnet] = (now[0] if now else "", table_id)

    # -- security groups ------------------------------------------------------------------------------------------
    def security_groups(self, vpc_id):
        """{'node': id, 'cluster': id}: both groups exist before any rule names the other."""
        names = {"node": f"{self.name}-node", "cluster": f"{self.name}-cluster"}
        descriptions = {"node": "edgeml Wavelength nodes", "cluster": "edgeml EKS control plane"}
        found = {g["GroupName"]: g for g in self.describe(
            "describe_security_groups", "SecurityGroups", Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": list(names.values())}])
        } if vpc_id else {}
        groups = {}
        for role, name in names.items():
            tags = self.tags_for(name)
            if name in found:
                groups[role] = found[name]
                self.sync_tags(f"security group {name}", found[name]["GroupId"], found[name].get("Tags"), tags)
                continue
            created = self.change(f"create security group {name}", "create_security_group" if vpc_id else None,
                                  GroupName=name, Description=descriptions[role], VpcId=vpc_id,
                                  TagSpecifications=self.spec("security-group", tags))
            # A new group has the default egress rule (all traffic out).
            groups[role] = {"GroupId": created["GroupId"] if created else "", "IpPermissions": [],
                            "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}
        node, cluster = groups["node"]["GroupId"], groups["cluster"]["GroupId"]
        ingress = {"node": node_rules(self.p["node_ports"], self.p["nodeport_allowed_cidrs"], node or "(node)",
                                      cluster or "(cluster)"),
                   "cluster": cluster_rules(node or "(node)")}
        for role, name in names.items():
            group = groups[role]
            self.rules(name, group["GroupId"], "ingress", flatten(group.get("IpPermissions") or []), ingress[role])
            self.rules(name, group["GroupId"], "egress", flatten(group.get("IpPermissionsEgress") or []),
                       {EGRESS_ALL: None})
        return {role: g["GroupId"] for role, g in groups.items()}

    def rules(self, name, group_id, direction, current, desired):
        add, revoke, describe = rule_changes(current, desired)
        if direction == "egress":
            describe = {}  # descriptions of the default egress rule are the user's
        if revoke:
            self.change(f"revoke {direction} of {name}: {', '.join(map(show, sorted(revoke, key=str)))}",
                        f"revoke_security_group_{direction}" if group_id else None, GroupId=group_id,
                        IpPermissions=[permission(k, d) for k, d in revoke.items()])
        if add:
            self.change(f"allow {direction} of {name}: {', '.join(map(show, sorted(add, key=str)))}",
                        f"authorize_security_group_{direction}" if group_id else None,
                        GroupId=group_id, IpPermissions=[permission(k, d) for k, d in add.items()])
        if describe:
            self.change(f"describe {direction} rules of {name}: {', '.join(map(show, sorted(describe, key=str)))}",
                        f"update_security_group_rule_descriptions_{direction}" if group_id else None,
                        GroupId=group_id, IpPermissions=[permission(k, d) for k, d in describe.items()])

    def stale_subnets(self):
        deployment = self.p["tags"].get("edgeml:deployment")
        if not deployment:
            return []
        tagged = self.describe("describe_subnets", "Subnets", Filters=[
            {"Name": "tag:edgeml:deployment", "Values": [deployment]},
            {"Name": "tag:edgeml:tier", "Values": ["wavelength"]}])
        return [{"id": s["SubnetId"], "vpc_id": s["VpcId"], "zone": tags.get("edgeml:zone", "")}
                for s in tagged for tags in [boto3_tag_list_to_ansible_dict(s.get("Tags") or [])]
                if tags.get("edgeml:zone") not in self.p["wavelength_subnets"]]

    # -- the stage ------------------------------------------------------------------------------------------------
    def converge(self):
        vpc_id = self.vpc()
        subnets = self.subnets(vpc_id)
        gateway = self.carrier_gateway(vpc_id)
        regional = [subnets[cidr] for cidr in self.p["regional_subnets"].values()]
        wavelength = {zone: subnets[cidr] for zone, cidr in self.p["wavelength_subnets"].items()}
        tables = self.route_tables(vpc_id, {
            f"{self.name}-wavelength": ({"0.0.0.0/0": ("CarrierGatewayId", gateway)}, list(wavelength.values())),
            f"{self.name}-regional": ({}, regional),
        })
        groups = self.security_groups(vpc_id)
        return {
            "stale_wavelength_subnets": self.stale_subnets(),
            "vpc_id": vpc_id or "", "regional_subnet_ids": regional, "wavelength_subnets": wavelength,
            "carrier_gateway_id": gateway,
            "route_table_ids": {"wavelength": tables[f"{self.name}-wavelength"],
                                "regional": tables[f"{self.name}-regional"]},
            "node_security_group_id": groups["node"], "cluster_security_group_id": groups["cluster"],
        }


def show(key):
    proto, from_port, to_port, kind, source = key
    ports = "all" if proto == "-1" else f"{proto}/{from_port}" + (f"-{to_port}" if to_port != from_port else "")
    return f"{ports} {kind} {source}"


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            vpc_cidr=dict(type="str", required=True),
            regional_subnets=dict(type="dict", required=True),
            wavelength_subnets=dict(type="dict", required=True),
            node_ports=dict(type="list", elements="int", required=True),
            nodeport_allowed_cidrs=dict(type="list", elements="str", required=True),
            tags=dict(type="dict", default={}, aliases=["resource_tags"]),
            purge_tags=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    network = Network(module)
    result = network.converge()
    result.update(changed=bool(network.changes), changes=network.changes)
    if module._diff:
        result["diff"] = {"before": "", "after": "".join(f"{line}\n" for line in network.changes)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
