"""Filter plugins (plugins/filter/): the logic the roles used to carry as Jinja.

The expected values of the cases marked "as the Jinja" were produced by the Jinja the filters replaced
(roles/edge_network/tasks/validate.yml, roles/edge_nodegroup/vars/main.yml, roles/endpoint_check/tasks/discover.yml
and probe.yml, roles/model_deploy/tasks/prune.yml, playbooks/nodes.yml) on the same inputs.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.edgeml.wavelength.plugins.filter.boot_failure_report import boot_failure_report
from ansible_collections.edgeml.wavelength.plugins.filter.busy_instances import busy_instances
from ansible_collections.edgeml.wavelength.plugins.filter.carrier_targets import carrier_targets
from ansible_collections.edgeml.wavelength.plugins.filter.cidr_errors import cidr_errors
from ansible_collections.edgeml.wavelength.plugins.filter.endpoint_probe_targets import endpoint_probe_targets
from ansible_collections.edgeml.wavelength.plugins.filter.endpoint_report import endpoint_report
from ansible_collections.edgeml.wavelength.plugins.filter.endpoint_table import endpoint_table
from ansible_collections.edgeml.wavelength.plugins.filter.export_models import export_models
from ansible_collections.edgeml.wavelength.plugins.filter.kubelet_taints import kubelet_taints
from ansible_collections.edgeml.wavelength.plugins.filter.node_boot_state import node_boot_state
from ansible_collections.edgeml.wavelength.plugins.filter.probe_targets import probe_targets
from ansible_collections.edgeml.wavelength.plugins.filter.ready_zone_nodes import ready_zone_nodes
from ansible_collections.edgeml.wavelength.plugins.filter.roll_zones import roll_zones
from ansible_collections.edgeml.wavelength.plugins.filter.serving_instances import serving_instances
from ansible_collections.edgeml.wavelength.plugins.filter.stale_objects import stale_objects
from ansible_collections.edgeml.wavelength.plugins.filter.subnet_plan import subnet_plan
from ansible_collections.edgeml.wavelength.plugins.filter.zone_addresses import zone_addresses

REPO = Path(__file__).resolve().parents[2]
FILTERS = sorted(p.stem for p in (REPO / "plugins" / "filter").glob("*.py") if p.stem != "__init__")
BOS, NYC, MIA = "us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1", "us-east-1-wl1-mia-wlz-1"
VPC = "edge_vpc_cidr (edge_network_vpc_cidr)"
NODEPORTS = "edge_nodeport_allowed_cidrs (edge_network_nodeport_allowed_cidrs)"
PREFIX = "edge-ng"


# --- every filter: documented, and usable by its FQCN in a play -------------------------------------------------


def test_every_filter_is_documented():
    out = subprocess.run([Path(sys.executable).parent / "ansible-doc", "-t", "filter", "--json",
                          *(f"edgeml.wavelength.{name}" for name in FILTERS)],
                         capture_output=True, text=True, check=False, cwd=REPO,
                         env=os.environ | {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    assert out.returncode == 0, out.stderr
    docs = json.loads(out.stdout)
    assert sorted(docs) == [f"edgeml.wavelength.{name}" for name in FILTERS]
    for fqcn, doc in docs.items():
        assert doc["doc"]["name"] == fqcn.rsplit(".", 1)[1]
        assert doc["doc"]["version_added"] == "0.1.0"
        assert doc["doc"]["short_description"] and doc["doc"]["options"]["_input"]
        assert yaml.safe_load(doc["examples"]), fqcn
        assert doc["return"]["_value"]["type"], fqcn


@pytest.mark.parametrize("name", FILTERS)
def test_filter_module_exposes_the_filter_of_its_file(name):
    module = __import__(f"ansible_collections.edgeml.wavelength.plugins.filter.{name}", fromlist=["FilterModule"])
    assert list(module.FilterModule().filters()) == [name]


def test_filters_run_by_fqcn_in_a_play(tmp_path):
    """Through Ansible's templating (tagged strings, lazy containers), with the role's keyword arguments."""
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local",
             "vars": {"zone_info": ZONE_INFO, "nodes": NODES, "asgs": GROUPS, "cidrs": ["127.0.0.0/8"],
                      "models": [{"name": "m1"}], "exports": {"m1": {"artifact_s3_uri": "s3://b/k",
                                                                    "artifact_sha256": "ab"}}},
             "tasks": [{"name": "All filters", "ansible.builtin.copy": {"dest": str(tmp_path / "out.json"), "content":
                 "{{ {'plan': '10.0.0.0/16' | edgeml.wavelength.subnet_plan([bos], zone_info, subnet_prefix='',"
                 " regional_cidrs=[], wavelength_cidrs={}, service_cidr='172.20.0.0/16'),"
                 " 'cidr_errors': cidrs | edgeml.wavelength.cidr_errors(allow_open=false),"
                 " 'boot': nodes | edgeml.wavelength.node_boot_state(asgs, [bos], 'edge-ng', '1'),"
                 " 'targets': nodes | edgeml.wavelength.ready_zone_nodes([bos])"
                 " | edgeml.wavelength.carrier_targets(instances, [bos])"
                 " | edgeml.wavelength.probe_targets(models, 30007),"
                 " 'probes': nodes | edgeml.wavelength.ready_zone_nodes([bos])"
                 " | edgeml.wavelength.carrier_targets(instances, [bos])"
                 " | edgeml.wavelength.probe_targets(models, 30007) | edgeml.wavelength.endpoint_probe_targets,"
                 " 'export': exports | edgeml.wavelength.export_models,"
                 " 'stale_objects': [] | edgeml.wavelength.stale_objects([])} | to_json }}",
                 "mode": "0600"}, "vars": {"bos": BOS, "instances": INSTANCES}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    proc = subprocess.run([Path(sys.executable).parent / "ansible-playbook", str(tmp_path / "play.yml")],
                          capture_output=True, text=True, check=False, cwd=REPO,
                          env=os.environ | {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["plan"]["errors"] == [] and out["plan"]["wavelength_cidrs"] == {BOS: "10.0.32.0/20"}
    assert out["cidr_errors"] == []
    assert out["boot"]["ready_zones"] == [BOS]
    assert [[t["carrier_ip"], m["node_port"]] for t, m in out["targets"]] == [["155.1.1.1", 30007],
                                                                             ["155.1.1.2", 30007]]
    assert [(p["url"], p["data"]["model"]) for p in out["probes"]] == [
        ("http://155.1.1.1:30007/invocations", {"name": "m1", "node_port": 30007}),
        ("http://155.1.1.2:30007/invocations", {"name": "m1", "node_port": 30007})]
    assert out["export"] == [{"name": "m1", "artifact_s3_uri": "s3://b/k", "artifact_sha256": "ab"}]
    assert out["stale_objects"] == []


# --- subnet_plan -------------------------------------------------------------------------------------------------

ZONE_INFO = [{"zone_name": f"us-east-1{c}", "zone_type": "availability-zone"} for c in "fedcba"] + [
    {"zone_name": BOS, "zone_type": "wavelength-zone", "parent_zone_name": "us-east-1a"},
    {"zone_name": NYC, "zone_type": "wavelength-zone", "parent_zone_name": "us-east-1f"},
    {"zone_name": MIA, "zone_type": "wavelength-zone", "parent_zone_name": "us-east-1a"},
] + [{"zone_name": f"wl-{i}", "zone_type": "wavelength-zone", "parent_zone_name": "us-east-1c"} for i in range(16)]
AZS = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"]


def plan(vpc="10.0.0.0/16", zones=(BOS,), zone_info=ZONE_INFO, **kwargs):
    return subnet_plan(vpc, list(zones), zone_info, **kwargs)


def test_plan_derives_everything_from_the_vpc_cidr():  # as the Jinja
    assert plan() == {"prefix": 20, "regional_cidrs": ["10.0.0.0/20", "10.0.16.0/20"],
                      "wavelength_cidrs": {BOS: "10.0.32.0/20"}, "regional_zones": AZS, "errors": []}


def test_plan_three_zones_in_their_order_and_their_parents_first():  # as the Jinja
    p = plan(zones=[NYC, BOS, MIA])
    assert p["wavelength_cidrs"] == {NYC: "10.0.32.0/20", BOS: "10.0.48.0/20", MIA: "10.0.64.0/20"}
    assert list(p["wavelength_cidrs"]) == [NYC, BOS, MIA]
    assert p["regional_zones"] == ["us-east-1f", "us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e"]
    assert p["errors"] == []


@pytest.mark.parametrize("prefix", ["24", 24, " 24 "])
def test_plan_given_prefix(prefix):  # as the Jinja
    p = plan(zones=[NYC, BOS], subnet_prefix=prefix)
    assert p["prefix"] == 24 and p["errors"] == []
    assert p["regional_cidrs"] == ["10.0.0.0/24", "10.0.1.0/24"]
    assert p["wavelength_cidrs"] == {NYC: "10.0.2.0/24", BOS: "10.0.3.0/24"}


@pytest.mark.parametrize("prefix", ["", None])
def test_plan_empty_prefix_is_vpc_prefix_plus_4(prefix):
    p = plan("192.168.4.0/24", [BOS, NYC], subnet_prefix=prefix)
    assert p["prefix"] == 28 and p["errors"] == []
    assert p["regional_cidrs"] == ["192.168.4.0/28", "192.168.4.16/28"]
    assert p["wavelength_cidrs"] == {BOS: "192.168.4.32/28", NYC: "192.168.4.48/28"}


@pytest.mark.parametrize(("prefix", "ok"), [("17", False), ("18", True), ("28", True), ("29", False)])
def test_plan_prefix_bounds(prefix, ok):  # as the Jinja
    errors = plan(subnet_prefix=prefix)["errors"]
    assert (errors == []) is ok
    if not ok:
        assert errors == [f"edge_network_subnet_prefix ({prefix}) must be between the VPC prefix + 2 (18) and 28"]


def test_plan_prefix_not_a_number():
    p = plan(subnet_prefix="/20")
    assert p["prefix"] is None and p["regional_cidrs"] == [] and p["wavelength_cidrs"] == {}
    assert p["errors"] == ["edge_network_subnet_prefix must be a prefix length such as 20, or empty for the VPC "
                           "prefix + 4 (got '/20')"]


@pytest.mark.parametrize(("vpc", "error"), [
    ("10.0.0.1/16", f"{VPC} '10.0.0.1/16' must be an IPv4 network CIDR: write 10.0.0.0/16"),
    ("10.0.0.0/255.255.0.0", f"{VPC} '10.0.0.0/255.255.0.0' must be an IPv4 network CIDR: write 10.0.0.0/16"),
    ("abc", f"{VPC} 'abc' must be an IPv4 network CIDR such as 10.0.0.0/16"),
    ("2001:db8::/56", f"{VPC} '2001:db8::/56' must be an IPv4 network CIDR such as 10.0.0.0/16"),
    ("10.0.0.0/8", f"{VPC} 10.0.0.0/8 must have a /16 to /24 prefix"),
    ("10.0.0.0/26", f"{VPC} 10.0.0.0/26 must have a /16 to /24 prefix"),
    ("10.0.0.0/32", f"{VPC} '10.0.0.0/32' must be an IPv4 network CIDR (a /32 is a single address) such as "
                    "10.0.0.0/16"),
])
def test_plan_bad_vpc_cidr(vpc, error):  # refused by the Jinja too
    p = plan(vpc)
    assert p["errors"] == [error]
    assert p["prefix"] is None and p["regional_cidrs"] == [] and p["wavelength_cidrs"] == {}


def test_plan_bad_vpc_and_given_prefix_both_reported():
    assert plan("10.0.0.0/8", subnet_prefix="9")["errors"] == [
        f"{VPC} 10.0.0.0/8 must have a /16 to /24 prefix",
        "edge_network_subnet_prefix (9) must be between the VPC prefix + 2 (10) and 28"]


def test_plan_unknown_zones():  # refused by the Jinja too
    p = plan(zones=[BOS, "us-east-1-wl1-xxx-wlz-1", "nowhere"])
    assert p["errors"] == ["every zone of edge_zones (edge_network_zones) must exist in the region "
                           "(unknown: us-east-1-wl1-xxx-wlz-1, nowhere)"]
    assert p["regional_zones"] == AZS


def test_plan_region_with_fewer_than_two_availability_zones():
    p = plan(zone_info=[ZONE_INFO[-1], {"zone_name": BOS, "zone_type": "wavelength-zone"}])
    assert p["regional_zones"] == []
    assert p["errors"] == ["the region (edge_region) has fewer than two availability zones EKS can use (available, and "
                           "not cac1-az3, use1-az3, usw1-az2); EKS needs two"]
    one = plan(zone_info=[{"zone_name": "us-east-1a", "zone_type": "availability-zone"}, ZONE_INFO[6]])
    assert one["regional_zones"] == ["us-east-1a"] and len(one["errors"]) == 1


def test_plan_regional_zones_unique_parents_first():
    p = plan(zones=[MIA, BOS, NYC])
    assert p["regional_zones"] == ["us-east-1a", "us-east-1f", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e"]


def test_plan_skips_zones_eks_refuses():
    """EKS refuses control planes in some zone ids (UnsupportedAvailabilityZoneException) and in zones that are not
    available: the plan never picks them, even as a Wavelength zone's parent."""
    ids = {"a": "use1-az6", "b": "use1-az1", "c": "use1-az2", "d": "use1-az4", "e": "use1-az3", "f": "use1-az5"}
    zone_info = [{"zone_name": f"us-east-1{c}", "zone_type": "availability-zone", "zone_id": i,
                  "state": "impaired" if c == "b" else "available"} for c, i in ids.items()]
    zone_info.append({"zone_name": BOS, "zone_type": "wavelength-zone", "parent_zone_name": "us-east-1e"})
    p = plan(zone_info=zone_info)
    assert p["regional_zones"] == ["us-east-1a", "us-east-1c", "us-east-1d", "us-east-1f"] and p["errors"] == []


def test_plan_overlap_of_given_cidrs():  # as the Jinja (tests/roles/test_infra.py expects this text)
    p = plan(zones=[BOS, NYC], regional_cidrs=["10.0.0.0/20", "10.0.16.0/20"],
             wavelength_cidrs={BOS: "10.0.8.0/24"})
    assert p["regional_cidrs"] == ["10.0.0.0/20", "10.0.16.0/20"]
    assert p["wavelength_cidrs"] == {BOS: "10.0.8.0/24", NYC: "10.0.48.0/20"}
    assert p["errors"] == ["10.0.0.0/20 overlaps 10.0.8.0/24 (edge_network_regional_subnet_cidrs vs "
                           f"edge_network_wavelength_subnet_cidrs[{BOS}])"]


def test_plan_given_cidr_equal_to_a_derived_one():  # as the Jinja
    assert plan(zones=[BOS, NYC], wavelength_cidrs={BOS: "10.0.48.0/20"})["errors"] == [
        f"10.0.48.0/20 overlaps 10.0.48.0/20 (edge_network_wavelength_subnet_cidrs[{BOS}] vs subnet of {NYC} "
        "derived from edge_vpc_cidr)"]


def test_plan_given_wavelength_cidr_outside_the_vpc():  # as the Jinja
    assert plan(wavelength_cidrs={BOS: "10.1.0.0/24", "unused-zone": "garbage"})["errors"] == [
        f"10.1.0.0/24 (edge_network_wavelength_subnet_cidrs[{BOS}]) is outside the VPC 10.0.0.0/16 of {VPC}"]


@pytest.mark.parametrize(("cidr", "error"), [
    ("foo", "edge_network_regional_subnet_cidrs: foo is not a valid network CIDR such as 10.0.16.0/20"),
    ("10.0.0.1/20", "edge_network_regional_subnet_cidrs: 10.0.0.1/20 is not a valid network CIDR: write 10.0.0.0/20"),
    ("10.0.0.7/32", "edge_network_regional_subnet_cidrs: 10.0.0.7/32 is not a valid network CIDR (a /32 is a single "
                    "address) such as 10.0.16.0/20"),
])
def test_plan_invalid_given_cidr(cidr, error):  # refused by the Jinja too
    assert plan(regional_cidrs=[cidr, "10.0.16.0/20"])["errors"] == [error]


def test_plan_cidr_in_netmask_form_is_accepted():  # as the Jinja
    p = plan(wavelength_cidrs={BOS: "10.0.64.0/255.255.240.0"})
    assert p["errors"] == [] and p["wavelength_cidrs"] == {BOS: "10.0.64.0/255.255.240.0"}


@pytest.mark.parametrize("regional", [["10.0.0.0/20"], ["10.0.0.0/20", "10.0.16.0/20", "10.0.64.0/20"]])
def test_plan_needs_two_regional_cidrs(regional):  # refused by the Jinja too
    assert plan(regional_cidrs=regional)["errors"] == [
        f"edge_network_regional_subnet_cidrs must list two CIDRs, one per regional zone (got {len(regional)})"]


def test_plan_zones_that_fill_the_vpc():  # as the Jinja
    p = plan("10.0.0.0/24", [f"wl-{i}" for i in range(14)], subnet_prefix="28")
    assert p["errors"] == [] and p["wavelength_cidrs"]["wl-13"] == "10.0.0.240/28"


def test_plan_no_room_for_a_zone():  # refused by the Jinja too ("False is not a valid CIDR")
    p = plan(zones=[BOS, NYC, MIA], subnet_prefix="18")
    assert p["wavelength_cidrs"] == {BOS: "10.0.128.0/18", NYC: "10.0.192.0/18"}
    assert p["errors"] == [
        f"no room for a /18 subnet of {MIA} in the VPC 10.0.0.0/16 (subnets 0 and 1 are regional): use a larger "
        f"{VPC}, a longer edge_network_subnet_prefix or set edge_network_wavelength_subnet_cidrs[{MIA}]"]
    assert plan(zones=[BOS, NYC, MIA], subnet_prefix="18", wavelength_cidrs={MIA: "10.0.96.0/20"})["errors"] == [
        f"10.0.64.0/18 overlaps 10.0.96.0/20 (regional subnet derived from edge_vpc_cidr vs "
        f"edge_network_wavelength_subnet_cidrs[{MIA}])"]


@pytest.mark.parametrize("service", ["10.0.0.0/12", "10.0.128.0/20"])
def test_plan_service_cidr_overlapping_the_vpc(service):  # as the Jinja
    assert plan(service_cidr=service)["errors"] == [
        f"the service CIDR {service} of eks_cluster_service_cidr (edge_network_service_cidr) overlaps the VPC "
        f"10.0.0.0/16 of {VPC}"]


@pytest.mark.parametrize("service", ["nope", "", "172.20.0.0/16"])
def test_plan_service_cidr_not_checked_unless_a_network_outside_the_vpc(service):  # as the Jinja
    assert plan(service_cidr=service)["errors"] == []


def test_plan_reports_every_cidr_problem():
    p = plan(zones=[BOS, NYC], regional_cidrs=["10.0.0.0/20", "bad"],
             wavelength_cidrs={BOS: "10.0.0.0/24", NYC: "192.168.0.0/24"}, service_cidr="10.0.0.0/8")
    assert p["errors"] == [
        f"10.0.0.0/20 overlaps 10.0.0.0/24 (edge_network_regional_subnet_cidrs vs "
        f"edge_network_wavelength_subnet_cidrs[{BOS}])",
        "edge_network_regional_subnet_cidrs: bad is not a valid network CIDR such as 10.0.16.0/20",
        f"192.168.0.0/24 (edge_network_wavelength_subnet_cidrs[{NYC}]) is outside the VPC 10.0.0.0/16 of {VPC}",
        f"the service CIDR 10.0.0.0/8 of eks_cluster_service_cidr (edge_network_service_cidr) overlaps the VPC "
        f"10.0.0.0/16 of {VPC}"]


@pytest.mark.parametrize(("args", "message"), [
    ((16, [BOS], ZONE_INFO), "the VPC CIDR must be a string"),
    (("10.0.0.0/16", BOS, ZONE_INFO), "zones must be a list of strings"),
    (("10.0.0.0/16", [BOS, 1], ZONE_INFO), "zones must be a list of strings"),
    (("10.0.0.0/16", [BOS], {"zones": ZONE_INFO}), "zone_info_zones must be the zones"),
    (("10.0.0.0/16", [BOS], [{"name": BOS}]), "zone_info_zones must be the zones"),
    (("10.0.0.0/16", [BOS], ZONE_INFO, ["20"]), "subnet_prefix must be an integer or a string"),
    (("10.0.0.0/16", [BOS], ZONE_INFO, True), "subnet_prefix must be an integer or a string"),
    (("10.0.0.0/16", [BOS], ZONE_INFO, "", "10.0.0.0/20"), "regional_cidrs must be a list of strings"),
    (("10.0.0.0/16", [BOS], ZONE_INFO, "", [], [BOS]), "wavelength_cidrs must be a dict"),
    (("10.0.0.0/16", [BOS], ZONE_INFO, "", [], {BOS: None}), "wavelength_cidrs must be a dict"),
    (("10.0.0.0/16", [BOS], ZONE_INFO, "", [], {}, None), "service_cidr must be a string"),
])
def test_plan_wrong_input_types(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        subnet_plan(*args)


# --- cidr_errors -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cidrs", [["127.0.0.0/8"], ["203.0.113.0/24", "198.51.100.0/31"], ["10.0.0.0/255.0.0.0"]])
def test_cidr_errors_none(cidrs):  # as the Jinja
    assert cidr_errors(cidrs) == []


@pytest.mark.parametrize(("cidrs", "errors"), [
    ([], [f"{NODEPORTS} must list at least one network CIDR (it is empty)"]),
    (["0.0.0.0/0"], [f"{NODEPORTS} contains 0.0.0.0/0, which allows every address: "
                     "set edge_network_allow_open_nodeports: true to allow it"]),
    (["0.0.0.0/0.0.0.0"], [f"{NODEPORTS} contains 0.0.0.0/0.0.0.0, which allows every address: "
                           "set edge_network_allow_open_nodeports: true to allow it"]),
    (["10.0.0.1/8"], [f"{NODEPORTS}: '10.0.0.1/8' has host bits set, write 10.0.0.0/8"]),
    (["1.2.3.4/32", "1.2.3.4", "abc", "::/0"],
     [f"{NODEPORTS}: {c!r} is not an IPv4 network CIDR with more than one address (such as 203.0.113.0/24)"
      for c in ["1.2.3.4/32", "1.2.3.4", "abc", "::/0"]]),
])
def test_cidr_errors(cidrs, errors):  # refused by the Jinja too (except 0.0.0.0/0.0.0.0, which it let through)
    assert cidr_errors(cidrs) == errors


@pytest.mark.parametrize("allow", [True, "yes", "true"])
def test_cidr_errors_open_allowed(allow):  # as the Jinja
    assert cidr_errors(["0.0.0.0/0", "10.0.0.0/8"], allow_open=allow) == []


def test_cidr_errors_names_other_variables():
    assert cidr_errors(["0.0.0.0/0"], variable="edge_api_allowed_cidrs", allow_open_variable="edge_api_open") == [
        "edge_api_allowed_cidrs contains 0.0.0.0/0, which allows every address: set edge_api_open: true to allow it"]


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("127.0.0.0/8",), {}, "must be a list of CIDR strings"),
    (([24],), {}, "must be a list of CIDR strings"),
    ((["127.0.0.0/8"], "maybe"), {}, "allow_open must be a boolean"),
    ((["127.0.0.0/8"],), {"variable": 1}, "must be strings"),
])
def test_cidr_errors_wrong_input_types(args, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        cidr_errors(*args, **kwargs)


# --- node_boot_state (edge_nodegroup) ----------------- ------------------------------------------------------------

def node(name, zone, instance_id, status="True", reason=None, message=None, provider=None, conditions=True,
         taints=None):
    obj = {"metadata": {"name": name}, "status": {},
           "spec": {"providerID": f"aws:///{zone}/{instance_id}" if provider is None else provider,
                    **({"taints": taints} if taints else {})}}
    if conditions:
        ready = {"type": "Ready", "status": status, **({"reason": reason} if reason else {}),
                 **({"message": message} if message else {})}
        obj["status"]["conditions"] = [{"type": "MemoryPressure", "status": "False"}, ready]
    return obj


def instance(instance_id, state="InService", version="2", template=True):
    return {"instance_id": instance_id, "lifecycle_state": state,
            **({"launch_template": {"launch_template_name": "t", "version": version}} if template else {})}


NODES = [
    node("n-bos-b", BOS, "i-0b"), node("n-bos-a", BOS, "i-0a"),
    node("n-nyc-1", NYC, "i-1a", taints=[{"key": "edgeml.io/models-pending", "effect": "NoSchedule"}]),
    node("n-nyc-2", NYC, "i-1b", status="Unknown", reason="KubeletNotReady"),
    node("n-mia-1", MIA, "i-2a"), node("n-old", BOS, "i-0old"),
    node("n-noprov", BOS, "", provider=""), {"metadata": {"name": "bare"}},
    node("n-nocond", MIA, "i-2b", conditions=False),
    node("n-weird", BOS, "x", provider="aws:///us-east-1a/i-0c/extra"),
    node("n-other-zone", "us-east-1a", "i-9"),
]
GROUPS = [
    {"auto_scaling_group_name": f"{PREFIX}-{BOS}",
     "instances": [instance("i-0a"), instance("i-0b", version="1"), instance("i-0old", "Terminating")]},
    {"auto_scaling_group_name": f"{PREFIX}-{NYC}", "instances": [instance("i-1a"), instance("i-1b")]},
    {"auto_scaling_group_name": f"{PREFIX}-{MIA}",
     "instances": [instance("i-2a", template=False), instance("i-2b"), instance("i-2c")]},
    {"auto_scaling_group_name": f"other-{BOS}", "instances": [instance("i-0a")]},
    {"auto_scaling_group_name": f"{PREFIX}-lonely"},
]
BOOT_NODES = [  # as the Jinja
    {"zone": BOS, "instance_id": "i-0a", "node_name": "n-bos-a", "ready": True},
    {"zone": BOS, "instance_id": "i-0b", "node_name": "n-bos-b", "ready": True},
    {"zone": NYC, "instance_id": "i-1a", "node_name": "n-nyc-1", "ready": False},
    {"zone": NYC, "instance_id": "i-1b", "node_name": "n-nyc-2", "ready": False},
    {"zone": MIA, "instance_id": "i-2a", "node_name": "n-mia-1", "ready": True},
    {"zone": MIA, "instance_id": "i-2b", "node_name": "n-nocond", "ready": False},
]


@pytest.mark.parametrize(("per_zone", "ready_zones"), [(1, [BOS, MIA]), ("2", [BOS]), (0, [BOS, NYC, MIA])])
def test_node_boot_state(per_zone, ready_zones):  # as the Jinja
    assert node_boot_state(NODES, GROUPS, [BOS, NYC, MIA], PREFIX, per_zone) == {
        "nodes": BOOT_NODES, "failed": [{"zone": NYC, "instance_id": "i-1a", "node_name": "n-nyc-1"}],
        "ready_zones": ready_zones}


def test_node_boot_state_by_generation():
    """During a roll: only the zone's Nodes of the current generation count, whatever the groups list."""
    def labelled(name, zone, instance_id, gen, **kw):
        obj = node(name, zone, instance_id, **kw)
        obj["metadata"]["labels"] = {"edgeml.io/generation": gen}
        return obj

    pending = [{"key": "edgeml.io/models-pending", "value": "true", "effect": "NoSchedule"}]
    nodes = [labelled("old", BOS, "i-old", "g1"), labelled("new", BOS, "i-new", "g2"),
             labelled("bad", NYC, "i-bad", "g2", taints=pending), labelled("nyc-old", NYC, "i-no", "g1")]
    state = node_boot_state(nodes, [], [BOS, NYC], PREFIX, 1, generations={BOS: "g2", NYC: "g2"},
                            generation_label="edgeml.io/generation")
    assert state == {"nodes": [{"zone": BOS, "instance_id": "i-new", "node_name": "new", "ready": True},
                               {"zone": NYC, "instance_id": "i-bad", "node_name": "bad", "ready": False}],
                     "failed": [{"zone": NYC, "instance_id": "i-bad", "node_name": "bad"}], "ready_zones": [BOS]}
    with pytest.raises(AnsibleFilterError, match="generations must be a dict"):
        node_boot_state(nodes, [], [BOS], PREFIX, 1, generations={BOS: "g2"})


def test_node_boot_state_before_any_node():
    assert node_boot_state([], GROUPS, [BOS], PREFIX, 1) == {"nodes": [], "failed": [], "ready_zones": []}
    assert node_boot_state(NODES, [], [BOS], PREFIX, 1) == {"nodes": [], "failed": [], "ready_zones": []}


def test_node_boot_state_pending_taint():
    # The taint decides, whatever the Ready condition says; a node with other taints is ready; the key is a parameter.
    pending = [{"key": "edgeml.io/models-pending", "value": "true", "effect": "NoSchedule"}]
    nodes = [node("n-a", BOS, "i-0a", status="False", reason="KubeletNotReady", taints=pending),
             node("n-b", BOS, "i-0b", taints=[{"key": "dedicated", "effect": "NoSchedule"}])]
    state = node_boot_state(nodes, GROUPS, [BOS], PREFIX, 1)
    assert state["failed"] == [{"zone": BOS, "instance_id": "i-0a", "node_name": "n-a"}]
    assert state["ready_zones"] == [BOS] and [n["ready"] for n in state["nodes"]] == [False, True]
    other = node_boot_state(nodes, GROUPS, [BOS], PREFIX, 2, pending_taint="dedicated")
    assert other["failed"] == [{"zone": BOS, "instance_id": "i-0b", "node_name": "n-b"}]
    assert other["ready_zones"] == []


def test_boot_failure_report():
    failed = [{"zone": BOS, "instance_id": "i-0a", "node_name": "n-a"},
              {"zone": NYC, "instance_id": "i-1a", "node_name": "n-b"},
              {"zone": MIA, "instance_id": "i-2a", "node_name": "n-c"}]
    consoles = [{"instance_id": "i-0a", "matches": ["edgeml: model placement failed: m: sha256 mismatch", "x"],
                 "tail": ["last"]},
                {"instance_id": "i-1a", "matches": [], "tail": ["booting", "last line"]},
                {"instance_id": "i-2a", "matches": [], "tail": [], "error": "GetConsoleOutput failed: AccessDenied"}]
    assert boot_failure_report(failed, consoles).splitlines() == [
        f"node n-a (instance i-0a, zone {BOS}) joined with the edgeml.io/models-pending taint, its models are not in "
        "place; console: edgeml: model placement failed: m: sha256 mismatch | x",
        f"node n-b (instance i-1a, zone {NYC}) joined with the edgeml.io/models-pending taint, its models are not in "
        "place; console: booting | last line",
        f"node n-c (instance i-2a, zone {MIA}) joined with the edgeml.io/models-pending taint, its models are not in "
        "place; console: GetConsoleOutput failed: AccessDenied"]
    assert boot_failure_report([], []) == ""
    assert boot_failure_report(failed[:1], []).endswith("console: no console output yet")
    with pytest.raises(AnsibleFilterError, match="consoles must be a list of dicts"):
        boot_failure_report(failed, {"i-0a": {}})


@pytest.mark.parametrize(("taints", "expected"), [
    ([], []),
    (["dedicated=edge:NoSchedule", "example.com/gpu:NoExecute", "a=b:PreferNoSchedule"],
     [{"key": "dedicated", "value": "edge", "effect": "NoSchedule"},
      {"key": "example.com/gpu", "effect": "NoExecute"}, {"key": "a", "value": "b", "effect": "PreferNoSchedule"}]),
])
def test_kubelet_taints(taints, expected):
    assert kubelet_taints(taints, "edge_nodegroup_taints") == expected


@pytest.mark.parametrize("bad", ["dedicated=edge", "dedicated=edge:Never", "=x:NoSchedule", "a b:NoSchedule",
                                 "k=v w:NoExecute", ":NoSchedule"])
def test_kubelet_taints_refuses(bad):
    with pytest.raises(AnsibleFilterError, match=r"edge_nodegroup_taints: .* is not a taint: write key\[=value\]"):
        kubelet_taints([bad], "edge_nodegroup_taints")


@pytest.mark.parametrize(("args", "message"), [
    (({"resources": NODES}, GROUPS, [BOS], PREFIX, 1), r"the input \(Node resources\) must be a list of dicts"),
    ((NODES, [GROUPS], [BOS], PREFIX, 1), "groups must be a list of dicts"),
    ((NODES, GROUPS, BOS, PREFIX, 1), "zones must be a list of strings"),
    ((NODES, GROUPS, [BOS], None, 1), "name_prefix must be a string"),
    ((NODES, GROUPS, [BOS], PREFIX, "two"), "nodes_per_zone must be an integer"),
    ((NODES, GROUPS, [BOS], PREFIX, True), "nodes_per_zone must be an integer"),
])
def test_node_boot_state_wrong_input_types(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        node_boot_state(*args)


# --- ready_zone_nodes, carrier_targets, probe_targets (endpoint_check) -------------------------------------------

INSTANCES = [
    {"instance_id": "i-0a", "network_interfaces": [{"association": {"carrier_ip": "155.1.1.1", "public_ip": "x"}}]},
    {"instance_id": "i-0b", "network_interfaces": [{"private_ip_address": "10.0.32.4"}, {"association": None},
                                                   {"association": {"carrier_ip": "155.1.1.2"}},
                                                   {"association": {"carrier_ip": "155.1.1.3"}}]},
    {"instance_id": "i-2a", "network_interfaces": [{"association": {"public_ip": "3.3.3.3"}}]},
    {"instance_id": "i-0old"},
]
ZONE_NODES = [  # as the Jinja
    {"zone": BOS, "instance_id": "i-0b", "node_name": "n-bos-b"},
    {"zone": BOS, "instance_id": "i-0a", "node_name": "n-bos-a"},
    {"zone": MIA, "instance_id": "i-2a", "node_name": "n-mia-1"},
    {"zone": BOS, "instance_id": "i-0old", "node_name": "n-old"},
]
TARGETS = [  # as the Jinja
    {"zone": BOS, "instance_id": "i-0a", "node_name": "n-bos-a", "carrier_ip": "155.1.1.1"},
    {"zone": BOS, "instance_id": "i-0b", "node_name": "n-bos-b", "carrier_ip": "155.1.1.2"},
]


def test_ready_zone_nodes():  # as the Jinja
    assert ready_zone_nodes(NODES, [NYC, BOS, MIA]) == ZONE_NODES
    assert ready_zone_nodes(NODES, [NYC]) == []


def test_ready_zone_nodes_newest_generation_and_cordon():
    """During a node roll: only the zone's newest generation counts (once one of its nodes is Ready); cordoned and
    pending nodes never."""
    def node(name, zone, gen, created, ready="True", **spec):
        labels = {"edgeml.io/generation": gen} if gen is not None else {}
        return {"metadata": {"name": name, "labels": labels, "creationTimestamp": created},
                "spec": {"providerID": f"aws:///{zone}/i-{name}", **spec},
                "status": {"conditions": [{"type": "Ready", "status": ready}]}}

    nodes = [node("old", BOS, "g1", "2026-12-01T10:00:00Z"), node("new", BOS, "g2", "2026-12-03T10:00:00Z"),
             node("newer-booting", BOS, "g3", "2026-12-03T11:00:00Z", ready="False"),
             node("legacy", NYC, None, "2026-11-01T10:00:00Z"),
             node("cordoned", NYC, None, "2026-12-02T10:00:00Z", unschedulable=True)]
    assert ready_zone_nodes(nodes, [BOS, NYC], generation_label="edgeml.io/generation") == [
        {"zone": BOS, "instance_id": "i-new", "node_name": "new", "generation": "g2"},
        {"zone": NYC, "instance_id": "i-legacy", "node_name": "legacy", "generation": ""}]
    assert [n["node_name"] for n in ready_zone_nodes(nodes, [BOS, NYC])] == ["old", "new", "legacy"]


def test_carrier_targets():  # as the Jinja
    assert carrier_targets(ZONE_NODES, INSTANCES, [NYC, BOS, MIA]) == TARGETS
    assert carrier_targets(ZONE_NODES, [], [BOS]) == []


def test_carrier_targets_zone_order():
    nodes = [{"zone": z, "instance_id": f"i-{z}", "node_name": "n"} for z in ("a", "b")]
    instances = [{"instance_id": f"i-{z}", "network_interfaces": [{"association": {"carrier_ip": z}}]} for z in "ab"]
    assert [t["zone"] for t in carrier_targets(nodes, instances, ["b", "a"])] == ["b", "a"]


def test_probe_targets():  # as product(endpoint_check_models) with node_port | default(...)
    models = [{"name": "m1", "node_port": 30010}, {"name": "m2"}, {"name": "m3", "node_port": "30011"}]
    pairs = probe_targets(TARGETS, models, 30007)
    assert pairs == [[t, {**m, "node_port": p}] for t in TARGETS
                     for m, p in zip(models, [30010, 30007, 30011], strict=True)]
    assert probe_targets([], models, 30007) == []
    assert probe_targets(TARGETS[:1], [{"name": "m", "node_port": None}], "30008")[0][1]["node_port"] == 30008


def test_probe_targets_only_nodes_that_serve_the_model():
    """A node is probed for a model only when it runs a Ready pod of it (Local policy: no other node answers); the
    zone's stable address always."""
    stable = {"zone": BOS, "carrier_ip": "155.1.1.9", "instance_id": "i-0a", "node_name": "", "stable": True}

    def pod(node, model, ready="True", deleting=False):
        return {"metadata": {"labels": {"app.kubernetes.io/name": model},
                             **({"deletionTimestamp": "2026-12-03T10:00:00Z"} if deleting else {})},
                "spec": {"nodeName": node}, "status": {"conditions": [{"type": "Ready", "status": ready}]}}

    pods = [pod("n-bos-a", "m1"), pod("n-bos-a", "m2", ready="False"), pod("n-bos-b", "m2", deleting=True)]
    pairs = probe_targets([stable, *TARGETS], [{"name": "m1"}, {"name": "m2"}], 30007, pods=pods)
    assert [(t["carrier_ip"], m["name"]) for t, m in pairs] == [("155.1.1.9", "m1"), ("155.1.1.9", "m2"),
                                                               ("155.1.1.1", "m1")]


def test_endpoint_probe_targets():  # as the looped task's url, samples and label
    stable = {"zone": BOS, "carrier_ip": "155.1.1.9", "instance_id": "i-0a", "node_name": "", "stable": True}
    own = [{"text": "t", "expected_label": "x"}]
    models = [{"name": "m1", "node_port": 30010, "image": "i"}, {"name": "m2", "samples": own}]
    pairs = probe_targets([stable, TARGETS[0]], models, 30007)
    assert endpoint_probe_targets(pairs) == [
        {"url": "http://155.1.1.9:30010/invocations", "label": f"{BOS} stable 155.1.1.9:30010 m1",
         "data": {"target": stable, "model": {"name": "m1", "node_port": 30010}}},
        {"url": "http://155.1.1.9:30007/invocations", "label": f"{BOS} stable 155.1.1.9:30007 m2", "samples": own,
         "data": {"target": stable, "model": {"name": "m2", "node_port": 30007}}},
        {"url": "http://155.1.1.1:30010/invocations", "label": f"{BOS} n-bos-a 155.1.1.1:30010 m1",
         "data": {"target": TARGETS[0], "model": {"name": "m1", "node_port": 30010}}},
        {"url": "http://155.1.1.1:30007/invocations", "label": f"{BOS} n-bos-a 155.1.1.1:30007 m2", "samples": own,
         "data": {"target": TARGETS[0], "model": {"name": "m2", "node_port": 30007}}}]
    assert endpoint_probe_targets([]) == []


@pytest.mark.parametrize(("call", "message"), [
    (lambda: ready_zone_nodes({"resources": []}, [BOS]), r"the input \(Node resources\) must be a list of dicts"),
    (lambda: ready_zone_nodes(NODES, BOS), "zones must be a list of strings"),
    (lambda: carrier_targets("nodes", [], [BOS]), r"the input \(nodes\) must be a list of dicts"),
    (lambda: carrier_targets([], {"instances": []}, [BOS]), "instances must be a list of dicts"),
    (lambda: carrier_targets([], [], [1]), "zones must be a list of strings"),
    (lambda: carrier_targets([{"zone": BOS}], [], [BOS]), "every node needs zone, instance_id and node_name"),
    (lambda: probe_targets({}, [], 30007), r"the input \(targets\) must be a list of dicts"),
    (lambda: probe_targets([], ["m1"], 30007), "models must be a list of dicts"),
    (lambda: probe_targets([], [{"node_port": 1}], 30007), "every model needs a name"),
    (lambda: probe_targets([], [{"name": "m", "node_port": "http"}], 30007), "m's node_port must be a port number"),
    (lambda: probe_targets([], [{"name": "m", "node_port": 70000}], 30007), "m's node_port must be a port number"),
    (lambda: probe_targets([], [], default_node_port=None), "default_node_port must be a port number"),
    (lambda: probe_targets([], [], default_node_port=True), "default_node_port must be a port number"),
    (lambda: endpoint_probe_targets({}), r"endpoint_probe_targets: the input must be \[target, model\] pairs"),
    (lambda: endpoint_probe_targets([[{}]]), r"endpoint_probe_targets: the input must be \[target, model\] pairs"),
    (lambda: endpoint_probe_targets([[{"zone": BOS}, {"name": "m", "node_port": 1}]]), "a pair lacks carrier_ip"),
])
def test_endpoint_filters_wrong_input_types(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()


# --- serving_instances, zone_addresses (stable carrier addresses), endpoint_report, endpoint_table ------------------

def pod(model, node, ready=True, deleting=False):
    meta = {"name": f"{model}-{node}", "labels": {"app.kubernetes.io/name": model}}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-29T12:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_serving_instances_needs_a_ready_pod_of_every_model():
    pods = [pod("m1", "n-bos-a"), pod("m2", "n-bos-a"),  # n-bos-a serves both
            pod("m1", "n-bos-b"), pod("m2", "n-bos-b", ready=False),  # m2 not Ready
            pod("m1", "n-mia-1"), pod("m2", "n-mia-1", deleting=True),  # m2 terminating
            pod("m1", "n-old"), pod("m2", "n-old")]
    assert serving_instances(ZONE_NODES, pods, ["m1", "m2"], zones=[NYC, BOS, MIA]) == [
        {"zone": NYC, "instance_ids": []},
        {"zone": BOS, "instance_ids": ["i-0a", "i-0old"]},
        {"zone": MIA, "instance_ids": []}]
    assert serving_instances(ZONE_NODES, pods, ["m1"]) == [
        {"zone": BOS, "instance_ids": ["i-0a", "i-0b", "i-0old"]}, {"zone": MIA, "instance_ids": ["i-2a"]}]
    assert serving_instances([], [], ["m1"], zones=[BOS]) == [{"zone": BOS, "instance_ids": []}]


def test_zone_addresses_from_either_module():
    from_module = [{"zone": BOS, "carrier_ip": "155.1.9.9", "instance_id": "i-0a", "allocation_id": "eipalloc-1"},
                   {"zone": MIA, "carrier_ip": "", "instance_id": ""}]  # check mode before allocation: no address
    from_info = [{"carrier_ip": "155.1.9.8", "tags": {"edgeml:zone": NYC, "edgeml:deployment": "d"}},
                 {"carrier_ip": "155.1.9.7", "tags": {"edgeml:zone": "elsewhere"}}, {"public_ip": "3.3.3.3"}]
    stable = {"node_name": "", "stable": True}
    assert zone_addresses(from_module + from_info, [NYC, BOS, MIA]) == [
        {"zone": NYC, "carrier_ip": "155.1.9.8", "instance_id": "", **stable},
        {"zone": BOS, "carrier_ip": "155.1.9.9", "instance_id": "i-0a", **stable}]


def probe(target, model, ok=True, p50=3.0):
    checks = [{"text": "t", "expected_label": None, "predicted_label": "1", "ok": ok, "problem": "" if ok else "bad"}]
    return {"item": [target, {"name": model, "node_port": 30007}], "predictions_ok": ok, "predictions": checks,
            "latency_ms": {"p50": p50, "p99": p50 * 2, "count": 50}}


def test_endpoint_report_and_table():
    stable = zone_addresses([{"zone": BOS, "carrier_ip": "155.1.9.9"}], [BOS])[0]
    results = [probe(stable, "m1"), probe(TARGETS[0], "m1", ok=False, p50=4.0)]
    report = endpoint_report(results, "host phone (127.0.2.10)")
    common = {"zone": BOS, "model": "m1", "port": 30007, "probed_from": "host phone (127.0.2.10)", "requests": 50}
    assert report["zones"] == [{"address": "155.1.9.9", **common, "p50_ms": 3.0, "p99_ms": 6.0,
                                "checks_passed": True, "checks": results[0]["predictions"]}]
    assert report["endpoints"] == [{"node_name": "n-bos-a", "instance_id": "i-0a", "carrier_ip": "155.1.1.1",
                                    **common, "p50_ms": 4.0, "p99_ms": 8.0, "checks_passed": False,
                                    "checks": results[1]["predictions"]}]
    header, zone_row, node_row = endpoint_table(report)
    assert header.split() == ["zone", "kind", "address", "port", "model", "p50", "ms", "p99", "ms", "checks"]
    assert zone_row.split() == [BOS, "stable", "155.1.9.9", "30007", "m1", "3.0", "6.0", "ok"]
    assert node_row.split()[:7] == [BOS, "node", "155.1.1.1", "30007", "m1", "4.0", "8.0"]
    assert node_row.endswith("FAILED (got 1: bad)")


def test_endpoint_report_of_the_list_form_is_that_of_the_loop():
    """endpoint_probe's results (one run, the pair in data) give the report the looped task's results gave."""
    stable = zone_addresses([{"zone": BOS, "carrier_ip": "155.1.9.9"}], [BOS])[0]
    looped = [probe(stable, "m1"), probe(TARGETS[0], "m1", ok=False, p50=4.0)]
    listed = [{k: v for k, v in r.items() if k != "item"}
              | {"url": t["url"], "label": t["label"], "data": t["data"], "failed": False, "msg": "", "attempts": 1}
              for r, t in zip(looped, endpoint_probe_targets([r["item"] for r in looped]), strict=True)]
    assert "item" not in listed[0] and listed[1]["data"]["target"] == TARGETS[0]
    assert endpoint_report(listed, "controller") == endpoint_report(looped, "controller")


@pytest.mark.parametrize(("call", "message"), [
    (lambda: serving_instances({}, [], ["m"]), r"the input \(Ready nodes\) must be a list of dicts"),
    (lambda: serving_instances([], [], "m"), "models must be a list of strings"),
    (lambda: zone_addresses([], BOS), "zones must be a list of strings"),
    (lambda: endpoint_report([{"item": "x"}], "c"),
     r"each result needs item \[target, model\] \(or data \{target, model\}\) and latency_ms"),
    (lambda: endpoint_report([{"data": {"target": {}}, "latency_ms": {}}], "c"), r"or data \{target, model\}"),
    (lambda: endpoint_table([]), "the input must be the endpoint_report dict"),
])
def test_address_and_report_filters_wrong_input(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()


# --- export_models, stale_objects --------------------------------------------------------------------------------

def test_export_models():  # as the Jinja of playbooks/nodes.yml
    exports = {"m1": {"artifact_s3_uri": "s3://b/m1.tgz", "artifact_sha256": "aa", "model_id": "x"},
               "m0": {"artifact_s3_uri": "s3://b/m0.tgz", "artifact_sha256": "bb"}}
    assert export_models(exports) == [{"name": "m1", "artifact_s3_uri": "s3://b/m1.tgz", "artifact_sha256": "aa"},
                                      {"name": "m0", "artifact_s3_uri": "s3://b/m0.tgz", "artifact_sha256": "bb"}]
    assert export_models({}) == []


@pytest.mark.parametrize(("exports", "message"), [
    ([], "the input must be a dict of model name to export"),
    (None, "the input must be a dict of model name to export"),
    ({"m1": "s3://b/m1.tgz"}, "the export of m1 needs artifact_s3_uri and artifact_sha256"),
    ({"m1": {"artifact_s3_uri": "s3://b/m1.tgz"}}, "the export of m1 needs artifact_s3_uri and artifact_sha256"),
])
def test_export_models_wrong_input_types(exports, message):
    with pytest.raises(AnsibleFilterError, match=message):
        export_models(exports)


def k8s(kind, name, namespace=None):
    return {"kind": kind, "metadata": {"name": name, **({"namespace": namespace} if namespace else {})}}


def test_stale_objects():  # as the Jinja
    found = [k8s("Deployment", "m1-bos", "edge"), k8s("Deployment", "m2-bos", "edge"),
             k8s("Deployment", "m1-bos", "old"), k8s("Service", "m1", "edge"), k8s("ClusterRole", "r")]
    rendered = [k8s("Namespace", "edge"), k8s("Deployment", "m1-bos", "edge"), k8s("Service", "m1", "edge"),
                k8s("Service", "m2-bos", "edge"), k8s("ClusterRole", "r")]
    assert stale_objects(found, rendered) == [found[1], found[2]]
    assert stale_objects(found, []) == found
    assert stale_objects([], rendered) == []


@pytest.mark.parametrize(("found", "rendered", "message"), [
    ({"resources": []}, [], r"the input \(found objects\) must be a list of Kubernetes objects"),
    ([], "manifests", "rendered must be a list of Kubernetes objects"),
    ([{"kind": "Service"}], [], r"every object of the input \(found objects\) needs kind and metadata.name"),
    ([], [{"metadata": {"name": "x"}}], "every object of rendered needs kind and metadata.name"),
])
def test_stale_objects_wrong_input_types(found, rendered, message):
    with pytest.raises(AnsibleFilterError, match=message):
        stale_objects(found, rendered)


# --- group_differs -------------------------------------------------------------------------------------------

from ansible_collections.edgeml.wavelength.plugins.filter.group_differs import group_differs

GROUP = {"auto_scaling_group_name": "edgeml-bos", "min_size": 1, "max_size": 2, "desired_capacity": 1,
         "vpc_zone_identifier": "subnet-1", "launch_template": {"launch_template_name": "edgeml-bos",
                                                                "version": "$Default"},
         "tags": [{"key": "Name", "value": "edgeml-node-bos", "propagate_at_launch": True},
                  {"key": "edgeml:zone", "value": "bos", "propagate_at_launch": True}]}
WANTED = {"min_size": 1, "max_size": "2", "desired_capacity": 1, "subnet": "subnet-1", "launch_template": "edgeml-bos",
          "tags": {"Name": "edgeml-node-bos", "edgeml:zone": "bos"}}


def test_group_differs_same_group_is_unchanged():
    assert group_differs([GROUP], "edgeml-bos", WANTED) is False


@pytest.mark.parametrize("change", [
    {"desired_capacity": 2}, {"subnet": "subnet-2"}, {"launch_template": "other"},
    {"tags": {"Name": "edgeml-node-bos"}}, {"tags": {**WANTED["tags"], "team": "a"}}])
def test_group_differs_on_each_compared_setting(change):
    assert group_differs([GROUP], "edgeml-bos", {**WANTED, **change}) is True


def test_group_differs_missing_group_or_other_version():
    assert group_differs([], "edgeml-bos", WANTED) is True
    pinned = {**GROUP, "launch_template": {"launch_template_name": "edgeml-bos", "version": "3"}}
    assert group_differs([pinned], "edgeml-bos", WANTED) is True


@pytest.mark.parametrize(("groups", "wanted"), [("x", WANTED), ([1], WANTED), ([GROUP], {"min_size": 1})])
def test_group_differs_rejects_wrong_types(groups, wanted):
    with pytest.raises(AnsibleFilterError, match="group_differs"):
        group_differs(groups, "edgeml-bos", wanted)


def test_export_models_planned_exports_only_when_asked():
    from ansible_collections.edgeml.wavelength.plugins.filter.export_models import export_models

    planned = {"m": {"artifact_s3_uri": "s3://b/k", "artifact_sha256": None}}
    assert export_models(planned, planned=True) == [{"name": "m", "artifact_s3_uri": "s3://b/k",
                                                     "artifact_sha256": "0" * 64}]
    with pytest.raises(AnsibleFilterError, match="artifact_sha256"):
        export_models(planned)


def test_working_dir_lookup_is_the_process_directory(tmp_path, monkeypatch):
    from ansible_collections.edgeml.wavelength.plugins.lookup.working_dir import LookupModule

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", "/somewhere/stale")
    assert LookupModule().run([]) == [str(tmp_path)]


def test_busy_instances():
    nodes = [{"metadata": {"name": n}, "spec": {"providerID": f"aws:///{BOS}/i-{n}"}} for n in ("a", "b", "c")]

    def pod(node, ready="True", deleting=False):
        return {"metadata": {"name": "p", **({"deletionTimestamp": "2026-12-03T10:00:00Z"} if deleting else {})},
                "spec": {"nodeName": node}, "status": {"conditions": [{"type": "Ready", "status": ready}]}}

    pods = [pod("a"), pod("a"), pod("b", deleting=True), pod("c", ready="False"), pod("gone"), {"metadata": {}}]
    assert busy_instances(pods, nodes) == ["i-a"]
    with pytest.raises(AnsibleFilterError, match="nodes must be a list"):
        busy_instances([], {})


def test_roll_zones():
    def tpl(zone, default=2, **kw):
        return {"item": zone, "default_version": default, **kw}

    def grp(zone, *versions):
        return {"auto_scaling_group_name": f"{PREFIX}-{zone}",
                "instances": [{"instance_id": f"i-{n}", "launch_template": {"version": v}}
                              for n, v in enumerate(versions)]}

    groups = [grp(BOS, "2"), grp(NYC, "1", "2"), grp(MIA)]
    templates = [tpl(BOS), tpl(NYC), tpl(MIA), tpl("new"), {"item": "skipped", "skipped": True}]
    assert roll_zones(templates, groups, PREFIX, 1) == [NYC, MIA, "new"]  # other version, short, new group
    assert roll_zones(templates, groups, PREFIX, 1, check_mode=True) == [NYC, MIA]
    assert roll_zones([tpl(BOS)], groups, PREFIX, 2) == [BOS]  # scale up
    assert roll_zones([tpl(BOS, default=3)], groups, PREFIX, 1) == [BOS]  # a new template version
    with pytest.raises(AnsibleFilterError, match="nodes_per_zone an integer"):
        roll_zones([], [], PREFIX, True)


# --- jumpstart_models ------------------------------------------------------------------------------------------------

def test_jumpstart_models_keeps_the_jumpstart_keys_each_model_sets():
    from ansible_collections.edgeml.wavelength.plugins.filter.jumpstart_models import jumpstart_models
    models = [{"name": "sentiment", "model_id": "m1", "node_port": 30007, "samples": [{"text": "x"}]},
              {"name": "gated", "model_id": "m2", "model_version": "2.*", "accept_eula": True,
               "inference_config": None}]
    assert jumpstart_models(models) == [{"model_id": "m1"}, {"model_id": "m2", "model_version": "2.*",
                                                              "accept_eula": True}]
    with pytest.raises(AnsibleFilterError, match="list of models with a model_id"):
        jumpstart_models([{"name": "no-id"}])
