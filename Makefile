# The commands README.md shows. Each sets up what it needs first (tools/setup.sh is idempotent).
VENV ?= .venv
BIN = $(VENV)/bin
CONFIG ?= configs/scenes.py
RUN ?= runs/scenes

.PHONY: setup demo serve test test-slow bench clean

setup:
	tools/setup.sh

EXPORT ?= saved_models
EXAMPLE = $(EXPORT)/examples/example_0

## The main job: generate the scenes data, pretrain the tiny model (resumes if interrupted),
## evaluate it on the test split and print the metrics table (JSON in $(RUN)/metrics.json),
## export a SavedModel and a dynamic-range int8 .tflite into $(EXPORT)/, and run one
## on-device query (a test scene's caption, image and speech) with the .tflite.
demo: setup
	$(BIN)/mmlm data generate --config $(CONFIG) --workdir $(RUN)
	$(BIN)/mmlm pretrain --config $(CONFIG) --workdir $(RUN)
	$(BIN)/mmlm evaluate --config $(CONFIG) --workdir $(RUN) --json $(RUN)/metrics.json
	$(BIN)/mmlm export --workdir $(RUN) --format savedmodel --out $(EXPORT)/scenes
	$(BIN)/mmlm export --workdir $(RUN) --format tflite --quantize dynamic \
	  --out $(EXPORT)/scenes_int8.tflite
	$(BIN)/mmlm data export-examples --config $(CONFIG) --split test --count 1 \
	  --out $(EXPORT)/examples
	$(BIN)/mmlm tflite-run --model $(EXPORT)/scenes_int8.tflite --text "$$(cat $(EXAMPLE).txt)" \
	  --text "a green circle in the bottom left corner" --image $(EXAMPLE).png --audio $(EXAMPLE).wav

## Serve the exported SavedModel over TensorFlow Serving's REST API on 127.0.0.1:8501.
serve: setup
	$(BIN)/mmlm serve --model $(EXPORT)/scenes

## The test suite (slow tests excluded), on both cores.
test: setup
	$(BIN)/python -m pytest -m "not slow" -n 2 --dist loadfile -q --durations=25

test-slow: setup
	$(BIN)/python -m pytest -m slow -n 2 --dist loadfile -q --durations=25

## Benchmarks print tables of measurements.
bench: setup
	$(BIN)/python benchmarks/data_pipeline.py
	$(BIN)/python benchmarks/training.py
	$(BIN)/python benchmarks/tflite_latency.py
	$(BIN)/python benchmarks/tflite_size.py
	$(BIN)/python benchmarks/tflite_decoding.py
	$(BIN)/python benchmarks/decoding.py
	$(BIN)/python benchmarks/attention_memory.py --json attention_memory.json
	$(BIN)/python benchmarks/serving.py $(EXPORT)/scenes

clean:
	rm -rf runs data .pytest_cache
