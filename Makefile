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

# Monitoring (deploy/monitoring/README.md): Prometheus, scraping `make run` on this machine with
# deploy/monitoring/prometheus.yml. Debian packages Prometheus (installed once if missing); Grafana
# is in no registry reachable here, so its command (docker compose, dashboard provisioned) is printed.
.PHONY: monitor
monitor:
	@echo "[monitor] Grafana with the OnTop dashboard: docker compose -f deploy/monitoring/docker-compose.yml up grafana"
	@echo "[monitor]   (or import deploy/monitoring/grafana/ontop.json into your Grafana; datasource uid ontop-prometheus)"
	@if ! command -v prometheus >/dev/null; then \
		if command -v apt-get >/dev/null && apt-cache show prometheus >/dev/null 2>&1; then \
			echo "[monitor] Installing Prometheus (Debian package)..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
		else \
			echo "[monitor] No Prometheus package here. Run both: docker compose -f deploy/monitoring/docker-compose.yml up"; \
			exit 0; \
		fi; \
	fi
	@# Debian's package also starts a system service on :9090 (all addresses) where systemd runs: ours replaces it.
	@if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then \
		echo "[monitor] Stopping the system prometheus.service (it listens on :9090 on every address)"; \
		systemctl disable --now prometheus >/dev/null 2>&1 || true; \
	fi
	@if python3 -c "import socket, sys; sys.exit(socket.socket().connect_ex(('127.0.0.1', 9090)) != 0)"; then \
		echo "[monitor] Port 9090 is taken by another program: stop it, or run prometheus with another --web.listen-address."; \
		exit 1; \
	fi
	@echo "[monitor] Prometheus on http://127.0.0.1:9090 (Ctrl-C stops it; data in var/prometheus-data)"
	prometheus --config.file=deploy/monitoring/prometheus.yml --storage.tsdb.path=var/prometheus-data \
		--web.listen-address=127.0.0.1:9090

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
