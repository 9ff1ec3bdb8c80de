"""Shared data fixtures: the smoke scenes data set, generated once per process."""

import dataclasses
import os
import tempfile

from mmlm.config import load_config

_CONFIG_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "scenes.py")
_prepared = {}


def smoke_config(data_dir=None, overrides=()):
    """The smoke experiment config of configs/scenes.py, with its data in `data_dir`."""
    config = load_config(_CONFIG_FILE + ":smoke", list(overrides))
    if data_dir is not None:
        config = dataclasses.replace(
            config, data=dataclasses.replace(config.data, data_dir=data_dir)
        )
    return config


def prepared_smoke_scenes():
    """(config, source, vocabulary) of the smoke scenes, generated once per test process."""
    if "scenes" not in _prepared:
        from mmlm.data.prepare import load_prepared, prepare_data

        config = smoke_config(tempfile.mkdtemp(prefix="mmlm-smoke-data-"))
        prepare_data(config.data, log=lambda *_: None)
        source, vocabulary = load_prepared(config.data)
        _prepared["scenes"] = (config, source, vocabulary)
    return _prepared["scenes"]


def write_idx_files(directory, num_train=48, num_test=16, num_classes=10, side=28, seed=0):
    """Writes a tiny Fashion-MNIST-like set of gzipped IDX files; returns (x_train, y_train).

    Class `c` is a bright bar at row `2c` plus noise, so the labels can be learned.
    """
    import gzip

    import numpy as np

    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, count in (("train", num_train), ("t10k", num_test)):
        labels = (np.arange(count) % num_classes).astype(np.uint8)
        rng.shuffle(labels)
        images = rng.integers(0, 60, (count, side, side), dtype=np.uint8)
        for image, label in zip(images, labels):
            image[2 * label : 2 * label + 2] = 250
        arrays[prefix] = (images, labels)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
            path = os.path.join(directory, f"{prefix}-{kind}-ubyte.gz")
            with gzip.open(path, "wb") as f:
                f.write(header + array.tobytes())
    return arrays["train"]


_FASHION_MNIST_FILE = os.path.join(os.path.dirname(_CONFIG_FILE), "fashion_mnist.py")


def prepared_tiny_idx(num_train=48, validation_size=8):
    """(config, source) of the smoke Fashion-MNIST config over `write_idx_files` data."""
    key = ("idx", num_train, validation_size)
    if key not in _prepared:
        from mmlm.data.prepare import load_prepared, prepare_data

        root = tempfile.mkdtemp(prefix="mmlm-idx-")
        write_idx_files(os.path.join(root, "idx"), num_train=num_train)
        config = load_config(
            _FASHION_MNIST_FILE + ":smoke",
            [
                f"data.data_dir={os.path.join(root, 'data')}",
                f"data.idx.directory={os.path.join(root, 'idx')}",
                f"data.idx.validation_size={validation_size}",
            ],
        )
        prepare_data(config.data, log=lambda *_: None)
        _prepared[key] = (config, load_prepared(config.data)[0])
    return _prepared[key]


def write_mo_file(path, messages):
    """Writes a GNU gettext `.mo` catalog of {msgid: msgstr} (UTF-8, with the usual header)."""
    import struct

    entries = {"": "Content-Type: text/plain; charset=UTF-8\n", **messages}
    keys = sorted(entries)
    ids = [k.encode("utf-8") for k in keys]
    strs = [entries[k].encode("utf-8") for k in keys]
    count = len(keys)
    originals_at, translations_at = 28, 28 + 8 * count
    data_at = translations_at + 8 * count
    tables, blob = [], b""
    for group in (ids, strs):
        table = []
        for text in group:
            table.append((len(text), data_at + len(blob)))
            blob += text + b"\0"
        tables.append(table)
    header = struct.pack("<7I", 0x950412DE, 0, count, originals_at, translations_at, 0, data_at)
    body = b"".join(struct.pack("<2I", *entry) for table in tables for entry in table)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(header + body + blob)


MANIFEST_COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 60, 220)}


def write_tiny_manifest(folder, per_colour=8, test_per_colour=2, seed=0):
    """A manifest of coloured squares with a caption, a tone and a colour label per row.

    Each colour has its own tone frequency, so every modality carries the label. The last
    `test_per_colour` rows of each colour are `test`, the others `train`; there are no
    validation rows (configs/manifest.py carves them). Returns the manifest path.
    """
    import json

    import numpy as np
    import soundfile
    from PIL import Image

    rng = np.random.default_rng(seed)
    media = os.path.join(folder, "media")
    os.makedirs(media, exist_ok=True)
    rows = []
    for c, (colour, rgb) in enumerate(MANIFEST_COLOURS.items()):
        for i in range(per_colour):
            name = f"{colour}{i}"
            pixels = np.full((24, 24, 3), 255, np.uint8)
            x, y = rng.integers(0, 12, 2)
            pixels[y : y + 12, x : x + 12] = rgb
            Image.fromarray(pixels).save(os.path.join(media, f"{name}.png"))
            tone = 0.3 * np.sin(2 * np.pi * (300 + 200 * c) * np.arange(8000) / 16000)
            soundfile.write(os.path.join(media, f"{name}.wav"), tone, 16000)
            rows.append(
                {
                    "id": name,
                    "text": f"a {colour} square number {i}",
                    "image": f"media/{name}.png",
                    "audio": f"media/{name}.wav",
                    "label": colour,
                    "split": "test" if i >= per_colour - test_per_colour else "train",
                }
            )
    path = os.path.join(folder, "manifest.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(json.dumps(row) for row in rows) + "\n")
    return path


def untrained_scenes_run(workdir):
    """A run directory over the smoke scenes with an untrained backbone, its preprocessing and
    config.yaml, as `mmlm pretrain` leaves one (without training). Returns (config, workdir)."""
    from mmlm.config import write_config
    from mmlm.experiments.artifacts import save_backbone
    from mmlm.experiments.data import ExperimentData
    from mmlm.tasks.builders import build_backbone

    config, _, vocabulary = prepared_smoke_scenes()
    save_backbone(build_backbone(config, len(vocabulary)), workdir)
    ExperimentData(config).save_preprocessor(workdir)
    write_config(config, workdir)
    return config, workdir
