"""Batch-1 latency of on-device `.tflite` files, per signature, through ai-edge-litert.

    python benchmarks/tflite_latency.py [FILES ...] [--runs 200] [--threads 1,2] [--json PATH]

Default files: the variants `mmlm compress` wrote to runs/scenes/compress/*.tflite. Each
signature of each file is called with zeros of its input shapes (latency does not depend on the
values for these models), 5 warm-up calls, then `--runs` timed calls; the table shows the
median and the 90th percentile in milliseconds and the speedup of the sum over the three
embedding signatures against `float32.tflite`.

Numbers are only meaningful on an otherwise idle machine: the load average is printed first.
"""

import argparse
import glob
import json
import os

import numpy as np

import mmlm  # noqa: F401  (selects tf_keras)
from mmlm.serving.tflite_runner import TFLiteRunner

EMBEDDINGS = ("embed_text", "embed_image", "embed_audio")


def zeros_feed(runner, signature):
    feed = {}
    for name, detail in runner.input_details(signature).items():
        feed[name] = np.zeros(detail["shape"], detail["dtype"])
        if name == "audio_length":
            feed[name][:] = 1
    return feed


def time_signature(runner, signature, runs):
    times = runner.time_calls(zeros_feed(runner, signature), signature, runs, warmup=5)
    return {"median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", default=None)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    files = args.files or sorted(glob.glob("runs/scenes/compress/*.tflite"))
    if not files:
        raise SystemExit("no .tflite files: run `mmlm compress` (or `make demo`) first")
    print(f"load average: {os.getloadavg()}")
    results = {}
    for threads in (int(t) for t in args.threads.split(",")):
        for path in files:
            with open(path, "rb") as f:
                runner = TFLiteRunner(f.read(), num_threads=threads)
            name = os.path.splitext(os.path.basename(path))[0]
            results[f"{name}@{threads}"] = {
                s: time_signature(runner, s, args.runs) for s in runner.signatures
            }
    print_table(results)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


def print_table(results):
    signatures = sorted({s for row in results.values() for s in row})
    header = f"{'model@threads':<24}" + "".join(f"{s:>22}" for s in signatures)
    print(header + f"{'embed sum':>11}{'speedup':>9}")
    print(f"{'':<24}" + "".join(f"{'median / p90 ms':>22}" for _ in signatures))
    for key, row in results.items():
        cells = "".join(
            f"{row[s]['median_ms']:>13.2f} / {row[s]['p90_ms']:<6.2f}" if s in row else f"{'-':>22}"
            for s in signatures
        )
        total = sum(row[s]["median_ms"] for s in EMBEDDINGS if s in row)
        base = results.get("float32@" + key.split("@")[1])
        base_total = sum(base[s]["median_ms"] for s in EMBEDDINGS if s in base) if base else None
        speedup = f"{base_total / total:9.2f}" if base_total else f"{'-':>9}"
        print(f"{key:<24}{cells}{total:>11.2f}{speedup}")


if __name__ == "__main__":
    main()
