# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter vrrp_priority_matrix (documented in vrrp_priority_matrix.yml beside).

A thin wrapper: the logic and the input checks live in plugin_utils/_vrrp.py, which raises only ValueError and
TypeError; here those become AnsibleFilterError (Ansible puts the filter's name in front).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.lbstack.ha.plugins.plugin_utils._filter_errors import run_filter
from ansible_collections.lbstack.ha.plugins.plugin_utils._vrrp import priority_matrix


def vrrp_priority_matrix_filter(nodes: Any, vips: Any, base: Any = 200, step: Any = 10) -> list[dict[str, Any]]:
    return [dict(row) for row in run_filter(priority_matrix, nodes, vips, base, step)]


class FilterModule:
    """lbstack.ha VRRP filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"vrrp_priority_matrix": vrrp_priority_matrix_filter}
