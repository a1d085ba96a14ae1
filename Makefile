# Two commands on a fresh machine: `make build-dataset` and `make test`. Both run `make setup`
# first when the environment is missing or older than pyproject.toml.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-complete
CONFIG ?= configs/default.yaml
OUTPUT ?= output/default
ARGS   ?=

.PHONY: setup build-dataset test test-fast lint clean

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $(STAMP)

setup: $(STAMP)
	@$(PY) -m pipelines.models.embedded >/dev/null

build-dataset: setup
	$(PY) -m pipelines.build_dataset --config $(CONFIG) --output $(OUTPUT) --overwrite $(ARGS)

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not embedded"

lint: setup
	$(PY) -m ruff check pipelines tests
	$(PY) -m ruff format --check pipelines tests

clean:
	rm -rf output .pytest_cache .ruff_cache
