#!/usr/bin/python
# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
module: zone_records
version_added: 0.1.0
short_description: DNS names (Route 53 A records) of a deployment in a hosted zone the user owns
description:
  - Ensures one A record per entry of O(records) in the existing hosted zone O(hosted_zone), each marked as the
    deployment's with a TXT record of the same name whose value is C("edgeml:deployment=<name>") (Route 53 records
    carry no tags; this is the ownership pattern of external-dns).
  - All changes of a run go to Route 53 in one C(ChangeResourceRecordSets) batch (C(UPSERT) for what is created or
    updated, C(DELETE) with the current values for what is removed). A record that is already right is not
    touched.
  - A name is taken only when nothing else holds it. An existing A record (or CNAME, alias, weighted or other routing
    record) of that name that another deployment owns, or that no deployment owns, is never overwritten - the module
    fails naming it. Other record types at the name (a TXT of someone else, MX, ...) stay; the ownership value is
    added to an existing TXT record.
  - With O(prune), the deployment's records whose names are not in O(records) are deleted (the A record and the
    ownership value of the TXT record; other values of that TXT record stay).
  - O(state=absent) deletes every record of the deployment in the hosted zone.
  - The hosted zone is looked up by name (C(ListHostedZonesByName)); it is never created - the domain is the user's.
author:
  - edgeml team
options:
  hosted_zone:
    description: Name of the existing Route 53 hosted zone (with or without the trailing dot), e.g. C(edge.example.com).
    type: str
    required: true
  private_zone:
    description:
      - Use only a private (true) or only a public (false) hosted zone of that name.
      - Unset, the zone of that name is used whichever it is; when both exist, the module fails and asks for this
        option.
    type: bool
  name:
    description: Deployment name, the owner written into the ownership TXT records (C(edgeml:deployment=<name>)).
    type: str
    required: true
  records:
    description:
      - The A records of the deployment (state present).
      - A O(records[].value) that is empty is allowed in check mode only (an address not allocated yet); it is
        reported as a change.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Fully qualified record name inside O(hosted_zone) (trailing dot optional, case ignored).
        type: str
        required: true
      value:
        description: IPv4 address the name resolves to.
        type: str
        required: true
  ttl:
    description: TTL in seconds of the A and the ownership TXT records.
    type: int
    default: 60
  state:
    description: Whether the records exist.
    type: str
    choices: [present, absent]
    default: present
  prune:
    description: Delete the deployment's records whose names are not in O(records) (state present).
    type: bool
    default: true
notes:
  - Records are deleted only when their TXT record names the deployment; records of anyone else are never touched.
  - O(state=absent) with a hosted zone that does not exist (any more) changes nothing, so a teardown is not blocked.
  - The module does not wait for the change to be C(INSYNC) on Route 53's name servers (usually within 60 seconds).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: A DNS name per zone and model for the zone's stable address
  edgeml.wavelength.zone_records:
    hosted_zone: edge.example.com
    private_zone: false
    name: edgeml
    records:
      - name: sentiment.us-east-1-wl1-bos-wlz-1.edge.example.com
        value: 155.146.10.7
  register: dns

- name: Remove every record of the deployment
  edgeml.wavelength.zone_records:
    hosted_zone: edge.example.com
    name: edgeml
    state: absent
"""

RETURN = r"""
hosted_zone_id:
  description: Id of the hosted zone (empty when O(state=absent) found no such zone).
  returned: always
  type: str
  sample: Z0123456789ABCDEFGHIJ
records:
  description: One entry per entry of O(records) (state present), after the run.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Fully qualified name with the trailing dot., type: str, sample: sentiment.us-east-1-wl1-bos-wlz-1.edge.example.com.}
    value: {description: The address it resolves to., type: str, sample: 155.146.10.7}
    ttl: {description: TTL in seconds., type: int, sample: 60}
    changed: {description: Whether this record was created or updated., type: bool}
removed:
  description: Names whose records of the deployment were deleted (pruned, or all with O(state=absent)).
  returned: always
  type: list
  elements: str
"""

import ipaddress
import re

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import paginated_query_with_retries
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

OWNER = "edgeml:deployment="
# Route 53 answers PriorRequestNotComplete while an earlier change of the zone is still being applied.
RETRY = AWSRetry.jittered_backoff(catch_extra_error_codes=["PriorRequestNotComplete"])


def fqdn(name):
    return name.strip().rstrip(".").lower() + "."


def txt_values(record_set):
    return [r["Value"] for r in record_set.get("ResourceRecords") or []]


def owner_of(value):
    """The deployment an ownership TXT value names (quoted or not), else None."""
    text = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    return text[len(OWNER):] if text.startswith(OWNER) else None


def owners(txt):
    """Deployments named by the ownership values of a TXT record set."""
    return [o for o in map(owner_of, txt_values(txt) if txt else []) if o is not None]


def simple(record_set):
    return not any(k in record_set for k in ("SetIdentifier", "AliasTarget", "TrafficPolicyInstanceId"))


class Zone:
    """The hosted zone's record sets by name, and the one batch of changes (not sent in check mode)."""

    def __init__(self, module):
        self.module = module
        self.client = module.client("route53", retry_decorator=RETRY)
        self.owner = module.params["name"]
        self.mark = f'"{OWNER}{self.owner}"'
        self.id = ""
        self.names = {}
        self.changes = []

    def fail(self, e, what):
        self.module.fail_json_aws(e, msg=f"Failed to {what}")

    def find(self):
        """The hosted zone id, or '' when there is none of that name (and privacy)."""
        name, private = fqdn(self.module.params["hosted_zone"]), self.module.params["private_zone"]
        try:
            # Zones are listed in name order from DNSName on: those of exactly that name come first.
            found = self.client.list_hosted_zones_by_name(aws_retry=True, DNSName=name, MaxItems="100")["HostedZones"]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, f"look up the hosted zone {name}")
        zones = [z for z in found if z["Name"].lower() == name
                 and (private is None or z.get("Config", {}).get("PrivateZone", False) == private)]
        if len(zones) > 1:
            kinds = sorted({"private" if z.get("Config", {}).get("PrivateZone") else "public" for z in zones})
            hint = ("set private_zone" if len(kinds) > 1 and private is None
                    else "keep one zone of that name")
            self.module.fail_json(msg=f"hosted_zone: {len(zones)} hosted zones ({', '.join(kinds)}) are named {name}; "
                                      f"{hint} (edge_dns_zone)", hosted_zone_ids=[z["Id"] for z in zones])
        self.id = zones[0]["Id"].split("/")[-1] if zones else ""
        return self.id

    def load(self):
        try:
            sets = paginated_query_with_retries(self.client, "list_resource_record_sets", retry_decorator=RETRY,
                                                HostedZoneId=self.id)["ResourceRecordSets"]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, f"list the records of hosted zone {self.id}")
        for record_set in sets:
            self.names.setdefault(fqdn(record_set["Name"]), []).append(record_set)

    def at(self, name):
        """(simple A record set or None, TXT record set or None, conflicting record sets) at a name."""
        sets = self.names.get(name, [])
        a = next((s for s in sets if s["Type"] == "A" and simple(s)), None)
        txt = next((s for s in sets if s["Type"] == "TXT" and simple(s)), None)
        conflicts = [s for s in sets if s["Type"] == "CNAME" or (s["Type"] in ("A", "TXT") and not simple(s))]
        return a, txt, conflicts

    def mine(self):
        """Names whose TXT record names the deployment."""
        return sorted(name for name in self.names if self.owner in owners(self.at(name)[1]))

    def add(self, action, record_set):
        self.changes.append({"Action": action, "ResourceRecordSet": record_set})

    def remove(self, name):
        """Delete the deployment's A record at a name and its ownership value (other TXT values stay)."""
        a, txt, _ = self.at(name)
        if a:
            self.add("DELETE", a)
        rest = [v for v in txt_values(txt) if owner_of(v) != self.owner]
        if rest:
            self.add("UPSERT", {**txt, "ResourceRecords": [{"Value": v} for v in rest]})
        else:
            self.add("DELETE", txt)
        return ", ".join(r["Value"] for r in a.get("ResourceRecords") or []) or None if a else None

    def commit(self):
        if not self.changes or self.module.check_mode:
            return
        try:
            self.client.change_resource_record_sets(
                aws_retry=True, HostedZoneId=self.id,
                ChangeBatch={"Comment": f"edgeml deployment {self.owner}", "Changes": self.changes})
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.fail(e, f"change the records of {self.owner} in hosted zone {self.id}")


def wanted_records(module, zone_name):
    """[(fqdn, value)] of O(records), failing on names outside the zone, duplicates and non-IPv4 values."""
    wanted, errors = [], []
    for entry in module.params["records"]:
        name, value = fqdn(entry["name"]), entry["value"].strip()
        if name != zone_name and not name.endswith("." + zone_name):
            errors.append(f"{name} is not in the hosted zone {zone_name}")
        if value or not module.check_mode:
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                errors.append(f"{name}: value {value!r} is not an IPv4 address")
        wanted.append((name, value))
    names = [n for n, _ in wanted]
    errors += [f"{n} is listed more than once" for n in sorted({n for n in names if names.count(n) > 1})]
    if errors:
        module.fail_json(msg=f"records: {'; '.join(errors)}")
    return wanted


def refusal(zone, name, a, txt, conflicts):
    """Why a name cannot be (or stay) the deployment's, or None."""
    others = [o for o in owners(txt) if o != zone.owner]
    held = sorted({s["Type"] for s in ([a] if a else []) + conflicts})
    if zone.owner not in owners(txt):
        if others:
            return f"{name} ({'/'.join(held) or 'TXT'} owned by deployment {', '.join(others)})"
        if held:
            return f"{name} ({'/'.join(held)} not created by an edgeml deployment: no ownership TXT record)"
    elif conflicts:
        return f"{name} (has {'/'.join(sorted({s['Type'] for s in conflicts}))} records besides a simple A record)"
    return None


def ensure(module, zone, wanted):
    ttl, results, before, after = module.params["ttl"], [], {}, {}
    mine = set(zone.mine())
    refused = [why for why in (refusal(zone, name, *zone.at(name)) for name, _ in wanted) if why]
    if refused:
        module.fail_json(msg=f"records: refusing to overwrite {'; '.join(refused)} in hosted zone "
                             f"{fqdn(module.params['hosted_zone'])}: delete or rename those records, or use another "
                             "hosted zone (edge_dns_zone)", refused=refused)
    for name, value in wanted:
        a, txt, _ = zone.at(name)
        current = [r["Value"] for r in a["ResourceRecords"]] if a else []
        before[name] = ", ".join(current) or None
        changed = current != [value] or a.get("TTL") != ttl
        if changed and value:  # an empty value (check mode: address not allocated yet) is only reported
            zone.add("UPSERT", {"Name": name, "Type": "A", "TTL": ttl, "ResourceRecords": [{"Value": value}]})
        if name not in mine:  # claim the name: the ownership value, next to any other TXT values
            zone.add("UPSERT", {"Name": name, "Type": "TXT", "TTL": txt["TTL"] if txt else ttl,
                                "ResourceRecords": [{"Value": v} for v in [*txt_values(txt or {}), zone.mark]]})
            changed = True
        after[name] = value
        results.append({"name": name, "value": value, "ttl": ttl, "changed": changed})
    removed = sorted(mine - {n for n, _ in wanted}) if module.params["prune"] else []
    for name in removed:
        before[name] = zone.remove(name)
    return results, removed, before, after


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            hosted_zone=dict(type="str", required=True),
            private_zone=dict(type="bool"),
            name=dict(type="str", required=True),
            records=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                value=dict(type="str", required=True))),
            ttl=dict(type="int", default=60),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            prune=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]*$", module.params["name"]):
        module.fail_json(msg=f"name: {module.params['name']!r} is not a deployment name (letters, digits, . _ : @ + -)")
    if not 0 <= module.params["ttl"] <= 2147483647:
        module.fail_json(msg=f"ttl: {module.params['ttl']} is not a TTL in seconds (0-2147483647)")
    zone_name = fqdn(module.params["hosted_zone"])
    zone = Zone(module)
    present = module.params["state"] == "present"
    wanted = wanted_records(module, zone_name) if present else []
    if not zone.find():
        if present:
            private = {None: "", True: "private ", False: "public "}[module.params["private_zone"]]
            module.fail_json(msg=f"hosted_zone: no {private}Route 53 hosted zone named {zone_name} in this account "
                                 "(edge_dns_zone). The product never creates hosted zones: create it for your domain "
                                 "(and delegate to it from the parent domain), or leave edge_dns_zone empty for no "
                                 "DNS names.")
        module.exit_json(changed=False, hosted_zone_id="", records=[], removed=[])
    zone.load()
    if present:
        results, removed, before, after = ensure(module, zone, wanted)
    else:
        results, removed, before, after = [], zone.mine(), {}, {}
        for name in removed:
            before[name] = zone.remove(name)
    zone.commit()
    result = {"changed": bool(zone.changes) or any(r["changed"] for r in results), "hosted_zone_id": zone.id,
              "records": results, "removed": removed}
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
