# The commands README.md shows. Each sets up what it needs first (tools/setup.sh is idempotent).
VENV ?= .venv
BIN = $(VENV)/bin
CONFIG ?= configs/scenes.py

.PHONY: setup demo test test-slow bench clean

setup:
	tools/setup.sh

## The main job: generate the default scenes data set, then inspect it.
demo: setup
	$(BIN)/mmlm data generate --config $(CONFIG)
	$(BIN)/mmlm data inspect --config $(CONFIG)

## The test suite (slow tests excluded), on both cores.
test: setup
	$(BIN)/python -m pytest -m "not slow" -n 2 --dist loadfile -q

test-slow: setup
	$(BIN)/python -m pytest -m slow -q

## Benchmarks print tables of measurements.
bench: setup
	$(BIN)/python benchmarks/data_pipeline.py

clean:
	rm -rf runs data .pytest_cache
