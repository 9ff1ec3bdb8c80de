"""Decoding speed: the key/value-cached decoder against re-running it over the prefix.

    python benchmarks/decoding.py [--presets tiny,base] [--new-tokens 64] [--batch-sizes 1,8]
                                  [--xla off,on] [--precision float32] [--repeats 3]
                                  [--json PATH]

For each model preset of `configs/scenes.py` (random weights: speed does not depend on them)
and batch size, generates exactly `--new-tokens` tokens after the start token, conditioned on
an image and audio, with `Generator(use_cache=True)` and `Generator(use_cache=False)` (the
same keras-nlp sampler; the uncached step re-runs the decoder over the whole prefix and reads
its last position). Both run as compiled `tf.function`s, with and without XLA
(`jit_compile=True` over the whole call: the fusion and the token loop); the time is the median
of `--repeats` calls after a warm-up call (which compiles). Greedy and beam search (4 beams)
are timed; the end token is disabled so every row decodes all the tokens. Prints tokens/s end to end (the fusion
of image and audio included) and of the decoding alone (the fusion's time, measured on its
own, subtracted), and the speed-ups.

On CPU, small per-token steps without XLA are bound by per-op overhead (oneDNN's einsum costs
~0.1 ms per call whatever its size), so the cached step saves little there; XLA compiles the
loop into one program and removes that overhead. Under XLA the uncached decoder runs over the
whole (padded) buffer each step: XLA needs static shapes.
With XLA, a cached batch-1 step of `base` reads every decoder weight once per token: it is
bound by memory bandwidth, which `--precision mixed_bfloat16` (the scenes config's training
precision) halves. `TF_ENABLE_ONEDNN_OPTS=0 python benchmarks/decoding.py` measures
TensorFlow's own kernels.
"""

import argparse
import itertools
import json
import os

import numpy as np
from timing import median_seconds

import mmlm  # noqa: F401  (selects tf_keras)
from mmlm.backend import keras, tf
from mmlm.config import load_config
from mmlm.generation import Generator, conditioning_inputs
from mmlm.tasks.builders import build_backbone

CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "scenes.py")
VOCABULARY_SIZE = 125  # the scenes WordPiece vocabulary
START, PAD = 1, 0
NEVER = -1  # end token id no row can produce


def _inputs(config, batch_size):
    rng = np.random.default_rng(0)
    size = config.data.image.image_size
    samples = int(config.data.audio.sample_rate * config.data.audio.duration_seconds)
    return {
        "images": tf.constant(rng.uniform(size=(batch_size, size, size, 3)), tf.float32),
        "audio": tf.constant(rng.normal(scale=0.1, size=(batch_size, samples)), tf.float32),
        "audio_padding_mask": tf.ones((batch_size, samples), tf.bool),
    }


def measure(preset, new_tokens, batch_sizes, xla_modes, repeats):
    config = load_config(
        CONFIG,
        [f"model.preset={preset}", f"data.text.sequence_length={new_tokens + 1}"],
    )
    backbone = build_backbone(config, VOCABULARY_SIZE)
    rows = []
    for xla, strategy, batch_size in itertools.product(xla_modes, ("greedy", "beam"), batch_sizes):
        inputs = _inputs(config, batch_size)
        conditioning = Generator(backbone, new_tokens + 1, START, NEVER, PAD)
        condition = tf.function(
            lambda x: conditioning.conditioning_model(
                conditioning_inputs(backbone, x, batch_size, START)
            )["sequence_output"],
            jit_compile=xla,
        )
        fusion = median_seconds(lambda: condition(inputs).numpy(), repeats)
        seconds = {}
        for use_cache in (True, False):
            generator = Generator(
                backbone, new_tokens + 1, START, NEVER, PAD, strategy=strategy,
                num_beams=4, use_cache=use_cache,
            )  # fmt: skip
            compiled = tf.function(generator, jit_compile=xla)
            seconds[use_cache] = median_seconds(
                lambda: compiled(inputs)["token_ids"].numpy(), repeats
            )
        tokens = batch_size * new_tokens
        rows.append(
            {
                "preset": preset,
                "xla": xla,
                "precision": keras.mixed_precision.global_policy().name,
                "strategy": strategy,
                "batch_size": batch_size,
                "new_tokens": new_tokens,
                "cached_tokens_per_second": tokens / seconds[True],
                "uncached_tokens_per_second": tokens / seconds[False],
                "speedup": seconds[False] / seconds[True],
                "fusion_seconds": fusion,
                "decoding_cached_tokens_per_second": tokens / (seconds[True] - fusion),
                "decoding_uncached_tokens_per_second": tokens / (seconds[False] - fusion),
                "decoding_speedup": (seconds[False] - fusion) / (seconds[True] - fusion),
            }
        )
        r = rows[-1]
        print(
            f"{preset:5s} {'on' if xla else 'off':3s} {strategy:6s} {batch_size:2d} | "
            f"{r['cached_tokens_per_second']:8.1f} {r['uncached_tokens_per_second']:8.1f} "
            f"{r['speedup']:5.2f}× | {r['decoding_cached_tokens_per_second']:8.1f} "
            f"{r['decoding_uncached_tokens_per_second']:8.1f} {r['decoding_speedup']:5.2f}×",
            flush=True,
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,base")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--xla", default="off,on", help="XLA modes to time: off, on or both")
    parser.add_argument("--precision", default="float32", help="Keras dtype policy of the model")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} (numbers mean little on a busy machine)")
    print(f"oneDNN: {os.environ.get('TF_ENABLE_ONEDNN_OPTS', '1') != '0'}")
    keras.mixed_precision.set_global_policy(args.precision)
    print(f"precision: {args.precision}")
    print(
        "preset XLA strategy B | end to end: cached, uncached tok/s, speed-up | "
        "decoding alone: cached, uncached tok/s, speed-up"
    )
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    xla_modes = [{"off": False, "on": True}[mode] for mode in args.xla.split(",")]
    rows = []
    for preset in args.presets.split(","):
        rows += measure(preset, args.new_tokens, batch_sizes, xla_modes, args.repeats)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
