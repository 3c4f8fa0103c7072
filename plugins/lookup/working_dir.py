# Copyright: edgeml team
# Apache License 2.0 (see LICENSE)

DOCUMENTATION = r"""
---
name: working_dir
author: edgeml team
version_added: 0.1.0
short_description: The directory ansible-playbook runs from
description:
  - Returns the controller's current working directory, where user-facing outputs (reports) belong when the
    playbooks come from an installed collection.
  - Unlike C(lookup('ansible.builtin.env', 'PWD')), it is right when a program starts ansible-playbook in another
    directory without updating C($PWD); unlike C(lookup('ansible.builtin.pipe', 'pwd')), it is not the playbook's
    directory (the pipe lookup runs its command there).
options: {}
"""

EXAMPLES = r"""
report_dir: "{{ lookup('edgeml.wavelength.working_dir') }}/artifacts"
"""

RETURN = r"""
_raw:
  description: One element, the absolute path of the working directory.
  type: list
  elements: str
"""

import os

from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        return [os.getcwd()]
