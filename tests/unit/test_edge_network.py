"""edgeml.wavelength.edge_network: the network stage in one module run (issue 9: fewer, fatter tasks).

In-process lab AWS (Wavelength zones and opt-in need the extension). Each test builds its own deployment (own name
and VPC CIDR) so that tests do not see each other's resources.
"""

import pytest
from test_deployment_info import BOS, NYC, opt_in

REGIONAL = ["us-east-1a", "us-east-1b"]


def args(name, n, zones=(BOS,), ports=(30007,), cidrs=("198.51.100.0/24",), **extra):
    return {
        "name": name, "vpc_cidr": f"10.{n}.0.0/16",
        "regional_subnets": {z: f"10.{n}.{16 * i}.0/20" for i, z in enumerate(REGIONAL)},
        "wavelength_subnets": {z: f"10.{n}.{32 + 16 * i}.0/20" for i, z in enumerate(zones)},
        "node_ports": list(ports), "nodeport_allowed_cidrs": list(cidrs),
        "tags": {"edgeml:deployment": name, "team": "ml"}, **extra,
    }


@pytest.fixture
def ec2(client, lab_only):
    ec2 = client("ec2")
    opt_in(ec2)
    return ec2


def tagmap(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def table(ec2, table_id):
    return ec2.describe_route_tables(RouteTableIds=[table_id])["RouteTables"][0]


def ingress(ec2, group_id):
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    rules = set()
    for p in group["IpPermissions"]:
        for r in p.get("IpRanges", []):
            rules.add((p["IpProtocol"], p.get("FromPort"), r["CidrIp"], r.get("Description")))
        for r in p.get("UserIdGroupPairs", []):
            rules.add((p["IpProtocol"], p.get("FromPort"), r["GroupId"], r.get("Description")))
    return rules


def test_creates_the_network_then_changes_nothing(ec2, run, uid):
    name = f"net-{uid}"
    planned = run("edge_network", check=True, diff=True, **args(name, 61))
    assert planned["changed"] and planned["vpc_id"] == ""
    assert f"create VPC {name} 10.61.0.0/16" in planned["changes"]
    assert f"create carrier gateway {name}" in planned["changes"]
    assert f"create security group {name}-node" in planned["diff"]["after"]
    assert not ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"], "check mode wrote"

    made = run("edge_network", **args(name, 61))
    assert made["changed"], made
    vpc = ec2.describe_vpcs(VpcIds=[made["vpc_id"]])["Vpcs"][0]
    assert tagmap(vpc) == {"Name": name, "edgeml:deployment": name, "team": "ml"}
    for attribute in ("enableDnsSupport", "enableDnsHostnames"):
        key = attribute[0].upper() + attribute[1:]
        assert ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=attribute)[key]["Value"] is True
    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]}
    bos = subnets[made["wavelength_subnets"][BOS]]
    assert (bos["AvailabilityZone"], bos["CidrBlock"]) == (BOS, "10.61.32.0/20")
    assert tagmap(bos)["edgeml:tier"] == "wavelength" and tagmap(bos)["edgeml:zone"] == BOS
    assert [subnets[s]["AvailabilityZone"] for s in made["regional_subnet_ids"]] == REGIONAL
    assert {tagmap(subnets[s])["Name"] for s in made["regional_subnet_ids"]} == {
        f"{name}-regional-{z}" for z in REGIONAL}

    wl = table(ec2, made["route_table_ids"]["wavelength"])
    assert {(r.get("DestinationCidrBlock"), r.get("CarrierGatewayId")) for r in wl["Routes"]
            if r.get("GatewayId") != "local"} == {("0.0.0.0/0", made["carrier_gateway_id"])}
    assert {a["SubnetId"] for a in wl["Associations"]} == {bos["SubnetId"]}
    regional = table(ec2, made["route_table_ids"]["regional"])
    assert [r["GatewayId"] for r in regional["Routes"]] == ["local"]
    assert {a["SubnetId"] for a in regional["Associations"]} == set(made["regional_subnet_ids"])

    node, cluster = made["node_security_group_id"], made["cluster_security_group_id"]
    assert ingress(ec2, node) == {("tcp", 30007, "198.51.100.0/24", "model NodePorts"),
                                  ("-1", None, node, "node to node"), ("-1", None, cluster, "control plane to nodes")}
    assert ingress(ec2, cluster) == {("tcp", 443, node, "nodes to the API server")}

    again = run("edge_network", check=True, **args(name, 61))
    assert not again["changed"] and again["changes"] == []
    again = run("edge_network", **args(name, 61))
    assert not again["changed"], again["changes"]
    assert {k: again[k] for k in made if k.endswith("id") or k.endswith("ids") or k == "wavelength_subnets"} == {
        k: made[k] for k in made if k.endswith("id") or k.endswith("ids") or k == "wavelength_subnets"}


def test_repairs_drift_and_follows_inputs(ec2, run, uid):
    name = f"drift-{uid}"
    made = run("edge_network", **args(name, 62))
    node, cluster = made["node_security_group_id"], made["cluster_security_group_id"]
    wl_table = made["route_table_ids"]["wavelength"]
    # Someone deletes the default route, a rule, a tag; adds an open rule and a tag.
    ec2.delete_route(RouteTableId=wl_table, DestinationCidrBlock="0.0.0.0/0")
    ec2.revoke_security_group_ingress(GroupId=cluster, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "UserIdGroupPairs": [{"GroupId": node, "Description": "nodes to the API server"}]}])
    ec2.authorize_security_group_ingress(GroupId=node, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.delete_tags(Resources=[made["vpc_id"]], Tags=[{"Key": "team"}])
    ec2.create_tags(Resources=[made["carrier_gateway_id"]], Tags=[{"Key": "stray", "Value": "x"}])

    planned = run("edge_network", check=True, **args(name, 62))
    assert planned["changed"] and len(planned["changes"]) == 5, planned["changes"]
    fixed = run("edge_network", **args(name, 62))
    assert sorted(fixed["changes"]) == sorted(planned["changes"])
    assert ("0.0.0.0/0", made["carrier_gateway_id"]) in {
        (r.get("DestinationCidrBlock"), r.get("CarrierGatewayId")) for r in table(ec2, wl_table)["Routes"]}
    assert ingress(ec2, cluster) == {("tcp", 443, node, "nodes to the API server")}
    assert not any(rule[1] == 22 for rule in ingress(ec2, node))
    assert tagmap(ec2.describe_vpcs(VpcIds=[made["vpc_id"]])["Vpcs"][0])["team"] == "ml"
    assert "stray" not in tagmap(ec2.describe_carrier_gateways(
        CarrierGatewayIds=[made["carrier_gateway_id"]])["CarrierGateways"][0])

    # A second zone, another node port and another source: the old port and source go, the new ones come.
    grown = run("edge_network", **args(name, 62, zones=(BOS, NYC), ports=(30008,), cidrs=("203.0.113.0/24",)))
    assert set(grown["wavelength_subnets"]) == {BOS, NYC}
    assert {a["SubnetId"] for a in table(ec2, wl_table)["Associations"]} == set(grown["wavelength_subnets"].values())
    assert {r for r in ingress(ec2, node) if r[0] == "tcp"} == {("tcp", 30008, "203.0.113.0/24", "model NodePorts")}
    # The zone removed again: its subnet leaves the Wavelength table (the prune step deletes it), and stays.
    shrunk = run("edge_network", **args(name, 62, zones=(BOS,), ports=(30008,), cidrs=("203.0.113.0/24",)))
    assert shrunk["changes"] == [f"disassociate subnet {grown['wavelength_subnets'][NYC]} from route table "
                                 f"{name}-wavelength"]
    assert ec2.describe_subnets(SubnetIds=[grown["wavelength_subnets"][NYC]])["Subnets"]
    assert shrunk["stale_wavelength_subnets"] == [
        {"id": grown["wavelength_subnets"][NYC], "vpc_id": made["vpc_id"], "zone": NYC}]
    assert grown["stale_wavelength_subnets"] == [] == made["stale_wavelength_subnets"]
    assert not run("edge_network", **args(name, 62, zones=(BOS,), ports=(30008,),
                                           cidrs=("203.0.113.0/24",)))["changed"]


def test_adopts_a_subnet_moved_to_another_table_and_refuses_a_zone_mismatch(ec2, run, uid):
    name = f"adopt-{uid}"
    made = run("edge_network", **args(name, 63))
    bos = made["wavelength_subnets"][BOS]
    # The Wavelength subnet moved to the regional table by hand: moved back in place (one association change).
    association = next(a["RouteTableAssociationId"] for a in table(ec2, made["route_table_ids"]["wavelength"])[
        "Associations"] if a.get("SubnetId") == bos)
    ec2.replace_route_table_association(AssociationId=association, RouteTableId=made["route_table_ids"]["regional"])
    moved = run("edge_network", **args(name, 63))
    assert moved["changes"] == [f"move subnet {bos} to route table {name}-wavelength"]
    assert {a["SubnetId"] for a in table(ec2, made["route_table_ids"]["regional"])["Associations"]} == set(
        made["regional_subnet_ids"])

    wrong = args(name, 63)
    wrong["wavelength_subnets"] = {NYC: "10.63.32.0/20"}  # the CIDR of the bos subnet
    failed = run("edge_network", **wrong)
    assert failed["failed"] and f"is in {BOS}, not {NYC}" in failed["msg"] and "edge_network_" in failed["msg"]
