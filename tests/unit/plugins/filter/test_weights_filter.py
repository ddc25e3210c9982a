"""The filter plugin: it exposes the three filters, returns what the core returns, and turns every bad input
into AnsibleFilterError (never a raw Python exception) whose message names the item and the problem."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.lbstack.ha.plugins.filter import weights as plugin
from ansible_collections.lbstack.ha.plugins.plugin_utils import _weights as core

FILTERS: dict[str, Callable[..., Any]] = plugin.FilterModule().filters()
weight_distribution = FILTERS["weight_distribution"]
wrr_schedule = FILTERS["wrr_schedule"]
distribution_fit = FILTERS["distribution_fit"]

POOL = [
    {"name": "a", "capacity": 8},
    {"name": "b", "capacity": 4},
    {"name": "c", "capacity": 2},
    {"name": "spare", "capacity": 4, "state": "backup"},
]


def test_the_plugin_exposes_exactly_the_four_filters() -> None:
    assert sorted(FILTERS) == ["distribution_fit", "pool_weights", "weight_distribution", "wrr_schedule"]


def test_filters_return_what_the_core_returns() -> None:
    weighted = weight_distribution(POOL)
    assert weighted == core.weight_distribution(POOL)
    assert [s["weight"] for s in weighted] == [4, 2, 1, 1]
    assert weight_distribution(POOL, 10, 2) == core.weight_distribution(POOL, 10, 2)
    assert wrr_schedule(weighted, 7) == ["a", "b", "a", "c", "a", "b", "a"]
    fit = distribution_fit({"a": 40, "b": 20, "c": 10}, weighted)
    assert fit == core.distribution_fit({"a": 40, "b": 20, "c": 10}, weighted)
    assert fit["ok"] is True
    assert distribution_fit({"a": 40, "b": 20, "c": 10}, weighted, 0.5, 0.5)["tolerance"] == 0.5


@pytest.mark.parametrize(
    ("call", "message", "cause"),
    [
        pytest.param(
            lambda: weight_distribution("web1"),
            "backends must be a list of mappings, got str",
            None,
            id="not a list",
        ),
        pytest.param(
            lambda: weight_distribution({"name": "a", "capacity": 1}),
            "backends must be a list of mappings, got dict",
            None,
            id="a mapping instead of a list",
        ),
        pytest.param(
            lambda: weight_distribution([]),
            "backends is empty: at least one backend is needed",
            ValueError,
            id="empty",
        ),
        pytest.param(
            lambda: weight_distribution([{"name": "a", "capacity": 1}, "b"]),
            "backends[1] must be a mapping with a name, got str 'b'",
            TypeError,
            id="item not a mapping",
        ),
        pytest.param(
            lambda: weight_distribution([{"name": "a", "capacity": math.nan}]),
            "backends[0] 'a' has a capacity that is not finite: nan",
            ValueError,
            id="nan",
        ),
        pytest.param(
            lambda: weight_distribution([{"name": "a", "capacity": False}]),
            "backends[0] 'a' has a capacity that is not a number: bool False",
            TypeError,
            id="bool",
        ),
        pytest.param(
            lambda: weight_distribution([{"name": "a", "capacity": 1}, {"name": "a", "capacity": 1}]),
            "backends[1] 'a' has the same name as backends[0]: names must be unique",
            ValueError,
            id="duplicate",
        ),
        pytest.param(
            lambda: weight_distribution([{"name": "a", "capacity": 0}]),
            "no active backend with a capacity above 0",
            ValueError,
            id="all zero",
        ),
        pytest.param(
            lambda: weight_distribution(POOL, 300),
            "max_weight must be an integer within 1..256, got 300",
            ValueError,
            id="max_weight",
        ),
        pytest.param(
            lambda: weight_distribution(POOL, 5, 6),
            "min_weight (6) must not exceed max_weight (5)",
            ValueError,
            id="min above max",
        ),
        pytest.param(
            lambda: wrr_schedule(POOL, 3),
            "backends[0] 'a' has no weight (pass the output of weight_distribution)",
            ValueError,
            id="schedule without weights",
        ),
        pytest.param(
            lambda: wrr_schedule(weight_distribution(POOL), -1),
            "count must be an integer within 0..10,000,000, got -1",
            ValueError,
            id="negative count",
        ),
        pytest.param(
            lambda: wrr_schedule(weight_distribution(POOL), "3"),
            "count must be an integer within 0..10,000,000, got str '3'",
            TypeError,
            id="string count",
        ),
        pytest.param(
            lambda: wrr_schedule(5, 3),
            "backends must be a list of mappings, got int",
            None,
            id="schedule of a number",
        ),
        pytest.param(
            lambda: distribution_fit(["a"], POOL),
            "observed must be a mapping of backend name to count, got list",
            None,
            id="observed not a mapping",
        ),
        pytest.param(
            lambda: distribution_fit({"a": 1}, "POOL"),
            "backends must be a list of mappings, got str",
            None,
            id="fit against a string",
        ),
        pytest.param(
            lambda: distribution_fit({"a": 0}, weight_distribution(POOL)),
            "the observed counts sum to 0: nothing to judge",
            ValueError,
            id="no traffic",
        ),
        pytest.param(
            lambda: distribution_fit({"a": -3}, weight_distribution(POOL)),
            "observed count of 'a' must be an integer >= 0, got -3",
            ValueError,
            id="negative count in observed",
        ),
        pytest.param(
            lambda: distribution_fit({"a": 2.5}, weight_distribution(POOL)),
            "observed count of 'a' must be an integer >= 0, got float 2.5",
            TypeError,
            id="float count in observed",
        ),
        pytest.param(
            lambda: distribution_fit({"a": 1}, weight_distribution(POOL), 2),
            "tolerance must be a number within 0..1, got 2",
            ValueError,
            id="tolerance",
        ),
    ],
)
def test_bad_input_raises_ansible_filter_error(
    call: Callable[[], Any],
    message: str,
    cause: type[Exception] | None,
) -> None:
    with pytest.raises(AnsibleFilterError) as caught:
        call()
    assert message in str(caught.value)
    if cause is None:
        assert caught.value.__cause__ is None
    else:
        assert isinstance(caught.value.__cause__, cause)


junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)
backend_like = st.fixed_dictionaries(
    {"name": st.one_of(st.text(max_size=3), st.integers(), st.none())},
    optional={
        "capacity": junk,
        "weight": junk,
        "share": junk,
        "state": st.one_of(st.sampled_from(["active", "backup", "drain", "down", "up"]), junk),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    backends=st.one_of(junk, st.lists(backend_like, max_size=5)),
    observed=st.one_of(junk, st.dictionaries(st.text(max_size=3), junk, max_size=4)),
    count=junk,
    max_weight=junk,
)
def test_any_input_gives_a_result_or_an_ansible_filter_error(
    backends: Any,
    observed: Any,
    count: Any,
    max_weight: Any,
) -> None:
    """Whatever comes in: a result, or AnsibleFilterError - never another exception."""
    for call in (
        lambda: weight_distribution(backends),
        lambda: weight_distribution(backends, max_weight),
        lambda: wrr_schedule(backends, count if not isinstance(count, int) else min(abs(count), 1000)),
        lambda: distribution_fit(observed, backends),
    ):
        try:
            call()
        except AnsibleFilterError as exc:
            assert str(exc)
