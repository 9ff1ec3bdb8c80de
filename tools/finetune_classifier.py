r"""Fine-tune a classifier from a preset on the labels of a manifest, with plain `model.fit`.

One encoder of the preset's backbone (--modality) and a new linear head learn the manifest's
`label` column; the preset's own preprocessor reads the raw rows. Reports the test split's
accuracy and macro-F1, then saves the classifier as a preset with `class_names.txt` (line i
names class i), which `mmlm.ClassificationTask.from_preset(out)` reloads.

    python tools/finetune_classifier.py --preset saved_models/mine \
        --manifest my_data/manifest.jsonl --modality image --out saved_models/mine_classifier
"""

import argparse
import os

import mmlm  # before TensorFlow: mmlm makes the process use tf_keras (Keras 2)
import numpy as np
import tensorflow as tf
from mmlm.data.manifest_rows import read_manifest_rows, rows_dataset
from mmlm.evaluation.classification import classification_report

keras = mmlm.keras
CLASS_NAMES = "class_names.txt"
SPLITS = ("train", "validation", "test")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", required=True, help="pretrained preset directory")
    parser.add_argument("--manifest", required=True, help="manifest with a label column")
    parser.add_argument("--out", required=True, help="preset directory to write")
    parser.add_argument(
        "--modality", choices=["text", "image", "audio"], default="image",
        help="the encoder that classifies (default: %(default)s)",
    )
    parser.add_argument("--epochs", type=int, default=20, help="at most (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=16, help="(default: %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="(default: %(default)s)")
    parser.add_argument("--patience", type=int, default=3, help="EarlyStopping patience (epochs)")
    parser.add_argument(
        "--validation-fraction", type=float, default=0.1,
        help="share of train rows that validate if no row is in the validation split (default: "
        "%(default)s)",
    )
    return parser.parse_args(argv)


def split_rows(rows, validation_fraction):
    """(train, validation, test) rows; without validation rows, a seeded share of train."""
    train, validation, test = ([r for r in rows if r["split"] == s] for s in SPLITS)
    if not validation:
        order = np.random.default_rng(0).permutation(len(train))
        count = max(1, round(validation_fraction * len(train)))
        validation = [train[i] for i in order[:count]]
        train = [train[i] for i in order[count:]]
    return train, validation, test


def main(argv=None):
    """Runs the script; returns the trained task and the test report (None without test rows)."""
    args = parse_args(argv)
    preprocessor = mmlm.MultimodalPreprocessor.from_preset(args.preset)
    rows = read_manifest_rows(args.manifest, preprocessor)
    train, validation, test = split_rows(rows, args.validation_fraction)
    class_names = sorted({row["label"] for row in train if row["label"]})
    if len(class_names) < 2:
        raise SystemExit(f"The train rows need 2 labels or more to classify, got {class_names}.")
    # Label → id 0..C-1. StringLookup maps unknown labels (and "") to 0 and the classes to
    # 1..C; minus one makes them -1, which ClassificationTask leaves out of its loss.
    lookup = keras.layers.StringLookup(vocabulary=class_names, num_oov_indices=1)

    def dataset(subset, training=False):
        def to_inputs(batch):
            inputs = preprocessor(batch, training=training)  # "id" and "label" pass through
            del inputs["id"]
            inputs["label"] = lookup(inputs["label"]) - 1
            return inputs

        data = rows_dataset(subset, args.modality)
        if training:
            data = data.shuffle(len(subset), seed=0)
        return data.ragged_batch(args.batch_size).map(to_inputs).prefetch(tf.data.AUTOTUNE)

    task = mmlm.ClassificationTask.from_preset(
        args.preset, modality=args.modality, num_classes=len(class_names), label_feature="label"
    )
    task.compile(optimizer=keras.optimizers.AdamW(args.learning_rate))
    stop = keras.callbacks.EarlyStopping(patience=args.patience, restore_best_weights=True)
    task.fit(
        dataset(train, training=True),
        validation_data=dataset(validation),
        epochs=args.epochs,
        callbacks=[stop],
        verbose=2,
    )

    report = None
    if test:
        batches = list(dataset(test))
        labels = np.concatenate([batch["label"].numpy() for batch in batches])
        logits = np.concatenate([task(batch).numpy() for batch in batches])
        known = labels >= 0  # test rows whose label is one of the training classes
        predictions = logits[known].argmax(axis=-1)
        report = classification_report(labels[known], predictions, len(class_names), class_names)
        print(
            f"test: accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f} over "
            f"{report['num_examples']} rows ({len(class_names)} classes; "
            f"{int((~known).sum())} rows with a label unseen in training not scored)"
        )
    else:
        print("The manifest has no test rows: no test report.")

    task.save_to_preset(args.out)
    preprocessor.save_to_preset(args.out)
    with open(os.path.join(args.out, CLASS_NAMES), "w", encoding="utf-8") as f:
        f.write("".join(f"{name}\n" for name in class_names))
    print(f"Saved the classifier preset to {args.out}")
    return task, report


if __name__ == "__main__":
    main()
