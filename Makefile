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

faults: $(STAMP)
	@$(BIN)/python -m pytest -m faults $(PYTEST_ARGS)

bench: $(STAMP)
	@$(BIN)/python -m bench

clean:
	rm -rf var test-artifacts
