# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter bgp_problems (documented in bgp_problems.yml beside).

A thin wrapper: the checks live in plugin_utils/_bgp.py, which raises only ValueError and TypeError; here those
become AnsibleFilterError.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.lbstack.ha.plugins.plugin_utils._bgp import bgp_problems
from ansible_collections.lbstack.ha.plugins.plugin_utils._filter_errors import run_filter


def bgp_problems_filter(node: Any, host: Any, others: Any = None) -> list[str]:
    if not isinstance(host, str):
        raise AnsibleFilterError(f"host must be a string, got {type(host).__name__}")
    return run_filter(bgp_problems, host, node, others if others is not None else {})


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"bgp_problems": bgp_problems_filter}
