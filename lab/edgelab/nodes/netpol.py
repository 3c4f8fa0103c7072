"""NetworkPolicy ingress, as the VPC CNI's network policy agent enforces it at the node, for connections to a pod.

Only what the lab can judge by a connection's source address: `ipBlock` peers (cidr minus except) and rules with no
`from` (any source); the rule's `ports` must contain the pod's port (number or name, TCP). Pod and namespace
selector peers match pods, which share the host network in the lab and so have no address of their own: they
admit no device or node source here. A pod no Ingress policy selects is not isolated: every source is admitted.
"""

import ipaddress
from dataclasses import dataclass


def selects(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist) against labels; {} selects all."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _ingress(policy: dict) -> bool:
    spec = policy.get("spec") or {}
    return "Ingress" in (spec.get("policyTypes") or ["Ingress"])


def _port_matches(rule: dict, port: int, port_name: str | None) -> bool:
    ports = rule.get("ports") or []
    if not ports:
        return True
    for entry in ports:
        if (entry.get("protocol") or "TCP") != "TCP":
            continue
        want = entry.get("port")
        if want is None or want == port or (port_name and want == port_name):
            return True
        if isinstance(want, int) and entry.get("endPort") and want <= port <= int(entry["endPort"]):
            return True
    return False


@dataclass(frozen=True)
class Ingress:
    """What may connect to one pod port: None blocks = any source (not isolated, or a rule without `from`)."""
    blocks: tuple | None  # ((network, (excepted networks...)), ...)

    def admits(self, source: str) -> bool:
        if self.blocks is None:
            return True
        try:
            addr = ipaddress.ip_address(source)
        except ValueError:
            return False
        return any(addr in net and not any(addr in ex for ex in excepts) for net, excepts in self.blocks)


ANY = Ingress(None)


def ingress_for(policies: list[dict], namespace: str, labels: dict, port: int, port_name: str | None = None) -> Ingress:
    """The sources the NetworkPolicies of `namespace` admit to a pod with `labels` on `port`."""
    selecting = [p for p in policies if (p.get("metadata") or {}).get("namespace", "default") == namespace
                 and _ingress(p) and selects((p.get("spec") or {}).get("podSelector"), labels)]
    if not selecting:
        return ANY
    blocks = []
    for policy in selecting:
        for rule in (policy.get("spec") or {}).get("ingress") or []:
            if not _port_matches(rule, port, port_name):
                continue
            peers = rule.get("from")
            if not peers:
                return ANY
            for peer in peers:
                block = peer.get("ipBlock")
                if block and block.get("cidr"):
                    blocks.append((ipaddress.ip_network(block["cidr"], strict=False),
                                   tuple(ipaddress.ip_network(e, strict=False) for e in block.get("except") or [])))
    return Ingress(tuple(blocks))
