"""Carrier gateways go as AWS lets them go: DeleteCarrierGateway answers State `deleting`; the gateway is listed as
`deleting` for `cagw_delete` s (lab delay, default 1 s), then as `deleted` for DELETED_LISTED s, then no more.

- DeleteCarrierGateway of a `deleting` gateway answers it again (still `deleting`); of a `deleted` one ->
  InvalidCarrierGatewayID.NotFound, as for an unknown id (moto forgets the gateway at once).
- CreateRoute to a gateway that is `deleting` or `deleted` -> InvalidCarrierGatewayID.NotFound (moto routes to it).
- /_lab/resources lists only `available` gateways (resources.py).
"""

from moto.ec2.exceptions import InvalidCarrierGatewayID
from moto.ec2.models.carrier_gateways import CarrierGateway, CarrierGatewayBackend
from moto.ec2.models.route_tables import RouteBackend

from .state import LAB, now

DELETED_LISTED = 600.0  # seconds a deleted gateway stays listed (AWS keeps deleted resources visible for a while)


def _get_state(self) -> str:
    state = self.__dict__.get("_lab_state", "available")
    if state == "deleting" and now() >= self._lab_deleted_at:
        state = self._lab_state = "deleted"
    return state


def _set_state(self, value: str) -> None:
    self._lab_state = value


def _sweep(backend) -> None:
    for gateway_id, gateway in list(backend.carrier_gateways.items()):
        if gateway.state == "deleted" and now() >= gateway._lab_deleted_at + DELETED_LISTED:
            backend.carrier_gateways.pop(gateway_id, None)


def delete_carrier_gateway(self, gateway_id: str) -> CarrierGateway:
    with LAB.lock:
        _sweep(self)
        gateway = self.carrier_gateways.get(gateway_id)
        if gateway is None or gateway.state == "deleted":
            raise InvalidCarrierGatewayID(gateway_id)
        if gateway.state != "deleting":
            gateway._lab_deleted_at = LAB.deadline("cagw_delete")
            gateway.state = "deleting"
        return gateway


_describe = CarrierGatewayBackend.describe_carrier_gateways


def describe_carrier_gateways(self, ids=None, filters=None):
    with LAB.lock:
        _sweep(self)
    return _describe(self, ids, filters)


_create_route = RouteBackend.create_route


def create_route(self, route_table_id, destination_cidr_block, *args, **kwargs):
    gateway_id = kwargs.get("carrier_gateway_id")
    if gateway_id is not None:
        gateway = self.carrier_gateways.get(gateway_id)
        if gateway is None or gateway.state != "available":
            raise InvalidCarrierGatewayID(gateway_id)
    return _create_route(self, route_table_id, destination_cidr_block, *args, **kwargs)


def available(backend) -> list:
    """Ids of the gateways that are not deleting or deleted (for /_lab/resources)."""
    return sorted(i for i, g in list(backend.carrier_gateways.items()) if g.state == "available")


def install() -> None:
    CarrierGateway.state = property(_get_state, _set_state)
    CarrierGatewayBackend.delete_carrier_gateway = delete_carrier_gateway
    CarrierGatewayBackend.describe_carrier_gateways = describe_carrier_gateways
    RouteBackend.create_route = create_route
