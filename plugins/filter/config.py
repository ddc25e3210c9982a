# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters unsafe_tokens and haproxy_quote (documented in the .yml files beside).

A thin wrapper: the checks live in plugin_utils/_config_tokens.py, which raises only ValueError and
TypeError; here those become AnsibleFilterError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.lbstack.ha.plugins.plugin_utils._config_tokens import haproxy_quote, unsafe_tokens
from ansible_collections.lbstack.ha.plugins.plugin_utils._filter_errors import run_filter


def unsafe_tokens_filter(value: Any, name: Any, spaced: Any = (), raw: Any = (), skip: Any = ()) -> list[str]:
    return run_filter(unsafe_tokens, value, name, spaced, raw, skip)


def haproxy_quote_filter(value: Any) -> str:
    return run_filter(haproxy_quote, value)


class FilterModule:
    """lbstack.ha config safety filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"unsafe_tokens": unsafe_tokens_filter, "haproxy_quote": haproxy_quote_filter}
