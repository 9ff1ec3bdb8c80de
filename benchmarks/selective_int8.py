"""Which scopes full int8 must leave in float: per-tower error and R@1 of each choice.

    python benchmarks/selective_int8.py --workdir runs/scenes [--set K=V ...] [--json PATH]

Converts the trained run's three embedding signatures to a float32 `.tflite` (tensor names
kept), calibrates once on `compression.representative_examples` training examples (the same
ones `mmlm compress` uses), then quantizes with litert-quantizer once per candidate set of
float scopes (`mmlm.compression.selective_int8`): nothing float but the signature
inputs/outputs, the log-mel frontend, the frontend plus each other candidate (LayerNorms,
softmax, projection heads, patch/token embeddings), and the whole audio tower. Each file is
measured on the test split (`compression.eval_examples`, 0 = all) through the `.tflite`:
per-tower cosine (mean, min) and SNR against the float32 `.tflite`, and R@1.
"""

import argparse
import json

import mmlm  # noqa: F401  (selects tf_keras)
from mmlm.compression.selective_int8 import calibrate, quantize_selectively
from mmlm.compression.tflite import convert_signatures
from mmlm.config import load_config
from mmlm.experiments.artifacts import load_backbone
from mmlm.experiments.compress import recall_at_1, tflite_embeddings, tower_error
from mmlm.experiments.data import ExperimentData
from mmlm.experiments.export import on_device_examples, on_device_module
from mmlm.serving.tflite_runner import TFLiteRunner

FRONTEND = ("/frontend/",)
CANDIDATES = {
    "none": (),  # all int8 but the signature inputs/outputs
    "frontend": FRONTEND,
    "frontend+layernorm": FRONTEND + ("layer_norm/", "final_norm/", "/norm/"),  # the default
    "frontend+softmax": FRONTEND + ("softmax/",),
    "frontend+projection": FRONTEND + ("_projection/",),
    "frontend+embeddings": FRONTEND + ("patch_embedding/", "embeddings_add/", "token_embedding/"),
    "audio_tower": ("^audio_",),
}


def measure(content, examples, reference):
    embeddings = tflite_embeddings(TFLiteRunner(content), examples)
    return {
        "size_bytes": len(content),
        "R@1": recall_at_1(embeddings),
        "tower_error": tower_error(reference, embeddings),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="runs/scenes")
    parser.add_argument("--config", default=None, help="default: WORKDIR/config.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--json", default=None)
    parser.add_argument(
        "--candidates", default=",".join(CANDIDATES), help="comma-separated keys of CANDIDATES"
    )
    args = parser.parse_args()
    chosen = args.candidates.split(",")
    unknown = sorted(set(chosen) - set(CANDIDATES))
    if unknown:
        parser.error(f"unknown candidates {unknown}; choose from {sorted(CANDIDATES)}")
    config = load_config(args.config or f"{args.workdir}/config.yaml", args.overrides)
    data = ExperimentData(config, args.workdir)
    module = on_device_module(config, data, load_backbone(args.workdir), caption=False)
    float_content = convert_signatures(module, module.signatures(), "none", strip_names=False)
    count = config.compression.eval_examples or data.source.num_examples("test")
    examples = list(on_device_examples(data, "test", count))
    train = list(on_device_examples(data, "train", config.compression.representative_examples))

    def representative():
        for example in train:
            for name in module.signatures():
                yield name, example[name]

    reference = tflite_embeddings(TFLiteRunner(float_content), examples)
    results = {"float32": measure(float_content, examples, reference)}
    print_row("float32", results["float32"], flush=True)
    ranges = calibrate(float_content, representative)
    for label in chosen:
        scopes = CANDIDATES[label]
        content = quantize_selectively(float_content, None, scopes, ranges=ranges)
        results[label] = {"float_scopes": list(scopes), **measure(content, examples, reference)}
        print_row(label, results[label], flush=True)
    print(f"({len(examples)} test examples; sizes with tensor names, which compress strips)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


def _snr(value):
    return "inf" if value is None else f"{value:.1f}"


def print_row(label, row, flush=False):
    cells = "  ".join(
        f"{m} {e['cosine_mean']:.4f}/{e['cosine_min']:.3f}/{_snr(e['snr_db'])}dB"
        for m, e in row["tower_error"].items()
    )
    recall = " ".join(f"{d} {v:.3f}" for d, v in row["R@1"].items())
    print(f"{label:<20} {row['size_bytes'] / 1e6:5.2f} MB  {recall}  {cells}", flush=flush)


if __name__ == "__main__":
    main()
