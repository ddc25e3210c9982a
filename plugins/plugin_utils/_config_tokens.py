# Copyright (c) lbstack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Values that would end a directive or a line of a config file, found before they are rendered.

Pure and typed: the filter wrapper (plugins/filter/config.py) turns TypeError into AnsibleFilterError. Every
string of a nested structure (a role's frontends, pools, servers) is checked where it lands in a config as one
token: no line break or other control character (a new line is a new directive, even in a comment), none of
the characters that end or open a directive, a block, a comment or a quoted string in nginx, HAProxy or
keepalived (``;`` ``{`` ``}`` ``#`` ``!`` ``"`` ``'`` ``\\``), and no space or tab, which splits a token in two.
Keys named in ``spaced`` may hold spaces (a HAProxy ``balance url_param id`` or a ``bind`` with options);
keys named in ``raw`` are raw config lines by design and are checked for line breaks only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: What ends or opens a directive, a block, a comment or a quoted string in one of the engines' files.
SPECIAL = {
    ";": "';', which ends a directive",
    "{": "'{', which opens a block",
    "}": "'}', which closes a block",
    "#": "'#', which starts a comment",
    '"': "a double quote",
    "'": "a single quote",
    "\\": "a backslash",
    "!": "'!', which starts a comment in keepalived",
}


def _describe(char: str) -> str:
    if char in ("\n", "\r"):
        return "a line break, which starts a new directive"
    if char in (" ", "\t"):
        return "a space, which splits the token in two"
    if ord(char) < 32 or ord(char) == 127:
        return f"the control character {ord(char):#04x}"
    return SPECIAL[char]


def token_problem(value: str, spaces: bool = False, raw: bool = False) -> str | None:
    """Why `value` cannot be one token of a config line, or None."""
    for char in value:
        if char in ("\n", "\r") or (ord(char) < 32 and char != "\t") or ord(char) == 127:
            return _describe(char)
        if raw:
            continue
        if char in SPECIAL or (char in (" ", "\t") and not (spaces and char == " ")):
            return _describe(char)
    return None


def unsafe_tokens(
    value: Any, name: str, spaced: Iterable[str] = (), raw: Iterable[str] = (), skip: Iterable[str] = ()
) -> list[str]:
    """Every string of `value` (walked through mappings and lists, `name` naming its root) that cannot be one
    token of a config line, as ``<path> '<value>' holds <why>``; keys in `skip` are not looked at."""
    spaced_keys, raw_keys, skipped = set(spaced), set(raw), set(skip)
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    problems: list[str] = []

    def walk(item: Any, path: str, spaces: bool, is_raw: bool) -> None:
        if isinstance(item, str):
            why = token_problem(item, spaces, is_raw)
            if why:
                problems.append(f"{path} {item!r} holds {why}")
        elif isinstance(item, Mapping):
            for key, sub in item.items():
                if key in skipped:
                    continue
                walk(key, f"{path} key", False, False)
                walk(sub, f"{path}.{key}", spaces or key in spaced_keys, is_raw or key in raw_keys)
        elif isinstance(item, Sequence) and not isinstance(item, (bytes, bytearray)):
            for index, sub in enumerate(item):
                walk(sub, f"{path}[{index}]", spaces, is_raw)

    walk(value, name, False, False)
    return problems


def haproxy_quote(value: Any) -> str:
    """`value` as one HAProxy word in strong (single) quotes, a single quote inside written as '\\'' (close,
    escaped quote, open): HAProxy reads '#', spaces and '$' in it literally. Refuses line breaks and other
    control characters, which no quoting carries."""
    if not isinstance(value, str):
        raise TypeError(f"haproxy_quote needs a string, got {type(value).__name__}")
    why = token_problem(value, raw=True)
    if why:
        raise ValueError(f"a HAProxy word cannot hold {why}")
    return "'" + value.replace("'", "'\\''") + "'"
