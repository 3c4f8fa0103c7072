# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: zone_addresses
author: edgeml team
version_added: 0.1.0
short_description: The zones' stable carrier addresses as probe targets
description:
  - Input is either the C(addresses) of C(edgeml.wavelength.carrier_address) (each with C(zone)) or the
    C(addresses) of C(amazon.aws.ec2_eip_info) (each with the C(edgeml:zone) tag). Keeps the addresses of O(zones)
    that have a carrier IP, one per zone, in the order of O(zones), as targets of
    P(edgeml.wavelength.probe_targets#filter) marked C(stable).
positional: _input, zones
options:
  _input:
    description: Addresses, in either form.
    type: list
    elements: dict
    required: true
  zones:
    description: Zones to keep.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
# => [{"zone": "us-east-1-wl1-bos-wlz-1", "carrier_ip": "155.146.1.10", "instance_id": "i-0abc",
#      "node_name": "", "stable": true}]
targets: "{{ eips.addresses | edgeml.wavelength.zone_addresses(edge_zones) }}"
"""

RETURN = r"""
_value:
  description: One target per zone that has an address.
  type: list
  elements: dict
  contains:
    zone: {description: Zone name., type: str}
    carrier_ip: {description: The stable address., type: str}
    instance_id: {description: Instance holding it (may be empty)., type: str}
    node_name: {description: Always empty (the address is the zone's, not a node's)., type: str}
    stable: {description: Always true., type: bool}
"""

from collections.abc import Mapping

from ansible_collections.edgeml.wavelength.plugins.plugin_utils.checks import list_of

ZONE_TAG = "edgeml:zone"


def zone_addresses(addresses, zones):
    list_of(addresses, Mapping, "zone_addresses", "the input (addresses)")
    list_of(zones, str, "zone_addresses", "zones")
    by_zone = {}
    for address in addresses:
        tags = address.get("tags") if isinstance(address.get("tags"), Mapping) else {}
        zone = address.get("zone") or tags.get(ZONE_TAG)
        if zone in zones and address.get("carrier_ip") and zone not in by_zone:
            by_zone[zone] = {"zone": zone, "carrier_ip": address["carrier_ip"],
                             "instance_id": address.get("instance_id") or "", "node_name": "", "stable": True}
    return [by_zone[zone] for zone in zones if zone in by_zone]


class FilterModule:
    """Stable addresses of the zones."""

    def filters(self):
        return {"zone_addresses": zone_addresses}
