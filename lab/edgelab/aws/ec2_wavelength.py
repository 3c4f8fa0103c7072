"""EC2 as AWS behaves with Wavelength: zones and their opt-in, subnets, instance offerings, carrier IPs.

Patches moto's EC2 models/responses in place (install() is idempotent).
"""

import copy

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend, Zone
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS, InstanceTypeOfferingBackend
from moto.ec2.models.instances import Instance, InstanceBackend
from moto.ec2.models.subnets import SubnetBackend
from moto.ec2.responses import EC2Response
from moto.ec2.utils import convert_tag_spec

from edgelab import config

from .state import LAB, now

WL_TYPES = ["t3.medium", "t3.xlarge", "r5.2xlarge", "g4dn.2xlarge"]
# (region, city, parent zone suffix, offered types): a few real Verizon zones; mia/las offer no GPU.
WL_ZONES = [
    ("us-east-1", "bos", "a", WL_TYPES),
    ("us-east-1", "nyc", "b", WL_TYPES),
    ("us-east-1", "mia", "c", WL_TYPES[:3]),
    ("us-west-2", "sfo", "a", WL_TYPES),
    ("us-west-2", "las", "b", WL_TYPES[:3]),
]
_SHORT = {"us-east-1": "use1", "us-west-2": "usw2"}
_LONG = {"us-east-1": "US East (Verizon)", "us-west-2": "US West (Verizon)"}


class WavelengthZone(Zone):
    def __init__(self, region: str, city: str, parent: Zone, types: list[str]):
        super().__init__(f"{region}-wl1-{city}-wlz-1", region, f"{_SHORT[region]}-wl1-{city}-wlz1",
                         zone_type="wavelength-zone")
        self.zone_name = self.name  # moto serializes ZoneName from Zone.name by class name only
        self.group_long_name = _LONG[region]
        self.network_border_group = self.name
        self.parent_zone_name, self.parent_zone_id = parent.name, parent.zone_id
        self.instance_types = types

    @property
    def group_name(self) -> str:
        """AWS's API reference shows both layouts: one group per region's carrier (us-east-1-wl1) and one group per
        zone (us-east-1-wl1-bos-wlz-1). The lab setting zone_groups picks one; the product must read it."""
        return self.name if LAB.zone_groups == "per-zone" else f"{self.region_name}-wl1"

    @property
    def opt_in_status(self) -> str:
        return group_status(self.region_name, self.group_name)


def group_status(region: str, group: str) -> str:
    with LAB.lock:
        status, deadline = LAB.optin.get((region, group), ("not-opted-in", 0))
        if status == "opting-in" and now() >= deadline:
            status = "opted-in"
            LAB.optin[(region, group)] = (status, 0)
    return status


def wavelength_zone(name: str | None) -> WavelengthZone | None:
    for zones in RegionsAndZonesBackend.zones.values():
        for zone in zones:
            if isinstance(zone, WavelengthZone) and name in (zone.name, zone.zone_id):
                return zone
    return None


def _install_zones() -> None:
    for zones in RegionsAndZonesBackend.zones.values():
        for zone in zones:
            if not isinstance(zone, WavelengthZone):  # regional zones report what AWS reports for them
                zone.group_name = zone.network_border_group = zone.region_name
                zone.opt_in_status = "opt-in-not-required"
    for region, city, suffix, types in WL_ZONES:
        zones = RegionsAndZonesBackend.zones[region]
        if any(z.name == f"{region}-wl1-{city}-wlz-1" for z in zones):
            continue
        parent = next(z for z in zones if z.name == region + suffix)
        zone = WavelengthZone(region, city, parent, types)
        zones.append(zone)
        for loc_type, loc in (("availability-zone", zone.name), ("availability-zone-id", zone.zone_id)):
            INSTANCE_TYPE_OFFERINGS[loc_type][region].extend(
                {"InstanceType": t, "Location": loc, "LocationType": loc_type} for t in types)


_FILTER_ATTRS = {
    "zone-name": "name", "zone-id": "zone_id", "zone-type": "zone_type", "region-name": "region_name",
    "state": "state", "group-name": "group_name", "opt-in-status": "opt_in_status",
    "network-border-group": "network_border_group", "parent-zone-name": "parent_zone_name",
    "parent-zone-id": "parent_zone_id",
}


def describe_availability_zones(self) -> ActionResult:
    """DescribeAvailabilityZones with AWS's visibility rule: zones of a group that is not opted in are only
    listed with AllAvailabilityZones=true or when asked for by name/id."""
    self.error_on_dryrun()
    filters = self._filters_from_querystring()
    names, ids = self._get_param("ZoneNames", []), self._get_param("ZoneIds", [])
    show_all = str(self._get_param("AllAvailabilityZones", False)).lower() == "true"
    named = set(names) | set(ids) | set(filters.get("zone-name", [])) | set(filters.get("zone-id", []))
    result = []
    for zone in RegionsAndZonesBackend.zones.get(self.region, []):
        if (names and zone.name not in names) or (ids and zone.zone_id not in ids):
            continue
        if not all(str(getattr(zone, _FILTER_ATTRS[k], None)) in v for k, v in filters.items()
                   if k in _FILTER_ATTRS):
            continue
        if zone.opt_in_status != "opted-in" and isinstance(zone, WavelengthZone) and not show_all \
                and zone.name not in named and zone.zone_id not in named:
            continue
        result.append(zone)
    return ActionResult({"AvailabilityZones": result})


def modify_availability_zone_group(self) -> ActionResult:
    group, status = self._get_param("GroupName"), self._get_param("OptInStatus")
    groups = {z.group_name for z in RegionsAndZonesBackend.zones.get(self.region, [])
              if isinstance(z, WavelengthZone)}
    if group not in groups:
        raise EC2ClientError("InvalidParameterValue",
                             f"The zone group '{group}' is not valid for region {self.region}.")
    if status != "opted-in":
        raise EC2ClientError("InvalidParameterValue", "The only valid value for OptInStatus is opted-in. "
                             "Contact AWS Support to opt out of a Wavelength Zone group.")
    self.error_on_dryrun()
    with LAB.lock:
        if group_status(self.region, group) != "opted-in":
            LAB.optin[(self.region, group)] = ("opting-in", LAB.deadline("optin"))
    return ActionResult({"Return": True})


_backend_describe_zones = RegionsAndZonesBackend.describe_availability_zones


def backend_describe_zones(self, filters=None, zone_names=None, zone_ids=None):
    # moto's internal callers (e.g. the default VPC's subnets) mean regional zones, as in AWS.
    zones = _backend_describe_zones(self, filters, zone_names=zone_names, zone_ids=zone_ids)
    return [z for z in zones if not isinstance(z, WavelengthZone) or zone_names or zone_ids]


def get_zone_by_name(self, name):
    return next((z for z in RegionsAndZonesBackend.zones.get(self.region_name, []) if z.name == name), None)


_create_subnet = SubnetBackend.create_subnet


def create_subnet(self, vpc_id, cidr_block, ipv6_cidr_block=None, availability_zone=None,
                  availability_zone_id=None, *args, **kwargs):
    zone = wavelength_zone(availability_zone or availability_zone_id)
    if zone and (zone.region_name != self.region_name or zone.opt_in_status != "opted-in"):
        # AWS refuses subnets in a zone whose group the account has not opted in to.
        raise EC2ClientError("OptInRequired", "You are not subscribed to this service. "
                             "Please go to http://aws.amazon.com to subscribe.")
    return _create_subnet(self, vpc_id, cidr_block, ipv6_cidr_block, availability_zone,
                          availability_zone_id, *args, **kwargs)


# -- launch templates: the template's own tags stay out of its version data -----------------------

_create_launch_template = EC2Response.create_launch_template


def create_launch_template(self) -> ActionResult:
    # moto copies CreateLaunchTemplate's TagSpecifications (the tags of the template itself) into the version
    # data; in AWS the version data has only LaunchTemplateData.TagSpecifications.
    given = copy.deepcopy(self._get_param("LaunchTemplateData", {}).get("TagSpecifications"))  # moto appends to it
    result = _create_launch_template(self)
    version = self.ec2_backend.get_launch_template_by_name(self._get_param("LaunchTemplateName")).versions[0]
    if given:
        version.data["TagSpecifications"] = given
    else:
        version.data.pop("TagSpecifications", None)
    version.instance_tags = convert_tag_spec(given or []).get("instance", {})
    return result


# -- instances: launch-template network interface and carrier IPs --------------------------------

_run_instances = InstanceBackend.run_instances


def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):
    carrier = False
    if kwargs.get("launch_template") and not kwargs.get("nics"):
        data = self._get_template_from_args(kwargs["launch_template"]).data
        nics = copy.deepcopy(data.get("NetworkInterfaces") or [])
        for i, nic in enumerate(nics):
            nic.setdefault("DeviceIndex", i)
            nic["DeviceIndex"] = int(nic["DeviceIndex"])
            if str(nic.pop("AssociateCarrierIpAddress", False)).lower() == "true" and nic["DeviceIndex"] == 0:
                carrier = True
            nic.pop("NetworkCardIndex", None)
        primary = next((n for n in nics if n["DeviceIndex"] == 0), None)
        if primary:
            # RunInstances/ASG subnet wins over the template's (as in AWS); else the template's is used.
            if kwargs.get("subnet_id"):
                primary["SubnetId"] = kwargs["subnet_id"]
            kwargs["subnet_id"] = primary.get("SubnetId")
            kwargs["nics"] = nics
            if primary.get("Groups") and not kwargs.get("security_group_ids"):
                # The interface's groups are the instance's groups (moto adds these to the interface).
                kwargs["security_group_ids"] = primary.pop("Groups")
    subnet = self.get_subnet(kwargs["subnet_id"]) if kwargs.get("subnet_id") else None
    zone = wavelength_zone(subnet.availability_zone) if subnet else None
    itype = kwargs.get("instance_type")
    if kwargs.get("is_instance_type_default") and kwargs.get("launch_template"):
        itype = self._get_template_from_args(kwargs["launch_template"]).data.get("InstanceType") or itype
        kwargs["instance_type"], kwargs["is_instance_type_default"] = itype, itype == "m1.small"
    if zone and not kwargs.get("is_instance_type_default") and itype not in zone.instance_types:
        raise EC2ClientError("Unsupported", f"Your requested instance type ({itype}) is not supported in "
                             f"your requested Availability Zone ({zone.name}).")
    if zone and kwargs.get("is_instance_type_default"):
        kwargs["instance_type"], kwargs["is_instance_type_default"] = zone.instance_types[0], False
    reservation = _run_instances(self, image_id, count, user_data, security_group_names, **kwargs)
    if carrier and zone:
        for instance in reservation.instances:
            assign_carrier_ip(instance.nics[0])
    return reservation


def assign_carrier_ip(eni: NetworkInterface) -> str:
    with LAB.lock:
        # Reclaim addresses of interfaces whose instance is gone (terminated outside the usual path).
        for owner in list(LAB.carrier_ips.values()):
            inst = owner.instance
            if inst is None or inst.state == "terminated":
                release_carrier_ip(owner)
        # Auto-assigned addresses are taken bottom up, elastic ones top down (ec2_addresses).
        n = next((i for i in range(1, 255) if i not in LAB.carrier_ips and i not in LAB.elastic_carrier_ips), None)
        if n is None:
            raise EC2ClientError("InsufficientFreeAddressesInSubnet", "No carrier IP address is available.")
        LAB.carrier_ips[n] = eni
        eni.carrier_ip = f"{config.CARRIER_IP_PREFIX}{n}"
        eni.carrier_auto = True  # launched with a carrier IP: gets a new one when an elastic one is disassociated
        eni.public_ip = None
        return eni.carrier_ip


def release_carrier_ip(eni: NetworkInterface) -> None:
    with LAB.lock:
        for n, owner in list(LAB.carrier_ips.items()):
            if owner is eni:
                del LAB.carrier_ips[n]
        eni.carrier_ip = None


_terminate = Instance.terminate


def terminate(self):
    from .ec2_addresses import detach
    for eni in list(self.nics.values()):
        if getattr(eni, "carrier_eip", None) is not None:
            detach(eni.carrier_eip, reassign=False)  # the elastic address stays allocated, unassociated
        if getattr(eni, "carrier_ip", None):
            release_carrier_ip(eni)
    return _terminate(self)


_association = NetworkInterface.association.fget
_ip_list = NetworkInterface.instance_private_ip_address_list.fget


def association(self):
    eip = getattr(self, "carrier_eip", None)
    if eip is not None:  # an elastic carrier IP: as AWS shows an associated Elastic IP
        return {"carrierIp": eip.carrier_ip, "allocationId": eip.allocation_id,
                "associationId": eip.association_id, "ipOwnerId": config.ACCOUNT_ID}
    if getattr(self, "carrier_ip", None):
        return {"carrierIp": self.carrier_ip, "ipOwnerId": "amazon"}
    return _association(self)


def instance_private_ip_address_list(self):
    items = _ip_list(self)
    if getattr(self, "carrier_ip", None):
        for item in items:
            if item.get("Primary"):
                item["Association"] = self.association
    return items


_describe_offerings = InstanceTypeOfferingBackend.describe_instance_type_offerings


def describe_instance_type_offerings(self, location_type=None, filters=None):
    """AWS lists no offerings for a Wavelength zone whose group the account has not opted in to."""
    offerings = _describe_offerings(self, location_type, filters)
    hidden = set()
    for zone in (z for zones in RegionsAndZonesBackend.zones.values() for z in zones):
        if isinstance(zone, WavelengthZone) and zone.opt_in_status != "opted-in":
            hidden |= {zone.name, zone.zone_id}
    return [o for o in offerings if o.get("Location") not in hidden]


def install() -> None:
    _install_zones()
    InstanceTypeOfferingBackend.describe_instance_type_offerings = describe_instance_type_offerings
    EC2Response.describe_availability_zones = describe_availability_zones
    RegionsAndZonesBackend.describe_availability_zones = backend_describe_zones
    RegionsAndZonesBackend.get_zone_by_name = get_zone_by_name
    EC2Response.modify_availability_zone_group = modify_availability_zone_group
    SubnetBackend.create_subnet = create_subnet
    EC2Response.create_launch_template = create_launch_template
    InstanceBackend.run_instances = run_instances
    Instance.terminate = terminate
    NetworkInterface.carrier_ip = None
    NetworkInterface.carrier_eip = None
    NetworkInterface.carrier_auto = False
    NetworkInterface.association = property(association)
    NetworkInterface.instance_private_ip_address_list = property(instance_private_ip_address_list)
