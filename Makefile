# The two set-up commands of the README: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test install lint faults bench soak clean

$(STAMP): pyproject.toml
	@bash deploy/bootstrap.sh "$(PYTHON)" "$(VENV)"
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@$(BIN)/nuanliu run

test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check .

# The fault-injection scenarios alone (they also run in `make test`).
faults: $(STAMP)
	@$(BIN)/python -m pytest -m faults tests/faults $(PYTEST_ARGS)

# Every benchmark in bench/ as one table, then peak RSS per process of a loaded stack.
bench: $(STAMP)
	@$(BIN)/python -m bench

# Mixed open-model load, 10 minutes per database by default (SOAK_SECONDS=120 to shorten).
soak: $(STAMP)
	@$(BIN)/python -m bench.soak

clean:
	rm -rf var test-artifacts
