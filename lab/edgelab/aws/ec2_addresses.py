"""Elastic carrier IPs: AllocateAddress in a Wavelength network border group, and their associations.

As AWS: `AllocateAddress(Domain=vpc, NetworkBorderGroup=<Wavelength zone's group>)` gives a carrier IP (`CarrierIp`,
no `PublicIp`); associating it with an instance/ENI of a subnet in a zone of that border group replaces the
interface's auto-assigned carrier IP; disassociating gives the interface a new auto-assigned one (if it was launched
with one). Addresses allocated without a Wavelength border group keep moto's behaviour.

Address pool (lab): carrier IPs are 127.0.1.1-254 (config.CARRIER_NETWORK); auto-assigned ones are taken bottom up
(.1, .2, ...), elastic ones top down (.254, .253, ...), so they do not collide until the pool is exhausted.
"""

from moto.ec2.exceptions import EC2ClientError, InvalidAllocationIdError
from moto.ec2.models.elastic_ip_addresses import ElasticAddress, ElasticAddressBackend
from moto.ec2.responses.elastic_ip_addresses import ElasticIPAddresses
from moto.ec2.utils import add_tag_specification, random_eip_association_id

from edgelab import config

from .state import LAB

_POOL = range(1, 255)


class CarrierAddress(ElasticAddress):
    """An elastic carrier IP (domain vpc, in a Wavelength network border group, no public IP)."""

    def __init__(self, ec2_backend, network_border_group: str, tags: dict | None = None):
        super().__init__(ec2_backend, domain="vpc", tags=tags)
        self.public_ip = None
        self.network_border_group = network_border_group
        with LAB.lock:
            used = set(LAB.carrier_ips) | set(LAB.elastic_carrier_ips)
            n = next((i for i in reversed(_POOL) if i not in used), None)
            if n is None:
                raise EC2ClientError("AddressLimitExceeded", "The maximum number of addresses has been reached.")
            LAB.elastic_carrier_ips[n] = self
        self.carrier_ip = f"{config.CARRIER_IP_PREFIX}{n}"

    # AWS omits these when the address is not associated (moto's ElasticAddress says "").
    @property
    def instance_id(self):
        return self.instance.id if self.instance else None

    @property
    def network_interface_id(self):
        return self.eni.id if self.eni else None

    def get_filter_value(self, filter_name, method_name=None):
        if filter_name == "carrier-ip":
            return self.carrier_ip
        if filter_name == "network-border-group":
            return self.network_border_group
        return super().get_filter_value(filter_name, method_name)

    def free(self) -> None:
        with LAB.lock:
            for n, owner in list(LAB.elastic_carrier_ips.items()):
                if owner is self:
                    del LAB.elastic_carrier_ips[n]


def _regular_filter_value(self, filter_name, method_name=None):
    if filter_name == "network-border-group":
        return getattr(self, "network_border_group", None) or self.ec2_backend.region_name
    if filter_name == "carrier-ip":
        return None
    return _filter_value(self, filter_name, method_name)


_filter_value = ElasticAddress.get_filter_value


def _border_group_zone(region: str, name: str | None):
    from .ec2_wavelength import wavelength_zone
    zone = wavelength_zone(name) if name else None
    return zone if zone and zone.network_border_group == name else None


def _eni_border_group(eni) -> str:
    from .ec2_wavelength import wavelength_zone
    zone_name = eni.subnet.availability_zone if getattr(eni, "subnet", None) else None
    zone = wavelength_zone(zone_name)
    return zone.network_border_group if zone else eni.ec2_backend.region_name


# -- responses -----------------------------------------------------------------------------------

_allocate_address = ElasticIPAddresses.allocate_address


def allocate_address(self):
    nbg = self._get_param("NetworkBorderGroup")
    zone = _border_group_zone(self.region, nbg)
    if zone is None:
        return _allocate_address(self)
    if zone.region_name != self.region:
        raise EC2ClientError("InvalidParameterValue", f"Invalid network border group '{nbg}' for {self.region}.")
    tags = add_tag_specification(self._get_param("TagSpecifications", []))
    self.error_on_dryrun()
    from moto.core.responses import ActionResult
    eip = CarrierAddress(self.ec2_backend, zone.network_border_group, tags=tags)
    self.ec2_backend.addresses.append(eip)
    return ActionResult({"AllocationId": eip.allocation_id, "CarrierIp": eip.carrier_ip,
                         "NetworkBorderGroup": eip.network_border_group, "Domain": "vpc"})


# -- backend -------------------------------------------------------------------------------------

_associate = ElasticAddressBackend.associate_address
_disassociate = ElasticAddressBackend.disassociate_address
_release = ElasticAddressBackend.release_address


def _find(self, address=None, allocation_id=None, association_id=None):
    for eip in self.addresses:
        if isinstance(eip, CarrierAddress) and (
                (allocation_id and eip.allocation_id == allocation_id)
                or (association_id and eip.association_id == association_id)
                or (address and eip.carrier_ip == address)):
            return eip
    return None


def detach(eip: CarrierAddress, reassign: bool = True) -> None:
    """Disassociate: the interface gets a new auto-assigned carrier IP if it was launched with one."""
    from .ec2_wavelength import assign_carrier_ip
    eni = eip.eni
    eip.eni = eip.instance = eip.association_id = None
    if eni is None:
        return
    eni.carrier_eip = None
    eni.carrier_ip = None
    instance = getattr(eni, "instance", None)
    if reassign and getattr(eni, "carrier_auto", False) and instance is not None and instance.state == "running":
        assign_carrier_ip(eni)


def associate_address(self, instance=None, eni=None, address=None, allocation_id=None, reassociate=False):
    eip = _find(self, address=address, allocation_id=allocation_id)
    if eip is None:
        return _associate(self, instance=instance, eni=eni, address=address, allocation_id=allocation_id,
                          reassociate=reassociate)
    from .ec2_wavelength import release_carrier_ip
    target = eni or instance.nics[0]
    target_nbg = _eni_border_group(target)
    if target_nbg != eip.network_border_group:
        # AWS: "You cannot associate an Elastic IP address with an interface in a different network border group."
        raise EC2ClientError(
            "InvalidParameterCombination",
            f"The address {eip.allocation_id} is in network border group {eip.network_border_group} and cannot be "
            f"associated with network interface {target.id} in network border group {target_nbg}.")
    with LAB.lock:
        if eip.eni is target:
            return eip  # idempotent
        if eip.eni is not None:
            if not _true(reassociate):
                raise EC2ClientError("Resource.AlreadyAssociated", f"resource {eip.allocation_id} is already "
                                     f"associated with associate-id {eip.association_id}")
            detach(eip)
        current = getattr(target, "carrier_eip", None)
        if current is not None:  # the interface's previous elastic address stays allocated
            detach(current, reassign=False)
        release_carrier_ip(target)  # the auto-assigned address goes back to the pool
        target.carrier_ip, target.carrier_eip = eip.carrier_ip, eip
        eip.eni, eip.instance = target, getattr(target, "instance", None) or instance
        eip.association_id = random_eip_association_id()
    return eip


def _true(value) -> bool:
    return str(value).lower() == "true"


def disassociate_address(self, address=None, association_id=None):
    eip = _find(self, address=address, association_id=association_id)
    if eip is None:
        return _disassociate(self, address=address, association_id=association_id)
    with LAB.lock:
        detach(eip)
    return None


def release_address(self, address=None, allocation_id=None):
    eip = _find(self, address=address, allocation_id=allocation_id)
    if eip is None:
        if allocation_id and not any(a.allocation_id == allocation_id for a in self.addresses):
            raise InvalidAllocationIdError(allocation_id)
        return _release(self, address=address, allocation_id=allocation_id)
    with LAB.lock:
        if eip.eni is not None:
            raise EC2ClientError("InvalidIPAddress.InUse", f"Address {eip.carrier_ip} is in use.")
        eip.free()
        eip.allocation_id = None
        self.addresses.remove(eip)
    return None


def install() -> None:
    ElasticIPAddresses.allocate_address = allocate_address
    ElasticAddressBackend.associate_address = associate_address
    ElasticAddressBackend.disassociate_address = disassociate_address
    ElasticAddressBackend.release_address = release_address
    ElasticAddress.get_filter_value = _regular_filter_value
    ElasticAddress.carrier_ip = None
    ElasticAddress.network_border_group = None
