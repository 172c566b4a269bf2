# OnTop: `make run` starts the whole product, `make test` runs every check CI runs.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast browser-deps lint check-boundaries check-migrations pytest format clean

# Installs both tiers and the dev tools; re-runs only when a requirements file changes.
$(STAMP): requirements.txt requirements-gpu.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-gpu.txt -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m ontop.devstack run

test: $(STAMP) browser-deps lint check-boundaries check-migrations pytest

# manage.py against the embedded servers: `make run`'s when it is running, else started for the
# command and stopped after it (data in var/). Example: make manage ARGS="shell"
.PHONY: manage superuser
manage: $(STAMP)
	$(BIN)/python -m ontop.devstack manage -- $(ARGS)

# An admin account for /admin/ (asks for a name, e-mail and password; migrates first).
superuser: $(STAMP)
	$(BIN)/python -m ontop.devstack manage --migrate -- createsuperuser $(ARGS)

# The everyday tier: every check, but no test marked `slow` (whole stacks, real worker processes,
# browsers, killed processes, several GPU workers' worth of jobs). CI runs `make test`.
test-fast: $(STAMP) lint check-boundaries check-migrations
	$(BIN)/python -m ontop.devstack test -- -m "not slow and not gpu and not real_weights" $(PYTEST_ARGS)

# The browser test drives Debian's headless Chromium (tools that download their own browser
# cannot work here). Installed once if missing; fonts-noto-cjk so Korean renders in screenshots.
browser-deps:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then \
		echo "Installing Chromium, chromedriver and CJK fonts for the browser test..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-cjk >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check-boundaries: $(STAMP)
	$(BIN)/lint-imports

# Needs no database: Django only compares models with the committed migrations.
check-migrations: $(STAMP)
	DEBUG=true $(BIN)/python -W ignore manage.py makemigrations --check --dry-run

pytest: $(STAMP)
	$(BIN)/python -m ontop.devstack test -- $(PYTEST_ARGS)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var/staticfiles .pytest_cache .ruff_cache
