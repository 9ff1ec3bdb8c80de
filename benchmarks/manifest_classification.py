"""Classifying a manifest's labels: a pretrained preset fine-tuned, against baselines.

    python benchmarks/manifest_classification.py --preset saved_models/emoji \
        --manifest data/emoji/manifest.jsonl [--modality image] [--json PATH]

Rows, all scored on the manifest's test split with the same train split (and the validation
rows `tools/finetune_classifier.py` carves when the manifest has none):
- majority: always the most frequent training label;
- logistic regression on the raw inputs: pixels (image), or TF-IDF of the caption words (text),
  scikit-learn, C chosen on the validation rows;
- from scratch: `tools/finetune_classifier.py` on a randomly initialised backbone of the same
  config (same steps, learning rate and early stopping);
- fine-tuned: `tools/finetune_classifier.py` on the preset's pretrained backbone.
Prints a table and writes JSON. Training runs on the CPU: say whether the machine was idle.
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np

import mmlm
from mmlm.config import load_config
from mmlm.data.manifest_rows import read_manifest_rows
from mmlm.evaluation.classification import classification_report

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import finetune_classifier  # noqa: E402


def logistic_regression(train, validation, test, modality, class_names):
    """Macro-F1 and accuracy of scikit-learn's logistic regression on the raw inputs."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    if modality == "text":
        vectorizer = TfidfVectorizer().fit([r["text"] for r in train])
        features = [
            vectorizer.transform([r["text"] for r in rows]) for rows in (train, validation, test)
        ]
    else:
        flat = [
            np.stack([r[modality].ravel() for r in rows]).astype(np.float32) / 255.0
            for rows in (train, validation, test)
        ]
        features = flat
    labels = [
        np.array([class_names.index(r["label"]) for r in rows])
        for rows in (train, validation, test)
    ]
    best = None
    for c in (0.01, 0.1, 1.0, 10.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(features[0], labels[0])
        score = (model.predict(features[1]) == labels[1]).mean()
        if best is None or score > best[0]:
            best = (score, c, model)
    report = classification_report(
        labels[2], best[2].predict(features[2]), len(class_names), class_names
    )
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "C": best[1]}


def random_preset(preset, out):
    """A preset with the config of `preset` and freshly initialised weights."""
    config = load_config(os.path.join(preset, "config.yaml"))
    preprocessor = mmlm.MultimodalPreprocessor.from_preset(preset)
    mmlm.keras.utils.set_random_seed(config.trainer.seed)
    vocabulary_size = preprocessor.text_preprocessor.vocabulary_size
    mmlm.build_backbone(config, vocabulary_size).save_to_preset(out)
    preprocessor.save_to_preset(out)
    return out


def finetuned(preset, manifest, modality, out):
    _, report = finetune_classifier.main(
        ["--preset", preset, "--manifest", manifest, "--modality", modality, "--out", out]
    )
    mmlm.keras.backend.clear_session()
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--modality", default="image", choices=("text", "image", "audio"))
    parser.add_argument("--json", default="runs/manifest_classification.json")
    args = parser.parse_args(argv)
    print(f"load average: {os.getloadavg()}")
    preprocessor = mmlm.MultimodalPreprocessor.from_preset(args.preset)
    rows = [r for r in read_manifest_rows(args.manifest, preprocessor) if r["label"]]
    train, validation, test = finetune_classifier.split_rows(rows, 0.1)
    class_names = sorted({r["label"] for r in train})
    majority = max(class_names, key=[r["label"] for r in train].count)
    results = {
        "majority": {
            "accuracy": float(np.mean([r["label"] == majority for r in test])),
            "macro_f1": classification_report(
                [class_names.index(r["label"]) for r in test],
                [class_names.index(majority)] * len(test),
                len(class_names),
            )["macro_f1"],
        },
        f"logistic regression on {'TF-IDF' if args.modality == 'text' else 'raw ' + args.modality}": logistic_regression(
            train, validation, test, args.modality, class_names
        ),
    }
    with tempfile.TemporaryDirectory() as tmp:
        scratch = random_preset(args.preset, os.path.join(tmp, "random"))
        results["from scratch"] = finetuned(
            scratch, args.manifest, args.modality, os.path.join(tmp, "a")
        )
        results["fine-tuned from the preset"] = finetuned(
            args.preset, args.manifest, args.modality, os.path.join(tmp, "b")
        )
    print(f"{len(test)} test rows, {len(class_names)} classes, from {args.modality}")
    print(f"{'':40s} accuracy  macro-F1")
    for name, row in results.items():
        print(f"{name:40s} {row['accuracy']:8.3f}  {row['macro_f1']:8.3f}")
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(
            {"modality": args.modality, "num_test": len(test), "results": results}, f, indent=1
        )


if __name__ == "__main__":
    main()
