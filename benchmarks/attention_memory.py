"""Peak memory and step time of a text-tower training step: dense vs chunked attention.

    python benchmarks/attention_memory.py [--lengths 32,64,...,2048] [--batch-size 64]
                                          [--steps 3] [--memory-limit-gb 12] [--json PATH]

The text tower of issue 20's reference workload (hidden 256, 4 layers, 4 heads, MLP 1024) is
trained one AdamW step at a time on a batch of 64 token sequences of each length (padded rows:
each row's length is drawn between half and all of the positions), with an InfoNCE loss
between its projected pooled output and fixed random unit targets (so the whole tower gets
gradients), with `attention_implementation="dense"`, with "chunked" (query chunks of
`--chunk-size`, recomputed in the backward pass) and with "recompute" (chunked attention and
every block recomputed in the backward pass: `mmlm.layers.recompute_blocks`, as
`runtime.recompute_blocks=true` does in training).

Peak memory: every (length, implementation) runs in a fresh Python subprocess, and its peak
is the kernel's high-water mark of that process's resident memory (`ru_maxrss` of the child
from `os.wait4`, the same value as `VmHWM`). It includes the TensorFlow runtime, the weights,
the optimizer state and the batch, so the table also gives each worker's high-water mark
before its first training step (`base`: the runtime, the weights and the eager forward pass
that created them). Unlike a time, this peak does not depend on what else runs on
the machine (the working set of a process is its own; there is no swap here). A run whose
resident memory passes `--memory-limit-gb` is stopped (the parent polls `VmRSS` every 50 ms)
and reported as "> limit", so a dense run at 2048 tokens cannot exhaust a shared machine.

Step time: the median of `--steps` steps after one warm-up step (the first step, which traces,
is reported apart; `--steps 0` runs that first step only, enough for the peak). It is only
meaningful on an idle machine: the load average before each run is recorded, and the table
says when the machine was not idle.
"""

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LENGTHS = (32, 64, 128, 256, 512, 1024, 2048)
IMPLEMENTATIONS = ("dense", "chunked", "recompute")
TOWER = {"hidden_dim": 256, "num_layers": 4, "num_heads": 4, "intermediate_dim": 1024}
VOCABULARY_SIZE = 1000
IDLE_LOAD = 0.5  # load average per machine above which a timing is marked "not idle"


def _kilobytes_to_gb(kilobytes):
    return kilobytes * 1024 / 1e9


def worker(args):
    """One configuration in this process; prints one JSON line."""
    import numpy as np

    import mmlm  # noqa: F401  (selects tf_keras)
    from mmlm.backend import keras, tf
    from mmlm.layers import recompute_blocks
    from mmlm.models import TextEncoder

    keras.mixed_precision.set_global_policy(args.precision)
    keras.utils.set_random_seed(0)
    length, batch_size = args.length, args.batch_size
    encoder = TextEncoder(
        VOCABULARY_SIZE,
        length,
        **TOWER,
        attention_implementation="dense" if args.implementation == "dense" else "chunked",
        attention_chunk_size=args.chunk_size,
        name="text_encoder",
    )
    if args.implementation == "recompute":
        recompute_blocks(encoder)
    projection = keras.layers.Dense(128, dtype="float32", name="projection")
    optimizer = keras.optimizers.AdamW(1e-4)
    rng = np.random.default_rng(0)
    lengths = rng.integers(length // 2, length + 1, batch_size)
    padding_mask = tf.constant(np.arange(length)[None, :] < lengths[:, None])
    token_ids = tf.constant(
        np.where(padding_mask, rng.integers(5, VOCABULARY_SIZE, (batch_size, length)), 0),
        tf.int32,
    )
    targets = tf.math.l2_normalize(tf.constant(rng.normal(size=(batch_size, 128)), tf.float32), -1)

    def loss_fn():
        pooled = encoder({"token_ids": token_ids, "padding_mask": padding_mask}, training=True)
        embeddings = tf.math.l2_normalize(projection(pooled["pooled_output"]), -1)
        logits = tf.matmul(embeddings, targets, transpose_b=True) / 0.07
        labels = tf.range(batch_size)
        return tf.reduce_mean(
            keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        )

    @tf.function(jit_compile=args.xla)
    def train_step():
        with tf.GradientTape() as tape:
            loss = loss_fn()
        variables = encoder.trainable_variables + projection.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    loss_fn()  # creates the weights
    optimizer.build(encoder.trainable_variables + projection.trainable_variables)
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    float(train_step())
    first = time.perf_counter() - start
    times, loss = [], None
    for _ in range(args.steps + 1 if args.steps else 0):  # the first of these is a warm-up
        start = time.perf_counter()
        loss = float(train_step())
        times.append(time.perf_counter() - start)
    print(
        json.dumps(
            {
                "base_gb": _kilobytes_to_gb(base_kb),
                "first_step_s": first,
                "step_s": statistics.median(times[1:]) if times else None,
                "loss": loss,
            }
        ),
        flush=True,
    )


def _rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return 0
    return 0


def measure(length, implementation, args):
    """Runs one configuration in a fresh subprocess; returns its row."""
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        f"--length={length}",
        f"--implementation={implementation}",
        f"--batch-size={args.batch_size}",
        f"--steps={args.steps}",
        f"--chunk-size={args.chunk_size}",
        f"--precision={args.precision}",
    ] + (["--xla"] if args.xla else [])
    row = {"length": length, "implementation": implementation, "load_average": os.getloadavg()[0]}
    limit_kb = args.memory_limit_gb * 1e9 / 1024
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        killed, status, usage = _wait_within(process.pid, limit_kb)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped by os.wait4 already
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    # The child's own rusage: ru_maxrss is its peak resident memory (kilobytes on Linux).
    row["peak_gb"] = _kilobytes_to_gb(usage.ru_maxrss)
    if killed:
        row["error"] = f"stopped: resident memory passed {args.memory_limit_gb:g} GB"
    elif process.returncode != 0:
        row["error"] = (stderr.strip().splitlines() or ["failed"])[-1][:200]
    else:
        row.update(json.loads(stdout.strip().splitlines()[-1]))
    return row


def _wait_within(pid, limit_kb):
    """Waits for `pid`, killing it if its resident memory passes `limit_kb`.

    Returns (killed, wait status, rusage of the child)."""
    killed = False
    while True:
        reaped, status, usage = os.wait4(pid, os.WNOHANG)
        if reaped:
            return killed, status, usage
        if not killed and _rss_kb(pid) > limit_kb:
            os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(0.05)


def _row_text(row, idle):
    head = f"{row['length']:>7}  {row['implementation']:<10}"
    peak = "" if row.get("peak_gb") is None else f"{row['peak_gb']:.2f}"
    if "error" in row:
        return f"{head}{'> ' + peak if 'stopped' in row['error'] else peak:>10}  {row['error']}"
    time_note = "" if row["load_average"] <= idle else "  (not idle)"
    step = "-" if row["step_s"] is None else f"{row['step_s'] * 1e3:.0f}"
    return (
        f"{head}{peak:>10}{row['base_gb']:>8.2f}{step:>11}"
        f"{row['first_step_s']:>10.1f}{row['load_average']:>7.2f}{time_note}"
    )


def print_table(rows, args):
    idle = IDLE_LOAD * os.cpu_count()
    print(
        f"text tower (hidden 256, 4 layers, 4 heads, MLP 1024) training step, batch "
        f"{args.batch_size}, {args.precision}, XLA {'on' if args.xla else 'off'}, chunks of "
        f"{args.chunk_size} queries; peak = ru_maxrss of a fresh process per row"
    )
    print(
        f"{'tokens':>7}  {'attention':<10}{'peak GB':>10}{'base GB':>8}{'step ms':>11}"
        f"{'1st s':>10}{'load':>7}"
    )
    for row in rows:
        print(_row_text(row, idle))
    loaded = [r for r in rows if r["load_average"] > idle]
    if loaded:
        print(
            f"{len(loaded)} of {len(rows)} rows ran with a load average above {idle:.1f} (other "
            "processes running): their step times are not valid; the peaks are."
        )
    _print_targets(rows, idle)


def _find(rows, length, implementation):
    return next(
        (r for r in rows if r["length"] == length and r["implementation"] == implementation), None
    )


def _print_targets(rows, idle):
    for implementation in IMPLEMENTATIONS[1:]:
        row = _find(rows, 512, implementation)
        if row and row.get("peak_gb") is not None and "error" not in row:
            met = "met" if row["peak_gb"] <= 3.0 else "NOT met"
            print(
                f"target: peak at 512 tokens <= 3 GB ({implementation}): "
                f"{row['peak_gb']:.2f} GB, {met}"
            )
    dense, chunked = _find(rows, 128, "dense"), _find(rows, 128, "chunked")
    if dense and chunked and dense.get("step_s") and chunked.get("step_s"):
        ratio = chunked["step_s"] / dense["step_s"]
        valid = max(dense["load_average"], chunked["load_average"]) <= idle
        verdict = ("met" if ratio <= 1.10 else "NOT met") if valid else "not valid (not idle)"
        print(f"target: time at 128 tokens <= 1.10x dense: {ratio:.2f}x, {verdict}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default=",".join(map(str, LENGTHS)))
    parser.add_argument("--implementations", default=",".join(IMPLEMENTATIONS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--steps", type=int, default=3, help="timed steps after one warm-up (0: the first only)"
    )
    parser.add_argument("--chunk-size", type=int, default=128)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--xla", action="store_true")
    parser.add_argument("--memory-limit-gb", type=float, default=12.0)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--implementation", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    rows = []
    for length in map(int, args.lengths.split(",")):
        for implementation in args.implementations.split(","):
            rows.append(measure(length, implementation, args))
            print(f"measured {rows[-1]}", file=sys.stderr, flush=True)
    print_table(rows, args)
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k not in ("worker", "length")}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"settings": settings, "tower": TOWER, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
