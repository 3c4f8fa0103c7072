"""Route 53: the lab account has a public hosted zone `edge.lab` (DNS_ZONE), as a user's account has the zone of
their domain: the product never creates hosted zones, it adds records to one that exists (edge_dns_zone).

Seeded when moto builds the Route 53 backend of the lab account, so it exists from `lab up` on and again after every
reset (moto re-initialises its backends then). The records in it are resources like any other (GET /_lab/resources
lists them); the zone itself and its own SOA and NS records are not.
"""

from moto.route53.models import Route53Backend

from edgelab import config

DNS_ZONE = "edge.lab"

_init = Route53Backend.__init__


def init(self, region_name: str, account_id: str) -> None:
    _init(self, region_name, account_id)
    if account_id == config.ACCOUNT_ID and not any(z.name == f"{DNS_ZONE}." for z in self.zones.values()):
        self.create_hosted_zone(f"{DNS_ZONE}.", private_zone=False, caller_reference="edgelab-seed",
                                comment="edge lab: the user's domain (seeded)")


def install() -> None:
    Route53Backend.__init__ = init
