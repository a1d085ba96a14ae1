# Two commands on a fresh machine: `make build-dataset` and `make test`. Both run `make setup`
# first when the environment is missing or older than pyproject.toml.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-complete
CONFIG ?= configs/default.yaml
OUTPUT ?= output/default
ARGS   ?=

.PHONY: setup build-dataset validate sample test test-fast bench bench-scale lint clean

$(STAMP): pyproject.toml scripts/setup.sh constraints.txt
	bash scripts/setup.sh $(VENV)
	touch $(STAMP)

setup: $(STAMP)
	@$(PY) -m pipelines.models.embedded >/dev/null

build-dataset: setup
	$(PY) -m pipelines.build_dataset --config $(CONFIG) --output $(OUTPUT) --overwrite $(ARGS)
	$(PY) -m pipelines.validate $(OUTPUT)

# Check a dataset folder (this run's or one made elsewhere) against the schemas and rules.
validate: setup
	$(PY) -m pipelines.validate $(OUTPUT)

# Attributes only, no LLM: inspect a population before paying for generation.
sample: setup
	$(PY) -m pipelines.sample_attributes --config $(CONFIG) --output output/sample --overwrite $(ARGS)

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not embedded"

# Benchmarks print numbers and ratios measured side by side in one run; they assert nothing on time.
bench: setup
	$(PY) benchmarks/bench_sampling.py
	$(PY) benchmarks/bench_generation.py
	$(PY) benchmarks/bench_dedup.py
	$(PY) benchmarks/bench_embedding.py
	$(PY) benchmarks/calibrate_dedup.py
	$(PY) -m pipelines.critique.evaluate tests/fixtures/critic_eval
	$(PY) benchmarks/bench_scale.py

# The whole build (N personas with dialogues) against the local test server, on the multi-process
# direct runner and on the portable stack: wall, stage spans, personas/s, peak RSS, CPU per persona.
bench-scale: setup
	$(PY) benchmarks/bench_scale.py $(ARGS)

lint: setup
	$(PY) -m ruff check pipelines tests benchmarks
	$(PY) -m ruff format --check pipelines tests benchmarks

clean:
	rm -rf output .pytest_cache .ruff_cache
