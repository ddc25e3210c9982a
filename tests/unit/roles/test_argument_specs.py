"""meta/argument_specs.yml is each role's contract: it must list exactly the role's public defaults, with
the same default values, a type and a description for each, and every variable prefixed with the role's
name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROLES = sorted(p for p in (Path(__file__).resolve().parents[3] / "roles").iterdir() if p.is_dir())


def _load(path: Path) -> dict:
    with path.open() as stream:
        return yaml.safe_load(stream) or {}


def test_there_are_roles() -> None:
    assert {r.name for r in ROLES} >= {"backend"}


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_specs_match_defaults(role: Path) -> None:
    specs = _load(role / "meta" / "argument_specs.yml")["argument_specs"]
    assert "main" in specs, f"{role.name}: no 'main' entry point in meta/argument_specs.yml"
    options = specs["main"].get("options", {})
    defaults_file = role / "defaults" / "main.yml"
    defaults = _load(defaults_file) if defaults_file.exists() else {}
    # Options without a default (computed when unset, or required) stay out of defaults/main.yml.
    documented_defaults = {k for k, v in options.items() if "default" in v}
    assert set(defaults) == documented_defaults, (
        f"{role.name}: in defaults only: {sorted(set(defaults) - documented_defaults)}, "
        f"in argument_specs only: {sorted(documented_defaults - set(defaults))}"
    )
    for name, value in defaults.items():
        spec_default = options[name].get("default")
        assert spec_default == value, f"{role.name}: {name} defaults to {value!r} but the spec says {spec_default!r}"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_every_option_is_documented_and_prefixed(role: Path) -> None:
    for entry, spec in _load(role / "meta" / "argument_specs.yml")["argument_specs"].items():
        for name, option in spec.get("options", {}).items():
            assert name.startswith(f"{role.name}_"), f"{role.name}/{entry}: {name} lacks the role prefix"
            assert option.get("type"), f"{role.name}/{entry}: {name} has no type"
            assert option.get("description"), f"{role.name}/{entry}: {name} has no description"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_ansible_doc_shows_the_role(role: Path) -> None:
    repo = role.parents[1]
    env = dict(os.environ, ANSIBLE_CONFIG=str(repo / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    run = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-doc")), "-t", "role", f"lbstack.ha.{role.name}"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert f"lbstack.ha.{role.name}*" in run.stdout and "ENTRY POINT: *main*" in run.stdout
