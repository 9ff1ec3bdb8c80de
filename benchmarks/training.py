"""Training throughput and model FLOPs utilization (MFU) of the pretraining step on this machine.

    python benchmarks/training.py [--presets tiny,base] [--batch-size 32] [--steps 10]
                                  [--quick] [--json PATH]

Times the real training step (`PretrainingTask.train_function`: every loss term of
`configs/scenes.py`, AdamW, clipping, metrics) for each preset × {float32, mixed_bfloat16} ×
{XLA off, on}, on synthetic in-memory batches with the shapes of `configs/scenes.py` (masks
from the real mask generators): the data pipeline is not measured here (see
`benchmarks/data_pipeline.py`). The step time is the median over the timed steps (after 3
warm-up steps; the first, which traces and compiles, is reported on its own). `--quick` times 3
steps after 1 warm-up step and measures the peak on 2048² matmuls.

MFU = model FLOP/s (`mmlm.models.flops.pretraining_flops` × examples/s) ÷ this machine's peak,
the best of a few 4096² float32 / bfloat16 matmuls on every core, run before and after the
training runs; each configuration is compared with the peak of its compute dtype. Then, for `base` in float32
without XLA, where the time goes: forward vs forward + backward vs the whole step, and each
tower's forward alone.

Numbers are only meaningful on an otherwise idle machine: the load average is printed first.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
from absl import logging as absl_logging
from timing import median_seconds

import mmlm  # noqa: F401  (selects tf_keras)
from mmlm.backend import keras, tf
from mmlm.config import load_config
from mmlm.data import factory
from mmlm.data.preprocessing import vocabulary as vocab_lib
from mmlm.data.preprocessing.text_preprocessor import TextPreprocessor
from mmlm.models.flops import backbone_flops, pretraining_flops
from mmlm.tasks.builders import build_pretraining_task
from mmlm.training.schedules import make_optimizer
from mmlm.training.strategy import set_precision

VOCABULARY_SIZE = 125  # the scenes WordPiece vocabulary
PRECISIONS = ("float32", "mixed_bfloat16")
COMPUTE_DTYPE = {"float32": "float32", "mixed_bfloat16": "bfloat16"}


def matmul_peak(dtype, size, runs):
    """Best FLOP/s of a (size × size) matmul in `dtype` (a `tf.function`, every core)."""
    a = tf.random.uniform((size, size), dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)
    matmul = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y), tf.float32)))
    matmul(a, b).numpy()  # trace, and warm the caches
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best


def synthetic_batch(config, batch_size, seed=0):
    """A batch with the shapes, dtypes and masks the scenes training pipeline produces."""
    rng = np.random.default_rng(seed)
    d = config.data
    words = [f"w{i}" for i in range(VOCABULARY_SIZE - len(vocab_lib.RESERVED_TOKENS))]
    text = TextPreprocessor(list(vocab_lib.RESERVED_TOKENS) + words, d.text.sequence_length)
    captions = [
        " ".join(rng.choice(words, rng.integers(6, d.text.sequence_length - 2)))
        for _ in range(batch_size)
    ]
    batch = dict(text(tf.constant(captions)))
    size, samples = d.image.image_size, round(d.audio.sample_rate * d.audio.duration_seconds)
    batch["images"] = tf.constant(rng.uniform(0, 1, (batch_size, size, size, 3)), tf.float32)
    lengths = rng.integers(2 * d.audio.sample_rate, samples + 1, batch_size)  # speech of 2 s+
    audio_mask = np.arange(samples)[None, :] < lengths[:, None]
    noise = rng.uniform(-0.3, 0.3, (batch_size, samples))
    batch["audio"] = tf.constant(np.where(audio_mask, noise, 0.0), tf.float32)
    batch["audio_padding_mask"] = tf.constant(audio_mask)
    for m in ("text", "image", "audio"):
        batch[f"{m}_present"] = tf.ones((batch_size,), tf.bool)
    generators = factory.mask_generators(
        d,
        config.objective,
        text,
        config.model.image_patch_size,
        config.model.spectrogram_patch_size,
    )
    masked = generators["text"](batch["token_ids"])
    batch["masked_token_ids"] = masked["token_ids"]
    for key in ("mask_positions", "mask_ids", "mask_weights"):
        batch[key] = masked[key]
    batch["image_patch_mask"] = generators["image"](batch["images"])
    batch["audio_patch_mask"] = generators["audio"](batch["audio"])
    return batch


def build_task(config):
    """The compiled task of `config`, built as `mmlm.training.trainer.run` builds it."""
    task = build_pretraining_task(config, VOCABULARY_SIZE)
    task.compile(
        optimizer=make_optimizer(config.trainer),
        jit_compile=config.runtime.jit_compile,
        steps_per_execution=1,
    )
    return task


def time_training(task, batch, steps, warmup):
    """(first step s, median step s) of `task.train_function` on a repeated in-memory batch."""
    task.compute_losses(batch, training=False)  # creates the variables, as the trainer does
    task.optimizer.build(task.trainable_variables)
    train_function = task.make_train_function()
    iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())

    def step():
        float(train_function(iterator)["loss"])

    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    return first, median_seconds(step, steps, warmup=max(warmup - 1, 0))


def benchmark(config, batch, args):
    """One row: throughput and FLOPs of `config`, or the error that stopped it."""
    r = config.runtime
    row = {
        "preset": config.model.preset.value,
        "precision": r.precision.value,
        "xla": r.jit_compile,
        "batch_size": args.batch_size,
    }
    keras.backend.clear_session()
    previous = set_precision(r)
    try:
        task = build_task(config)
        flops = pretraining_flops(
            task, config.data.text.sequence_length, config.objective.mlm_max_selections
        )
        row["gflops_per_example"] = flops["total"] / 1e9
        row["first_step_s"], row["step_s"] = time_training(task, batch, args.steps, args.warmup)
        row["examples_per_s"] = args.batch_size / row["step_s"]
        row["tflops"] = flops["total"] * row["examples_per_s"] / 1e12
    except Exception as error:  # noqa: BLE001  (a failed configuration is a result too)
        row["error"] = _message(error)
    else:
        if row["preset"] == "base" and r.precision.value == "float32" and not r.jit_compile:
            try:
                row["breakdown"] = time_breakdown(task, batch, row["step_s"], args.repeats)
            except Exception as error:  # noqa: BLE001
                print(f"breakdown failed: {_message(error)}", file=sys.stderr)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return row


def _message(error):
    lines = str(error).strip().splitlines() or [""]
    return f"{type(error).__name__}: {lines[0][:200]}"


def _tower_functions(task, batch):
    """[(tower, runs per step, forward function, forward FLOPs per example)]."""
    backbone = task.backbone
    text, image, audio = (backbone.encoders[m] for m in ("text", "image", "audio"))
    fusion, decoder = backbone.fusion_encoder, backbone.text_decoder
    text_inputs = {k: batch[k] for k in ("token_ids", "padding_mask")}
    image_inputs = {"images": batch["images"]}
    audio_inputs = {k: batch[k] for k in ("audio", "audio_padding_mask")}
    encoded = {
        "text": text(text_inputs),
        "image": image(image_inputs),
        "audio": audio(audio_inputs),
    }
    fusion_inputs = {}
    for m, out in encoded.items():
        mask = batch["padding_mask"] if m == "text" else out["padding_mask"]
        fusion_inputs.update({f"{m}_sequence": out["sequence_output"], f"{m}_padding_mask": mask})
        fusion_inputs[f"{m}_present"] = batch[f"{m}_present"]
    fused = fusion(fusion_inputs)
    decoder_inputs = {
        "decoder_token_ids": batch["token_ids"][:, :-1],
        "decoder_padding_mask": batch["padding_mask"][:, :-1],
        "encoder_sequence": fused["sequence_output"],
        "encoder_padding_mask": fused["padding_mask"],
    }
    f = backbone_flops(backbone, batch["token_ids"].shape[1])
    # The masked passes run each encoder a second time (same cost: masking is a select).
    return [
        ("text encoder", 2, lambda: text(text_inputs, training=True), f["text_encoder"]),
        ("image encoder", 2, lambda: image(image_inputs, training=True), f["image_encoder"]),
        (
            "audio encoder + log-mel",
            2,
            lambda: audio(audio_inputs, training=True),
            f["audio_encoder"] + f["audio_frontend"],
        ),
        (
            "  of which log-mel",
            2,
            lambda: audio.frontend(audio_inputs["audio"], audio_inputs["audio_padding_mask"]),
            f["audio_frontend"],
        ),
        ("fusion encoder", 1, lambda: fusion(fusion_inputs, training=True), f["fusion_encoder"]),
        ("text decoder", 1, lambda: decoder(decoder_inputs, training=True), f["text_decoder"]),
    ]


def _run(function):
    return lambda: [t.numpy() for t in tf.nest.flatten(function())[:1]]


def _timed_rounds(functions, repeats):
    """Median seconds of each function, timed in interleaved rounds (load drifts evenly)."""
    runs = {name: _run(tf.function(function)) for name, function in functions.items()}
    for run in runs.values():
        run()  # trace
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def time_breakdown(task, batch, step_s, repeats):
    """Forward, forward + backward and per-tower forward times of one batch (seconds)."""

    def forward():
        return task.compute_losses(batch, training=True)

    def gradient_norm():
        with tf.GradientTape() as tape:
            losses = task.compute_losses(batch, training=True)
            total = tf.add_n([task.loss_weights[name] * loss for name, loss in losses.items()])
        return tf.linalg.global_norm(tape.gradient(total, task.trainable_variables))

    towers = _tower_functions(task, batch)
    functions = {"forward": forward, "forward_backward": gradient_norm}
    functions.update({name: function for name, _, function, _ in towers})
    seconds = _timed_rounds(functions, repeats)
    size = batch["token_ids"].shape[0]
    return {
        "forward_s": seconds["forward"],
        "forward_backward_s": seconds["forward_backward"],
        "step_s": step_s,
        "towers": [
            {"tower": name, "runs": runs, "s_per_run": seconds[name], "gflops": flops * size / 1e9}
            for name, runs, _, flops in towers
        ],
    }


def print_rows(rows):
    print(
        f"{'preset':<7}{'precision':<16}{'xla':<5}{'examples/s':>11}{'step ms':>10}"
        f"{'1st step s':>11}{'GFLOPs/ex':>11}{'TFLOP/s':>9}{'MFU':>8}"
    )
    for row in rows:
        head = f"{row['preset']:<7}{row['precision']:<16}{'on' if row['xla'] else 'off':<5}"
        if "error" in row:
            print(f"{head}error: {row['error']}")
            continue
        print(
            f"{head}{row['examples_per_s']:>11.2f}{row['step_s'] * 1e3:>10.0f}"
            f"{row['first_step_s']:>11.1f}{row['gflops_per_example']:>11.2f}"
            f"{row['tflops']:>9.3f}{row['mfu']:>8.1%}"
        )


def print_breakdown(row):
    b = row["breakdown"]
    forward, backward = b["forward_s"], b["forward_backward_s"]
    print(f"\nwhere the time goes: base, float32, XLA off, batch {row['batch_size']}")
    print(f"{'forward (every pass, losses)':<40}{forward * 1e3:>9.0f} ms")
    print(
        f"{'forward + backward (gradients)':<40}{backward * 1e3:>9.0f} ms"
        f"   backward / forward = {(backward - forward) / forward:.2f} (2 by FLOPs)"
    )
    print(f"{'whole step (+ AdamW, clipping, metrics)':<40}{b['step_s'] * 1e3:>9.0f} ms")
    towers = [t for t in b["towers"] if not t["tower"].startswith(" ")]  # not the sub-rows
    seconds = sum(t["runs"] * t["s_per_run"] for t in towers)
    gflops = sum(t["runs"] * t["gflops"] for t in towers)
    print(
        f"{'forward of one tower alone':<28}{'runs':>5}{'ms/run':>9}{'% time':>8}"
        f"{'% FLOPs':>9}{'GFLOP/s':>9}"
    )
    for t in b["towers"]:
        print(
            f"{t['tower']:<28}{t['runs']:>5}{t['s_per_run'] * 1e3:>9.0f}"
            f"{t['runs'] * t['s_per_run'] / seconds:>8.1%}{t['runs'] * t['gflops'] / gflops:>9.1%}"
            f"{t['gflops'] / t['s_per_run']:>9.1f}"
        )
    print(
        f"(the towers timed alone add up to {seconds * 1e3:.0f} ms, the whole forward takes "
        f"{forward * 1e3:.0f} ms: the difference is the task heads, losses and overhead, less "
        "what the forward overlaps across the cores)"
    )


def _describe(row):
    name = f"{row['preset']} {row['precision']} XLA {'on' if row['xla'] else 'off'}"
    if "error" in row:
        return f"{name}: {row['error']}"
    return f"{name}: {row['examples_per_s']:.2f} examples/s"


def _configs(args):
    for preset in args.presets.split(","):
        for precision in PRECISIONS:
            for xla in (False, True):
                overrides = args.overrides + [
                    f"model.preset={preset}",
                    f"runtime.precision={precision}",
                    f"runtime.jit_compile={str(xla).lower()}",
                    f"data.global_batch_size={args.batch_size}",
                ]
                yield load_config(args.config, overrides)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/scenes.py")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--presets", default="tiny,base")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration")
    parser.add_argument("--quick", action="store_true", help="3 timed steps, smaller peak matmuls")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    args.warmup, args.repeats = (1, 3) if args.quick else (3, 5)
    args.steps = min(args.steps, 3) if args.quick else args.steps
    size, runs = (2048, 3) if args.quick else (4096, 5)
    absl_logging.set_verbosity(absl_logging.ERROR)  # keras-nlp's padding-mask notices

    load = os.getloadavg()[0]
    # The peak is the best of runs before and after the training runs: a busy moment on
    # either side would otherwise inflate every MFU.
    before = {dtype: matmul_peak(dtype, size, runs) for dtype in COMPUTE_DTYPE.values()}
    rows = []
    for config in _configs(args):
        rows.append(benchmark(config, synthetic_batch(config, args.batch_size), args))
        print(f"measured {_describe(rows[-1])}", file=sys.stderr, flush=True)
    peaks = {dtype: max(before[dtype], matmul_peak(dtype, size, runs)) for dtype in before}
    for row in rows:
        if "tflops" in row:
            row["mfu"] = row["tflops"] * 1e12 / peaks[COMPUTE_DTYPE[row["precision"]]]

    print(
        f"training throughput, shapes of {args.config}, batch {args.batch_size}, synthetic "
        "in-memory batches (the data pipeline is not measured)"
    )
    print(
        f"load average before: {load:.2f} on {os.cpu_count()} cores"
        + ("  (other processes are running: numbers are contended)" if load > 0.5 else "")
    )
    print(
        f"matmul peak ({size}², best of {runs} before and {runs} after): "
        + ", ".join(f"{dtype} {flops / 1e9:.0f} GFLOP/s" for dtype, flops in peaks.items())
    )
    print_rows(rows)
    if any(row.get("mfu", 0) > 1 for row in rows):
        print("MFU above 100%: the peak was measured while other processes ran; rerun idle.")
    for row in rows:
        if "breakdown" in row:
            print_breakdown(row)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"load_average": load, "peaks": peaks, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
