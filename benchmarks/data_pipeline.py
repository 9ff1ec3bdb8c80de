"""Examples/s of the full input pipeline on this machine, single process.

    python benchmarks/data_pipeline.py [--config configs/scenes.py] [--batches 40]

Reads the prepared training split (run `mmlm data generate` first, or this prepares it) and
times decode → crop/pad audio → log-mel → tokenize → resize/augment → batch → masks, after a
warm-up, in two variants: the full pipeline, and without the in-pipeline log-mel (the model
computes it from the raw waveform instead).
"""

import argparse
import time

import mmlm  # noqa: F401  (selects tf_keras)
from mmlm.backend import tf
from mmlm.config import load_config
from mmlm.data.pipeline import build_dataset
from mmlm.data.prepare import load_prepared, prepare_data


def _throughput(dataset, batches, warmup=5):
    iterator = iter(dataset.repeat())
    for _ in range(warmup):
        next(iterator)
    examples, start = 0, time.perf_counter()
    for _ in range(batches):
        examples += int(tf.shape(next(iterator)["token_ids"])[0])
    return examples / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/scenes.py")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args(argv)
    config = load_config(args.config, args.overrides)
    prepare_data(config.data, log=lambda *_: None)
    source, vocabulary = load_prepared(config.data)

    def pipeline(spectrogram):
        return build_dataset(
            config.data,
            "train",
            vocabulary=vocabulary,
            source=source,
            training=True,
            objective=config.objective,
            spectrogram=spectrogram,
        )

    rows = [
        (
            "full: decode, log-mel, tokenize, augment, masks",
            _throughput(pipeline(True), args.batches),
        ),
        ("without log-mel (model computes it)", _throughput(pipeline(False), args.batches)),
    ]
    print(
        f"data pipeline throughput, {source.name}, batch {config.data.global_batch_size}, "
        f"{tf.config.threading.get_inter_op_parallelism_threads() or 'default'} inter-op threads"
    )
    print(f"{'variant':<52}{'examples/s':>12}")
    for name, value in rows:
        print(f"{name:<52}{value:>12.1f}")


if __name__ == "__main__":
    main()
