# Two commands a newcomer needs: `make run` and `make test`. Each sets itself up on a fresh clone.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 7071

.PHONY: run run-azurite test demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps record that a requirements file is installed; editing the file reinstalls.
$(VENV)/.runtime: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# local.settings.json is the developer's own (not committed); the example gives the embedded default, and
# settings the example gains later are added to it (the developer's own values stay).
local.settings.json: local.settings.json.example | $(BIN)/python
	$(BIN)/python -m devhost.example_settings local.settings.json.example $@
	@touch $@

# With another PORT (make run PORT=8080) the emails' store link follows it too, unless STORE_URL is set in the
# environment: local.settings.json's STORE_URL names the default port.
ON_PORT := $(if $(filter-out 7071,$(PORT)),STORE_URL="$${STORE_URL:-http://localhost:$(PORT)/api/signup}" )

run: $(VENV)/.runtime local.settings.json
	@echo "Onboarding form: http://localhost:$(PORT)/api/signup   (API: POST/GET http://localhost:$(PORT)/api/signups)"
	@echo "Back-office console: http://localhost:$(PORT)/api/console   (development sign-in, this computer only)"
	$(ON_PORT)$(BIN)/python -m devhost --port $(PORT)

# Azurite (the Azure Storage emulator) for the Azure Storage tests, from package.json into node_modules/.
# Without npm it says so and goes on: the tests that need Azurite skip, or fail under CI=true.
node_modules/.bin/azurite: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the tests that need Azurite will be skipped (and fail under CI=true)"; fi

test: $(VENV)/.dev node_modules/.bin/azurite
	$(BIN)/python -m pytest -q

# The same app on the Azure backend (Storage Queues and Tables) against the project's Azurite.
run-azurite: $(VENV)/.runtime local.settings.json node_modules/.bin/azurite
	$(ON_PORT)$(BIN)/python -m devhost --port $(PORT) --azurite

demo: $(VENV)/.runtime
	$(BIN)/b2b demo

# Some benches run on Azurite (bench_azurite.py, bench_azure_requests.py).
bench: $(VENV)/.dev node_modules/.bin/azurite
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .data .pytest_cache .hypothesis node_modules
