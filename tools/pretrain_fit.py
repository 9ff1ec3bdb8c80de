"""Pretrain a multimodal backbone on your manifest with plain `model.fit`, and save a preset.

The core of `mmlm pretrain`, written out with Keras's own callbacks so that you can change any
part: TensorBoard, a best-weights ModelCheckpoint, BackupAndRestore (rerun the same command
after a crash to resume) and EarlyStopping on the validation loss, under a `tf.distribute`
strategy. The preset holds the weights of the best validation loss.

    python tools/pretrain_fit.py --manifest my_data/manifest.jsonl --out saved_models/mine
    python tools/pretrain_fit.py --manifest ... --config configs/manifest.py:smoke --epochs 1
"""

import argparse
import math

import mmlm  # before TensorFlow: mmlm makes the process use tf_keras (Keras 2)
import tensorflow as tf
from mmlm.config import write_config
# Variable name parts AdamW does not decay, as in `mmlm pretrain`: biases, norms, positions,
# learned tokens and the contrastive temperature.
from mmlm.training import NO_WEIGHT_DECAY, resolve_runtime

keras = mmlm.keras  # tf_keras: mmlm's models are Keras 2 models


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--manifest", required=True, help="manifest file (docs/manifest.md)")
    parser.add_argument("--out", required=True, help="preset directory to write")
    parser.add_argument("--config", default="configs/manifest.py", help="experiment file[:smoke]")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="config override, e.g. --set model.hidden_dim=256 (repeatable)",
    )
    parser.add_argument(
        "--workdir", default="runs/pretrain_fit",
        help="where TensorBoard logs, the best weights and the crash backup go",
    )
    parser.add_argument(
        "--strategy", choices=["default", "mirrored"], default="default",
        help="mirrored: one replica per visible GPU (or per CPU device)",
    )
    parser.add_argument("--epochs", type=int, default=30, help="at most (default: %(default)s)")
    parser.add_argument(
        "--steps-per-epoch", type=int, default=0, help="default: one pass over the train split"
    )
    parser.add_argument("--patience", type=int, default=5, help="EarlyStopping patience (epochs)")
    return parser.parse_args(argv)


def make_optimizer(trainer, total_steps):
    """AdamW with linear warmup then cosine decay, from the config's trainer section."""
    warmup = min(trainer.warmup_steps, total_steps // 2)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, max(total_steps - warmup, 1), warmup_target=trainer.learning_rate, warmup_steps=warmup
    )
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=trainer.weight_decay, beta_2=0.98)
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer


def main(argv=None):
    """Runs the script; returns the trained `PretrainingTask`."""
    args = parse_args(argv)
    config = mmlm.load_config(args.config, [f"data.manifest.path={args.manifest}", *args.set])
    data = mmlm.load_data(config, args.workdir)  # ingests the manifest, trains the vocabulary
    batch_size = config.data.global_batch_size
    steps = args.steps_per_epoch or math.ceil(data.source.num_examples("train") / batch_size)
    keras.utils.set_random_seed(config.trainer.seed)
    runtime = resolve_runtime(config.runtime, print)  # precision=auto: chosen for this CPU
    keras.mixed_precision.set_global_policy(runtime.precision.value)

    mirrored = args.strategy == "mirrored"
    strategy = tf.distribute.MirroredStrategy() if mirrored else tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    print(f"Epochs of {steps} steps of {batch_size} examples, on {replicas} replica(s)")
    # Each replica reads its own shard at the per-replica batch size (the "train" split repeats
    # forever, hence steps_per_epoch); validation batches are global and Keras splits them.
    train = strategy.distribute_datasets_from_function(
        lambda context: data.training_dataset("train", context, batch_size)
    )
    validation = data.training_dataset("validation")

    with strategy.scope():
        task = mmlm.build_pretraining_task(config, data.vocabulary_size)
        optimizer = make_optimizer(config.trainer, args.epochs * steps)
        # XLA cannot compile a step mirrored over logical CPU devices (fine on GPUs, though).
        task.compile(optimizer=optimizer, jit_compile=runtime.jit_compile and not mirrored)
        # Create every variable before fit, so that BackupAndRestore can restore them all
        # before step 1: the model's, its loss heads' (built on first use), the optimizer's.
        batch = next(iter(validation))
        task(batch)
        task.compute_losses(batch, training=False)
        task.optimizer.build(task.trainable_variables)

    workdir = args.workdir
    # TensorFlow-format weights (no .h5): tf_keras fails to load HDF5 ones under Mirrored.
    best = f"{workdir}/best/weights"
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.TensorBoard(f"{workdir}/tensorboard", update_freq=config.trainer.log_every),
        keras.callbacks.ModelCheckpoint(best, save_best_only=True, save_weights_only=True),
        keras.callbacks.BackupAndRestore(f"{workdir}/backup"),  # resumes a crashed run
        keras.callbacks.EarlyStopping(patience=args.patience),
    ]
    task.fit(
        train,
        validation_data=validation,
        epochs=args.epochs,
        steps_per_epoch=steps,
        callbacks=callbacks,
        verbose=2,
    )

    # A preset = the backbone (with its best weights) + the preprocessor that reads raw inputs
    # for it (+ the config that trained it).
    task.load_weights(best)
    task.backbone.save_to_preset(args.out)
    data.preprocessor().save_to_preset(args.out)
    write_config(config, args.out)
    print(f"Saved the preset to {args.out}")
    return task


if __name__ == "__main__":
    main()
