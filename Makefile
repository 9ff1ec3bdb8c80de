# The commands README.md shows. Each sets up what it needs first (tools/setup.sh is idempotent).
VENV ?= .venv
BIN = $(VENV)/bin
CONFIG ?= configs/scenes.py
RUN ?= runs/scenes

.PHONY: setup demo test test-slow bench clean

setup:
	tools/setup.sh

## The main job: generate the scenes data, pretrain the tiny model (resumes if interrupted),
## evaluate it on the test split and print the metrics table (JSON in $(RUN)/metrics.json).
demo: setup
	$(BIN)/mmlm data generate --config $(CONFIG) --workdir $(RUN)
	$(BIN)/mmlm pretrain --config $(CONFIG) --workdir $(RUN)
	$(BIN)/mmlm evaluate --config $(CONFIG) --workdir $(RUN) --json $(RUN)/metrics.json

## The test suite (slow tests excluded), on both cores.
test: setup
	$(BIN)/python -m pytest -m "not slow" -n 2 --dist loadfile -q

test-slow: setup
	$(BIN)/python -m pytest -m slow -n 2 --dist loadfile -q

## Benchmarks print tables of measurements.
bench: setup
	$(BIN)/python benchmarks/data_pipeline.py
	$(BIN)/python benchmarks/training.py

clean:
	rm -rf runs data .pytest_cache
