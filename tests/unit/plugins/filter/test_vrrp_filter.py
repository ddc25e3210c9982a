"""vrrp_priority_matrix through its thin wrapper: the result, and bad input as AnsibleFilterError."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lbstack.ha.plugins.filter.vrrp import FilterModule

matrix = FilterModule().filters()["vrrp_priority_matrix"]


def test_rows() -> None:
    rows = matrix(["lb1", "lb2", "lb3"], 3)
    assert [row["master"] for row in rows] == ["lb1", "lb2", "lb3"]
    assert rows[1]["priorities"] == {"lb2": 200, "lb3": 190, "lb1": 180}


def test_refusal_is_a_filter_error() -> None:
    with pytest.raises(AnsibleFilterError, match=r"a VIP needs a backup: nodes must list at least 2 balancers"):
        matrix(["lb1"], 1)
