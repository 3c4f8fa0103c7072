# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: cidr_errors
author: edgeml team
version_added: 0.1.0
short_description: Check a list of source CIDRs allowed through a security group
description:
  - Checks a list of source CIDRs, by default the sources allowed to reach the model NodePorts
    (C(edge_nodeport_allowed_cidrs)) - the list must not be empty, every entry must be an IPv4 network CIDR with
    more than one address and no host bits set (as C(ansible.utils.ipv4('net')) accepts it), and a /0 network
    (V(0.0.0.0/0)) is only allowed with O(allow_open).
  - Returns what is wrong, one sentence each naming the variable to change. Fails only on inputs of the wrong type.
positional: _input, allow_open
options:
  _input:
    description: The source CIDRs.
    type: list
    elements: str
    required: true
  allow_open:
    description: Allow V(0.0.0.0/0) (C(edge_network_allow_open_nodeports)).
    type: bool
    default: false
  variable:
    description: How the messages name the list.
    type: str
    default: edge_nodeport_allowed_cidrs (edge_network_nodeport_allowed_cidrs)
  allow_open_variable:
    description: How the messages name the flag that allows V(0.0.0.0/0).
    type: str
    default: edge_network_allow_open_nodeports
"""

EXAMPLES = r"""
# => []
ok: "{{ ['203.0.113.0/24', '198.51.100.0/28'] | edgeml.wavelength.cidr_errors }}"

# => ["edge_nodeport_allowed_cidrs (edge_network_nodeport_allowed_cidrs) contains 0.0.0.0/0, which allows every
#      address: set edge_network_allow_open_nodeports: true to allow it"]
open: "{{ ['0.0.0.0/0'] | edgeml.wavelength.cidr_errors }}"

# => []
allowed: "{{ ['0.0.0.0/0'] | edgeml.wavelength.cidr_errors(allow_open=true) }}"
"""

RETURN = r"""
_value:
  description: What is wrong with the list, one sentence each; empty if nothing.
  type: list
  elements: str
"""

from collections.abc import Sequence
from ipaddress import IPv4Network

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean


def _error(cidr, variable):
    try:
        IPv4Network(cidr)
    except ValueError:
        try:
            return f"{variable}: {cidr!r} has host bits set, write {IPv4Network(cidr, strict=False)}"
        except ValueError:
            pass
    return f"{variable}: {cidr!r} is not an IPv4 network CIDR with more than one address (such as 203.0.113.0/24)"


def cidr_errors(cidrs, allow_open=False, variable="edge_nodeport_allowed_cidrs (edge_network_nodeport_allowed_cidrs)",
                allow_open_variable="edge_network_allow_open_nodeports"):
    """What is wrong with a list of source CIDRs."""
    if isinstance(cidrs, str) or not isinstance(cidrs, Sequence) or not all(isinstance(c, str) for c in cidrs):
        raise AnsibleFilterError(f"cidr_errors: the input must be a list of CIDR strings, got {cidrs!r}")
    try:
        allow_open = boolean(allow_open, strict=True)
    except TypeError as e:
        raise AnsibleFilterError(f"cidr_errors: allow_open must be a boolean, got {allow_open!r}") from e
    if not isinstance(variable, str) or not isinstance(allow_open_variable, str):
        raise AnsibleFilterError("cidr_errors: variable and allow_open_variable must be strings")
    if not cidrs:
        return [f"{variable} must list at least one network CIDR (it is empty)"]
    errors = []
    for cidr in cidrs:
        try:
            net = IPv4Network(cidr)
        except ValueError:
            net = None
        if net is None or net.prefixlen == 32:
            errors.append(_error(cidr, variable))
        elif net.prefixlen == 0 and not allow_open:
            errors.append(f"{variable} contains {cidr}, which allows every address: "
                          f"set {allow_open_variable}: true to allow it")
    return errors


class FilterModule:
    """Checks of source CIDR lists."""

    def filters(self):
        return {"cidr_errors": cidr_errors}
