# One task runner; the README's commands are `make lab` and `make test`.
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_NOCOLOR := 1
export NO_COLOR := 1
export PY_COLORS := 0

SCENARIOS ?= $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))

.PHONY: setup image nginx promtool lint sanity unit playbook-tests build molecule lab-test test lab lab-down bench

setup:
	@scripts/bootstrap

image:
	@scripts/build-image >/dev/null
	@scripts/build-image-systemd >/dev/null

# An nginx binary unpacked from Debian's package, for the test that compares wrr_schedule with a real nginx.
nginx:
	@scripts/fetch-nginx

lint: setup
	yamllint --strict .
	ansible-lint --profile production
	ruff check .
	ruff format --check .
	antsibull-changelog lint
	changelogs/generate --check

# ansible-test sanity on the collection as built (scripts/sanity says how it runs offline).
sanity: setup
	@scripts/sanity

# promtool unpacked from Debian's prometheus package, for the tests of the alert rules (promtool check/test rules).
promtool:
	@scripts/fetch-promtool

unit: setup nginx promtool
	python -m pytest tests/unit

playbook-tests: setup
	@for p in tests/playbooks/*.yml; do echo "== $$p"; ansible-playbook "$$p" || exit 1; done

build: setup
	ansible-galaxy collection build --force --output-path .cache/dist

molecule: setup image
	@for s in $(SCENARIOS); do \
	  echo "== molecule test -s $$s"; start=$$SECONDS; \
	  molecule test -s $$s || { echo "molecule scenario $$s FAILED after $$((SECONDS - start)) s"; exit 1; }; \
	  echo "molecule scenario $$s passed in $$((SECONDS - start)) s"; \
	done

# The lab end to end without a terminal, its report checked, then removed.
lab-test: setup image
	@scripts/lab-test

# Every test: lint, sanity, unit, the filter playbooks, the collection build, every Molecule scenario and the lab.
test:
	@scripts/test

lab: setup image
	@scripts/lab up

lab-down: setup
	@scripts/lab down

# The benchmark (not part of `test`): every figure over LBSTACK_BENCH_TRIALS trials on the bench lab, the
# table printed and docs/benchmarks.md rewritten. LBSTACK_BENCH_QUICK=1: one trial, for development.
bench: setup image
	@scripts/bench
