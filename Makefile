# The two set-up commands of the README: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test install bytecode lint translations faults bench soak scale-test clean

$(STAMP): pyproject.toml
	@bash deploy/bootstrap.sh "$(PYTHON)" "$(VENV)"
	@touch $(STAMP)

install: $(STAMP)

# Bytecode for the checkout, as `pip install .` writes it in the image: the Temporal sandbox
# re-imports the workflow module for every workflow run, and where PYTHONDONTWRITEBYTECODE is set
# (as on these machines) each of those imports compiled it again. Only changed files recompile.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q -j0 shared services deploy bench tests >/dev/null

run: bytecode
	@$(BIN)/nuanliu run

test: bytecode
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff, and mypy (strict on the pure rules and the workflows): both must be clean.
lint: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/mypy

# The console's gettext catalogs: .po (edited by hand) compiled to the committed .mo files.
translations: $(STAMP)
	@$(BIN)/pybabel compile -d services/console/translations -D messages

# The fault-injection scenarios alone (they also run in `make test`).
faults: bytecode
	@$(BIN)/python -m pytest -m faults tests/faults $(PYTEST_ARGS)

# Every benchmark in bench/ as one table, then peak RSS per process of a loaded stack.
bench: bytecode
	@$(BIN)/python -m bench

# Mixed open-model load, 10 minutes per database by default (SOAK_SECONDS=120 to shorten).
soak: bytecode
	@$(BIN)/python -m bench.soak

# The scale-out proof: a 3-node RabbitMQ cluster, two replicas of every process, a broker node and
# one replica of each kind killed under load, then a reconciliation (SCALE_SECONDS=180; ~5 min).
scale-test: bytecode
	@$(BIN)/python -m bench.scale_out

clean:
	rm -rf var test-artifacts
