# Two entry points for a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test lint servers clean mutate screenshots

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

# Start the bot and the dev platform on the embedded defaults (SQLite, in-process stores)
# and open the terminal chat as a WeChat user. The bot routes tickets by the catalogue in
# the database, so config/catalogue.toml is loaded after the migrations.
run: $(STAMP)
	@set -a; source config/dev.env; set +a; \
	  $(BIN)/lianxin db upgrade && $(BIN)/lianxin config load && \
	  $(BIN)/lianxin staff demo && $(BIN)/lianxin lawyer demo && exec $(BIN)/lianxin dev

# Redis and PostgreSQL servers for the tests, and the distribution's Chromium for the
# console's browser tests (installed with apt-get when missing; Playwright is given this
# Chromium and never downloads a browser of its own).
servers:
	@missing=""; \
	  command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	  command -v chromium >/dev/null || missing="$$missing chromium"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing$$missing"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	  fi

# The console's screenshots in docs/console/, taken by the browser tests (CJK fonts from
# the distribution, so the pages read as they do on a staff member's machine).
screenshots: $(STAMP) servers
	@command -v fc-list >/dev/null && fc-list :lang=zh | grep -q . || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get install -y -qq fonts-noto-cjk >/dev/null; }
	LIANXIN_SCREENSHOTS=docs/console $(BIN)/pytest -q tests/test_console_browser.py -k "not postgres"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(STAMP) servers lint
	$(BIN)/pytest

# Mutation testing of domain/ (docs/TESTING.md): by hand, never part of `make test` or CI.
# One mutmut run per module; each mutant is tried against the unit tests listed in
# pyproject.toml [tool.mutmut] that reach its function, then the score per module is
# printed. `make mutate MUTATE="contact delivery"` runs some modules only.
MUTATE ?= $(sort $(basename $(notdir $(filter-out domain/__init__.py,$(wildcard domain/*.py)))))
MUTATE_JOBS ?= 2

mutate: $(STAMP)
	@mkdir -p mutants && rm -f mutants/mutmut-stats.json  # tests changed: map them again
	@for module in $(MUTATE); do \
	  echo "mutmut: domain/$$module.py (log: mutants/$$module.log)"; \
	  $(BIN)/mutmut run --max-children $(MUTATE_JOBS) "domain.$$module.*" \
	    >mutants/$$module.log 2>&1 || { tail -n 30 mutants/$$module.log; exit 1; }; \
	done
	@$(BIN)/mutmut results --all true | awk -F': ' -v modules="$(MUTATE)" ' \
	  { split($$1, name, "."); module = name[2]; total[module]++; count[module, $$2]++ } \
	  END { \
	    printf "%-16s %7s %7s %7s %8s %8s %7s\n", "module", "mutants", "killed", \
	      "timeout", "survived", "no tests", "score"; \
	    n = split(modules, list, " "); \
	    for (i = 1; i <= n; i++) { m = list[i]; if (!total[m]) continue; \
	      caught = count[m, "killed"] + count[m, "timeout"]; \
	      printf "%-16s %7d %7d %7d %8d %8d %6.1f%%\n", m, total[m], count[m, "killed"], \
	        count[m, "timeout"], count[m, "survived"], count[m, "no tests"], \
	        100 * caught / total[m] } }'
	@echo "survivors: $(BIN)/mutmut results; one mutant: $(BIN)/mutmut show NAME"

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache lianxin.db mutants
