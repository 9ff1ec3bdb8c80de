r"""Zero-shot classification and text-to-file retrieval from a preset, written as CSV files.

Embeds the images and audio clips of a manifest, or of a folder (files by extension; a file in
a subfolder is labelled with that subfolder's name), and compares them with texts:
- classification (--classes or --classes-from-labels): a class is the mean embedding of its
  prompts; a file's score for it is their cosine similarity, its prediction the top class;
- retrieval (--retrieve QUERY): the --top-k files of each modality nearest each query.

    python tools/zero_shot.py --preset saved_models/mine --folder photos --classes cat,dog
    python tools/zero_shot.py --preset saved_models/mine --manifest my_data/manifest.jsonl \
        --classes-from-labels --retrieve "a red apple" --out predictions.csv
"""

import argparse
import csv
import os

import mmlm  # before TensorFlow: mmlm makes the process use tf_keras (Keras 2)
import numpy as np
import tensorflow as tf
from mmlm.data.example_files import read_audio_file, read_image_file
from mmlm.data.manifest_rows import read_manifest_rows

IMAGE_FILES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
AUDIO_FILES = (".wav", ".flac", ".ogg", ".mp3")
BATCH_SIZE = 32


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", required=True, help="preset directory")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--manifest", help="JSONL or CSV manifest (docs/manifest.md)")
    source.add_argument("--folder", help="folder of image and audio files (searched recursively)")
    parser.add_argument("--split", choices=["train", "validation", "test"], help="of the manifest")
    classes = parser.add_mutually_exclusive_group()
    classes.add_argument("--classes", help='comma-separated class names, e.g. "cat,dog"')
    classes.add_argument(
        "--classes-from-labels", action="store_true",
        help="the manifest's labels (or the folder's subfolder names)",
    )
    parser.add_argument(
        "--prompt", action="append", metavar="TEMPLATE",
        help='class prompt, {} is the name (repeatable; default: "a picture of {}" and "{}")',
    )
    parser.add_argument(
        "--retrieve", action="append", default=[], metavar="QUERY",
        help="a text query whose nearest files are listed (repeatable)",
    )
    parser.add_argument("--top-k", type=int, default=5, help="files per query and modality")
    parser.add_argument(
        "--out", default="predictions.csv",
        help="classification CSV: a row per file (manifest id or path in the folder), its "
        "prediction and a score per class (default: %(default)s)",
    )
    parser.add_argument("--retrieval-out", default="retrieval.csv", help="retrieval CSV")
    args = parser.parse_args(argv)
    args.prompt = args.prompt or ["a picture of {}", "{}"]
    if not (args.classes or args.classes_from_labels or args.retrieve):
        parser.error("nothing to do: give --classes, --classes-from-labels or --retrieve")
    if any("{}" not in prompt for prompt in args.prompt):
        parser.error(f"every --prompt needs a {{}} for the class name, got {args.prompt}")
    return args


def read_files(args, preprocessor):
    """{modality: [(name, raw image or waveform, label or "")]} of the manifest or the folder."""
    files = {m: [] for m in ("image", "audio") if m in preprocessor.modalities}
    if args.manifest:
        for row in read_manifest_rows(args.manifest, preprocessor, split=args.split):
            for m in files:
                if row[m] is not None:
                    files[m].append((row["id"], row[m], row["label"]))
        return files
    for root, _, names in sorted(os.walk(args.folder)):
        for name in sorted(names):
            path = os.path.join(root, name)
            relative = os.path.relpath(path, args.folder)
            label = relative.split(os.sep)[0] if os.sep in relative else ""
            extension = os.path.splitext(name)[1].lower()
            if extension in IMAGE_FILES and "image" in files:
                files["image"].append((relative, read_image_file(path), label))
            elif extension in AUDIO_FILES and "audio" in files:
                rate = preprocessor.audio_preprocessor.sample_rate
                files["audio"].append((relative, read_audio_file(path, rate), label))
    return {m: found for m, found in files.items() if found}


def embed(backbone, preprocessor, modality, values):
    """(N, D) unit embeddings of raw texts, images or waveforms."""
    embeddings = []
    for start in range(0, len(values), BATCH_SIZE):
        chunk = values[start : start + BATCH_SIZE]
        if modality == "text":
            inputs = preprocessor({"text": tf.constant(chunk)})
        else:  # one at a time: the images (waveforms) of a folder differ in size (length)
            parts = [preprocessor({modality: value[None]}) for value in chunk]
            inputs = {key: tf.concat([part[key] for part in parts], 0) for key in parts[0]}
        embeddings.append(backbone.embed(modality, inputs).numpy())
    return np.concatenate(embeddings)


def write_csv(path, header, rows):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    print(f"Wrote {len(rows)} rows to {path}")


def main(argv=None):
    args = parse_args(argv)
    backbone = mmlm.MultimodalBackbone.from_preset(args.preset)
    preprocessor = mmlm.MultimodalPreprocessor.from_preset(args.preset)
    files = read_files(args, preprocessor)
    if not files:
        raise SystemExit(f"Found no image or audio that the preset {args.preset} can embed.")
    embeddings = {
        m: embed(backbone, preprocessor, m, [value for _, value, _ in found])
        for m, found in files.items()
    }

    if args.classes_from_labels:
        classes = sorted({label for found in files.values() for _, _, label in found if label})
    else:
        classes = [name.strip() for name in (args.classes or "").split(",") if name.strip()]
    if (args.classes or args.classes_from_labels) and len(classes) < 2:
        raise SystemExit(f"Zero-shot classification needs 2 classes or more, got {classes}.")
    if classes:
        texts = [prompt.format(name) for name in classes for prompt in args.prompt]
        prompts = embed(backbone, preprocessor, "text", texts)  # (C * P, D)
        means = prompts.reshape(len(classes), len(args.prompt), -1).mean(axis=1)  # (C, D)
        class_embeddings = means / np.linalg.norm(means, axis=-1, keepdims=True)
        rows = []
        for m, found in files.items():
            scores = embeddings[m] @ class_embeddings.T  # (N, C) cosine similarities
            best = scores.argmax(axis=-1)
            for (name, _, label), file_scores, b in zip(found, scores, best):
                numbers = [f"{x:.6f}" for x in (file_scores[b], *file_scores)]
                rows.append([name, m, label, classes[b], *numbers])
            known = [i for i, (_, _, label) in enumerate(found) if label in classes]
            if known:
                accuracy = np.mean([classes[best[i]] == found[i][2] for i in known])
                print(f"{m}: accuracy {accuracy:.3f} over {len(known)} labelled files")
        header = ["file", "modality", "label", "predicted", "score"]
        write_csv(args.out, header + [f"score:{name}" for name in classes], rows)

    if args.retrieve:
        rows = []
        queries = embed(backbone, preprocessor, "text", args.retrieve)  # (Q, D)
        for query, query_embedding in zip(args.retrieve, queries):
            for m, found in files.items():
                scores = embeddings[m] @ query_embedding  # (N,)
                for rank, i in enumerate(np.argsort(-scores)[: args.top_k], start=1):
                    rows.append([query, m, rank, found[i][0], f"{scores[i]:.6f}"])
        write_csv(args.retrieval_out, ["query", "modality", "rank", "file", "score"], rows)


if __name__ == "__main__":
    main()
