"""unsafe_tokens finds every string that would end a directive or a line, with its path; haproxy_quote makes any
printable password one HAProxy word (HAProxy's own parsing rules: strong quotes, '\\'' for a quote)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lbstack.ha.plugins.filter.config import FilterModule
from ansible_collections.lbstack.ha.plugins.plugin_utils._config_tokens import haproxy_quote, unsafe_tokens

POOLS = [{"name": "web", "balance": "url_param id", "servers": [{"name": "w1", "address": "192.0.2.1", "port": 80}]}]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("w1\nallow all", "a line break, which starts a new directive"),
        ("w1\rx", "a line break, which starts a new directive"),
        ("w1\x00", "the control character 0x00"),
        ("w1;", "';', which ends a directive"),
        ("w{", "'{', which opens a block"),
        ("w}", "'}', which closes a block"),
        ("w#1", "'#', which starts a comment"),
        ("w!1", "'!', which starts a comment in keepalived"),
        ('w"', "a double quote"),
        ("w'", "a single quote"),
        ("w\\", "a backslash"),
        ("w 1", "a space, which splits the token in two"),
        ("w\t1", "a space, which splits the token in two"),
    ],
)
def test_each_character_that_ends_a_token_is_named(value: str, why: str) -> None:
    pools = [{**POOLS[0], "servers": [{**POOLS[0]["servers"][0], "name": value}]}]
    assert unsafe_tokens(pools, "pools", spaced=["balance"]) == [f"pools[0].servers[0].name {value!r} holds {why}"]


def test_safe_values_and_non_strings_pass() -> None:
    assert unsafe_tokens(POOLS, "pools", spaced=["balance"]) == []
    assert unsafe_tokens({"port": 80, "on": True, "none": None, "path": "/a?b=1&c=%20"}, "x") == []


def test_spaced_keys_take_single_spaces_only_and_raw_keys_line_breaks_only() -> None:
    assert unsafe_tokens(POOLS, "pools") == [
        "pools[0].balance 'url_param id' holds a space, which splits the token in two"
    ]
    assert unsafe_tokens([{"balance": "a\tb"}], "p", spaced=["balance"])[0].endswith("splits the token in two")
    assert unsafe_tokens([{"options": ["http-request deny if { src 10.0.0.1 } # ok"]}], "p", raw=["options"]) == []
    assert unsafe_tokens([{"options": ["a\nb"]}], "p", raw=["options"]) == [
        "p[0].options[0] 'a\\nb' holds a line break, which starts a new directive"
    ]


def test_keys_are_checked_and_skipped_keys_are_not() -> None:
    assert unsafe_tokens({"a;b": 1}, "m") == ["m key 'a;b' holds ';', which ends a directive"]
    assert unsafe_tokens({"password": "p#ss"}, "m", skip=["password"]) == []


def test_every_problem_is_reported() -> None:
    assert len(unsafe_tokens(["a b", "c;", "ok"], "list")) == 2


@pytest.mark.parametrize(
    ("word", "quoted"),
    [
        ("admin:secret", "'admin:secret'"),
        ("admin:pa#ss word", "'admin:pa#ss word'"),
        ("admin:it's", "'admin:it'\\''s'"),
        ("admin:$HOME", "'admin:$HOME'"),
    ],
)
def test_haproxy_quote(word: str, quoted: str) -> None:
    assert haproxy_quote(word) == quoted


def test_haproxy_quote_refuses_line_breaks_and_the_filters_wrap_errors() -> None:
    with pytest.raises(ValueError, match="a HAProxy word cannot hold a line break"):
        haproxy_quote("a\nb")
    filters = FilterModule().filters()
    with pytest.raises(AnsibleFilterError, match="haproxy_quote needs a string, got int"):
        filters["haproxy_quote"](5)
    with pytest.raises(AnsibleFilterError, match="name must be a string"):
        filters["unsafe_tokens"]([], 3)
    assert filters["unsafe_tokens"](["a;"], "x") == ["x[0] 'a;' holds ';', which ends a directive"]
