"""edgeml.wavelength.zone_records: Route 53 A records of a deployment, owned through TXT records.

Runs against the in-process AWS endpoint (plain moto is enough: Route 53 needs nothing of the lab extension). Each
test uses its own hosted zone, so that the lab's seeded zone and other tests are never involved.
"""

import pytest

BOS, NYC = "us-east-1-wl1-bos-wlz-1", "us-east-1-wl1-nyc-wlz-1"


@pytest.fixture
def zone(client, uid):
    """A fresh public hosted zone; every record in it is deleted afterwards, then the zone."""
    route53 = client("route53")
    name = f"zr{uid}.example.com"
    zone_id = route53.create_hosted_zone(Name=name, CallerReference=uid)["HostedZone"]["Id"]
    yield {"route53": route53, "name": name, "id": zone_id, "owner": f"zr{uid}"}
    left = [s for s in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
            if s["Type"] not in ("SOA", "NS")]
    if left:
        route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
            {"Action": "DELETE", "ResourceRecordSet": s} for s in left]})
    route53.delete_hosted_zone(Id=zone_id)


def fq(zone, label):
    return f"{label}.{zone['name']}."


def records(zone):
    """{(name, type): [values]} of the zone, without its SOA and NS records."""
    found = zone["route53"].list_resource_record_sets(HostedZoneId=zone["id"])["ResourceRecordSets"]
    return {(s["Name"], s["Type"]): [r["Value"] for r in s["ResourceRecords"]] for s in found
            if s["Type"] not in ("SOA", "NS")}


def put(zone, name, kind, *values, ttl=300):
    zone["route53"].change_resource_record_sets(HostedZoneId=zone["id"], ChangeBatch={"Changes": [{
        "Action": "UPSERT", "ResourceRecordSet": {"Name": name, "Type": kind, "TTL": ttl,
                                                  "ResourceRecords": [{"Value": v} for v in values]}}]})


def wanted(zone, addresses):
    return [{"name": f"sentiment.{z}.{zone['name']}", "value": ip} for z, ip in addresses.items()]


def test_create_noop_move_prune_absent(zone, run):
    owner, bos, nyc = zone["owner"], fq(zone, f"sentiment.{BOS}"), fq(zone, f"sentiment.{NYC}")
    mark = f'"edgeml:deployment={owner}"'
    args = {"hosted_zone": zone["name"], "name": owner}
    two = wanted(zone, {BOS: "155.146.10.7", NYC: "155.146.20.9"})

    planned = run("zone_records", check=True, diff=True, records=two, **args)
    assert planned["changed"] and records(zone) == {}  # check mode writes nothing
    assert planned["diff"] == {"before": {bos: None, nyc: None}, "after": {bos: "155.146.10.7", nyc: "155.146.20.9"}}

    first = run("zone_records", records=two, **args)
    assert first["changed"] and first["removed"] == [] and first["hosted_zone_id"] == zone["id"].split("/")[-1]
    assert [(r["name"], r["value"], r["ttl"], r["changed"]) for r in first["records"]] == [
        (bos, "155.146.10.7", 60, True), (nyc, "155.146.20.9", 60, True)]
    assert records(zone) == {(bos, "A"): ["155.146.10.7"], (bos, "TXT"): [mark],
                             (nyc, "A"): ["155.146.20.9"], (nyc, "TXT"): [mark]}

    # Second run, and the same in check mode: nothing to do.
    for check in (True, False):
        again = run("zone_records", check=check, records=two, **args)
        assert not again["changed"] and not any(r["changed"] for r in again["records"])

    # The zone's address changed (e.g. re-allocated): the A record follows, in check mode only reported.
    moved = wanted(zone, {BOS: "155.146.10.8", NYC: "155.146.20.9"})
    assert run("zone_records", check=True, records=moved, **args)["changed"]
    assert records(zone)[(bos, "A")] == ["155.146.10.7"]
    result = run("zone_records", diff=True, records=moved, **args)
    assert result["changed"] and [r["changed"] for r in result["records"]] == [True, False]
    assert result["diff"]["before"][bos] == "155.146.10.7" and result["diff"]["after"][bos] == "155.146.10.8"
    assert records(zone)[(bos, "A")] == ["155.146.10.8"]

    # A new TTL is a change too.
    assert run("zone_records", records=moved, ttl=30, **args)["changed"]
    ttls = {s["Type"]: s["TTL"] for s in zone["route53"].list_resource_record_sets(
        HostedZoneId=zone["id"], StartRecordName=bos, MaxItems="2")["ResourceRecordSets"] if s["Name"] == bos}
    assert ttls == {"A": 30, "TXT": 60}

    # nyc removed from the list: its A and TXT records go (prune), in check mode only reported.
    only_bos = wanted(zone, {BOS: "155.146.10.8"})
    assert run("zone_records", check=True, records=only_bos, ttl=30, **args)["removed"] == [nyc]
    assert (nyc, "A") in records(zone)
    pruned = run("zone_records", diff=True, records=only_bos, ttl=30, **args)
    assert pruned["changed"] and pruned["removed"] == [nyc] and pruned["diff"]["before"][nyc] == "155.146.20.9"
    assert set(records(zone)) == {(bos, "A"), (bos, "TXT")}
    # prune=false keeps records that are no longer listed.
    kept = run("zone_records", records=[], prune=False, **args)
    assert not kept["changed"] and set(records(zone)) == {(bos, "A"), (bos, "TXT")}

    assert run("zone_records", check=True, state="absent", **args)["removed"] == [bos]
    assert set(records(zone)) == {(bos, "A"), (bos, "TXT")}
    gone = run("zone_records", state="absent", **args)
    assert gone["changed"] and gone["removed"] == [bos] and records(zone) == {}
    assert not run("zone_records", state="absent", **args)["changed"]


def test_foreign_records_are_refused_and_never_touched(zone, run):
    owner, bos, nyc, mia = (zone["owner"], fq(zone, f"sentiment.{BOS}"), fq(zone, f"sentiment.{NYC}"),
                            fq(zone, "sentiment.mia"))
    put(zone, bos, "A", "198.51.100.1")  # someone's record, no ownership TXT
    put(zone, nyc, "A", "198.51.100.2")  # another deployment's record
    put(zone, nyc, "TXT", '"edgeml:deployment=other"')
    put(zone, mia, "CNAME", "elsewhere.example.org")
    before = records(zone)
    args = {"hosted_zone": zone["name"], "name": owner}

    for name, why in ((bos, "A not created by an edgeml deployment: no ownership TXT record"),
                      (nyc, "A owned by deployment other"), (mia, "CNAME not created by an edgeml deployment")):
        result = run("zone_records", records=[{"name": fq(zone, "free"), "value": "155.146.10.7"},
                                              {"name": name, "value": "155.146.10.7"}], **args)
        assert result["failed"] and f"refusing to overwrite {name} ({why}" in result["msg"], result["msg"]
        assert "edge_dns_zone" in result["msg"]
        assert records(zone) == before  # nothing of the batch was written, not even the free name

    # Neither prune nor absent touch records the deployment does not own.
    assert not run("zone_records", records=[], **args)["changed"]
    assert not run("zone_records", state="absent", **args)["changed"]
    assert records(zone) == before


def test_absent_removes_only_what_the_deployment_owns(zone, run):
    owner, ours, theirs = zone["owner"], fq(zone, "ours"), fq(zone, "theirs")
    # A TXT record of someone else at our name (e.g. a domain verification) stays, as does its value.
    put(zone, ours, "TXT", '"google-site-verification=abc"')
    args = {"hosted_zone": zone["name"]}
    assert run("zone_records", name=owner, records=[{"name": ours, "value": "155.146.10.7"}], **args)["changed"]
    assert records(zone)[(ours, "TXT")] == ['"google-site-verification=abc"', f'"edgeml:deployment={owner}"']
    assert run("zone_records", name="other", records=[{"name": theirs, "value": "155.146.10.9"}], **args)["changed"]
    put(zone, fq(zone, "manual"), "A", "198.51.100.3")

    gone = run("zone_records", name=owner, state="absent", **args)
    assert gone["changed"] and gone["removed"] == [ours]
    assert records(zone) == {(ours, "TXT"): ['"google-site-verification=abc"'],
                             (theirs, "A"): ["155.146.10.9"], (theirs, "TXT"): ['"edgeml:deployment=other"'],
                             (fq(zone, "manual"), "A"): ["198.51.100.3"]}
    assert run("zone_records", name="other", state="absent", **args)["removed"] == [theirs]


def test_missing_or_ambiguous_hosted_zone(zone, run, client, uid):
    args = {"name": zone["owner"], "records": [{"name": f"a.nope{uid}.example.com", "value": "155.146.10.7"}]}
    result = run("zone_records", hosted_zone=f"nope{uid}.example.com", **args)
    assert result["failed"]
    assert f"no Route 53 hosted zone named nope{uid}.example.com. in this account (edge_dns_zone)" in result["msg"]
    assert "never creates hosted zones" in result["msg"]
    # Teardown is not blocked by a zone that is gone: nothing to remove.
    gone = run("zone_records", hosted_zone=f"nope{uid}.example.com", name=zone["owner"], state="absent")
    assert not gone["changed"] and gone["removed"] == [] and gone["hosted_zone_id"] == ""
    assert run("zone_records", hosted_zone=zone["name"], private_zone=True, name=zone["owner"],
               records=[])["msg"].startswith(f"hosted_zone: no private Route 53 hosted zone named {zone['name']}.")

    # A private zone of the same name (split horizon): the module asks which one.
    vpc = client("ec2").create_vpc(CidrBlock="10.62.0.0/16")["Vpc"]["VpcId"]
    private = zone["route53"].create_hosted_zone(Name=zone["name"], CallerReference=f"{uid}-private",
                                                 HostedZoneConfig={"PrivateZone": True},
                                                 VPC={"VPCRegion": "us-east-1", "VPCId": vpc})["HostedZone"]["Id"]
    try:
        mine = [{"name": fq(zone, "a"), "value": "155.146.10.7"}]
        result = run("zone_records", hosted_zone=zone["name"], name=zone["owner"], records=mine)
        assert result["failed"] and "2 hosted zones (private, public)" in result["msg"]
        assert "set private_zone" in result["msg"]
        public = run("zone_records", hosted_zone=zone["name"], private_zone=False, name=zone["owner"], records=mine)
        assert public["changed"] and public["hosted_zone_id"] == zone["id"].split("/")[-1]
        assert (fq(zone, "a"), "A") in records(zone)
    finally:
        zone["route53"].delete_hosted_zone(Id=private)
        client("ec2").delete_vpc(VpcId=vpc)


def test_wrong_records_fail_before_anything_is_written(zone, run):
    args = {"hosted_zone": zone["name"], "name": zone["owner"]}
    result = run("zone_records", records=[{"name": "a.elsewhere.org", "value": "155.146.10.7"},
                                          {"name": fq(zone, "b"), "value": "fe80::1"},
                                          {"name": fq(zone, "c"), "value": ""},
                                          {"name": fq(zone, "d"), "value": "155.146.10.7"},
                                          {"name": fq(zone, "D").upper(), "value": "155.146.10.8"}], **args)
    assert result["failed"] and records(zone) == {}
    assert "a.elsewhere.org. is not in the hosted zone" in result["msg"]
    assert "value 'fe80::1' is not an IPv4 address" in result["msg"] and "value '' is not" in result["msg"]
    assert f"{fq(zone, 'd')} is listed more than once" in result["msg"]
    # Check mode plans a record whose address is not allocated yet (empty value) as a change.
    planned = run("zone_records", check=True, records=[{"name": fq(zone, "c"), "value": ""}], **args)
    assert planned["changed"] and records(zone) == {}
    assert run("zone_records", name="bad name", hosted_zone=zone["name"])["failed"]
