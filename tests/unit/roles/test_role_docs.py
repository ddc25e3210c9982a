"""docs/roles/ is generated from the roles' argument specs by scripts/role-docs; the committed pages must be
exactly what the generator writes now, so the reference never drifts from the contract."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "role-docs"
FIX = "run scripts/role-docs and commit docs/roles/"


def load_generator():
    loader = importlib.machinery.SourceFileLoader("role_docs", str(SCRIPT))
    spec = importlib.util.spec_from_loader("role_docs", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


GENERATOR = load_generator()
PAGES = GENERATOR.pages()


@pytest.mark.parametrize("name", sorted(PAGES))
def test_committed_page_equals_the_generated_one(name: str) -> None:
    committed = REPO / "docs" / "roles" / name
    assert committed.is_file(), f"docs/roles/{name} is missing: {FIX}"
    assert committed.read_text() == PAGES[name], f"docs/roles/{name} is out of date: {FIX}"


def test_no_page_without_a_role() -> None:
    extra = sorted(p.name for p in (REPO / "docs" / "roles").glob("*.md") if p.name not in PAGES)
    assert extra == [], f"pages of roles that no longer exist: {extra}: {FIX}"


def test_every_role_and_every_option_is_documented() -> None:
    import yaml

    for specs_file in sorted((REPO / "roles").glob("*/meta/argument_specs.yml")):
        role = specs_file.parent.parent.name
        page = PAGES[f"{role}.md"]
        for entry, spec in (yaml.safe_load(specs_file.read_text())["argument_specs"] or {}).items():
            assert f"## Entry point `{entry}`" in page
            for option in (spec or {}).get("options") or {}:
                assert f"| `{option}` |" in page, f"{role}: {option} missing from its page"


def test_a_row_shows_type_default_required_choices_and_description() -> None:
    options = {
        "demo_version": {"type": "int", "default": 2, "choices": [2, 3], "description": "Version C(3) is faster."},
        "demo_pass": {"type": "str", "required": True, "no_log": True, "description": ["A | secret.", "Keep it."]},
        "demo_items": {
            "type": "list",
            "elements": "dict",
            "default": [],
            "description": "Items.",
            "options": {"name": {"type": "str", "required": True, "description": "Its name."}},
        },
    }
    assert GENERATOR.rows(options) == [
        "| `demo_version` | int | `2` | no | `2`, `3` | Version `3` is faster. |",
        "| `demo_pass` | str |  | yes |  | A \\| secret. Keep it. Secret: never logged (`no_log`). |",
        "| `demo_items` | list of dict | `[]` | no |  | Items. |",
        "| `demo_items.name` | str |  | yes |  | Its name. |",
    ]


def test_markup_and_cells() -> None:
    assert GENERATOR.markup("C(a) I(b) B(c) O(d=1) L(text, https://x.invalid)") == (
        "`a` *b* **c** `d=1` [text](https://x.invalid)"
    )
    assert GENERATOR.cell("a |\n b") == "a \\| b"
    assert GENERATOR.code("") == '`""`'
    assert GENERATOR.code({"inter": 1000}) == '`{"inter": 1000}`'


def test_check_mode_agrees_with_the_committed_pages() -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
