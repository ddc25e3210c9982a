# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one translation every filter makes: the pure cores in plugin_utils raise only ValueError and TypeError,
naming what is wrong; a filter raises AnsibleFilterError with the same words (Ansible puts the filter's name in
front)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ansible.errors import AnsibleFilterError

T = TypeVar("T")


def run_filter(func: Callable[..., T], *args: Any) -> T:
    """func(*args), its ValueError or TypeError raised again as AnsibleFilterError."""
    try:
        return func(*args)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(str(exc)) from exc
