# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)
"""Helpers shared by the edgeml.wavelength AWS modules (zone discovery, waiting, tags)."""

import time


def describe_all_zones(client):
    """All zones of the region, opted in or not (AllAvailabilityZones=true also lists Wavelength/Local zones
    whose group is not opted in; without it they are invisible)."""
    zones = client.describe_availability_zones(AllAvailabilityZones=True, aws_retry=True)["AvailabilityZones"]
    return [zone_to_dict(z) for z in zones]


def zone_to_dict(zone):
    """Flatten the EC2 AvailabilityZone shape to the snake_case keys the modules return."""
    return {
        "zone_name": zone.get("ZoneName"),
        "zone_id": zone.get("ZoneId"),
        "zone_type": zone.get("ZoneType"),
        "group_name": zone.get("GroupName"),
        "network_border_group": zone.get("NetworkBorderGroup"),
        "opt_in_status": zone.get("OptInStatus"),
        "parent_zone_name": zone.get("ParentZoneName"),
        "parent_zone_id": zone.get("ParentZoneId"),
        "region_name": zone.get("RegionName"),
        "state": zone.get("State"),
    }


def wait_until(predicate, timeout, delay=5, module=None, msg="timed out"):
    """Call predicate() until it returns a truthy value; fail the module (or raise) after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            if module is not None:
                module.fail_json(msg=msg)
            raise TimeoutError(msg)
        time.sleep(delay)


# States of a carrier gateway that EC2 still lists while (or after) deleting it.
CARRIER_GATEWAY_GONE = ("deleting", "deleted")


def split_carrier_gateways(gateways):
    """(live, gone): gone are the ones EC2 still lists while (or after) deleting them, as {id, state}."""
    live = [g for g in gateways if g.get("State") not in CARRIER_GATEWAY_GONE]
    gone = [{"id": g["CarrierGatewayId"], "state": g.get("State")} for g in gateways
            if g.get("State") in CARRIER_GATEWAY_GONE]
    return live, gone


def tag_changes(current, desired, purge):
    """(tags to set, keys to remove) that take a resource from its current tags to the desired ones; with purge,
    keys not desired are removed, except AWS's own (aws:...), which nobody may remove."""
    to_set = {k: v for k, v in desired.items() if current.get(k) != v}
    to_remove = [k for k in current if k not in desired and not k.startswith("aws:")] if purge else []
    return to_set, to_remove
