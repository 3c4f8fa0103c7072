# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)
"""Input checks shared by the collection's filter plugins: one wording for every wrong-type error."""

from collections.abc import Sequence

from ansible.errors import AnsibleFilterError


def list_of(value, kind, plugin: str, what: str):
    """`value` if it is a list of `kind` (str or Mapping), else AnsibleFilterError naming the plugin and the input."""
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(v, kind) for v in value):
        kinds = "strings" if kind is str else "dicts"
        raise AnsibleFilterError(f"{plugin}: {what} must be a list of {kinds}, got {value!r}")
    return value
