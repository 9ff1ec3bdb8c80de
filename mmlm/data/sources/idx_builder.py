"""Image classification sets stored as IDX files (MNIST, Fashion-MNIST, KMNIST) as a TFDS builder.

The IDX format (LeCun et al.): a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the array in C order; usually gzipped.
The builder reads `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-…` from
a local folder (Debian's `dataset-fashion-mnist` installs them in
/usr/share/datasets/fashion-mnist) and keeps the last `validation_size` training examples as the
validation split. Every example keeps its `index` in its source file, so a subset or pseudo
labels can be named by index.
"""

import dataclasses
import gzip
import hashlib
import json
import os

import numpy as np
import tensorflow_datasets as tfds

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class IdxFormatError(ValueError):
    """An IDX file that is missing, truncated or not IDX."""


def find_file(directory, stem):
    """`directory/stem.gz` or `directory/stem`, whichever exists."""
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    raise IdxFormatError(
        f"{os.path.join(directory, stem)}[.gz] not found (Fashion-MNIST: "
        "`apt-get install dataset-fashion-mnist` puts it in /usr/share/datasets/fashion-mnist)"
    )


def read_idx(path):
    """The array stored in an IDX file (gzipped or not)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise IdxFormatError(f"{path}: not an IDX file (magic bytes {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data[4:header], ">u4"))
    dtype = np.dtype(_TYPES[data[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise IdxFormatError(
            f"{path}: {len(data)} bytes, expected {expected} for an array of shape {shape}"
        )
    return np.frombuffer(data, dtype, offset=header).reshape(shape)


def read_split(directory, split):
    """(images (N, H, W) uint8, labels (N,) int) of "train" or "test", checked for agreement."""
    images_path, labels_path = (find_file(directory, stem) for stem in FILES[split])
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise IdxFormatError(
            f"{images_path} {images.shape} and {labels_path} {labels.shape}: expected (N, H, W) "
            "images and (N,) labels of the same N"
        )
    return images, labels


@dataclasses.dataclass(eq=False)
class IdxImagesConfig(tfds.core.BuilderConfig):
    """One folder of IDX files (the config's name is derived from its parameters)."""

    directory: str = "/usr/share/datasets/fashion-mnist"
    class_names: tuple = ()
    validation_size: int = 5000
    image_side: int = 28

    @classmethod
    def create(cls, **parameters):
        config = cls(name="pending", **parameters)
        digest = hashlib.sha1(
            json.dumps([os.path.abspath(config.directory), list(config.class_names)]).encode()
        ).hexdigest()[:8]
        name = f"{os.path.basename(os.path.normpath(config.directory))}_val{config.validation_size}"
        return cls(
            name=f"{name}_{digest}".replace("-", "_"), description="IDX images", **parameters
        )


class IdxImages(tfds.core.GeneratorBasedBuilder):
    """TFDS builder of a local folder of IDX image classification files."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIG_CLASS = IdxImagesConfig

    def _info(self):
        c = self.builder_config
        return self.dataset_info_from_configs(
            description=f"Grayscale images and class labels read from IDX files in {c.directory}.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(c.image_side, c.image_side, 1)),
                    "label": tfds.features.ClassLabel(names=list(c.class_names)),
                    "index": tfds.features.Scalar(np.int64, doc="position in its IDX file"),
                }
            ),
            supervised_keys=("image", "label"),
            metadata=tfds.core.MetadataDict({"directory": os.path.abspath(c.directory)}),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # local files
        c = self.builder_config
        train_images, train_labels = self._read_checked("train")
        test_images, test_labels = self._read_checked("test")
        if not 0 <= c.validation_size < len(train_images):
            raise ValueError(
                f"validation_size={c.validation_size} must be in [0, {len(train_images)})"
            )
        cut = len(train_images) - c.validation_size
        splits = {
            "train": (train_images, train_labels, range(cut)),
            "validation": (train_images, train_labels, range(cut, len(train_images))),
            "test": (test_images, test_labels, range(len(test_images))),
        }
        return {
            split: self._generate_examples(*arrays)
            for split, arrays in splits.items()
            if len(arrays[2])
        }

    def _read_checked(self, split):
        """`read_split` of `split`, checked against the configured image side and classes."""
        c = self.builder_config
        images, labels = read_split(c.directory, split)
        if images.shape[1:] != (c.image_side, c.image_side):
            raise IdxFormatError(
                f"{c.directory} {split} images are {images.shape[1:]}, expected "
                f"({c.image_side}, {c.image_side}) (set image_side)"
            )
        bad = np.flatnonzero((labels < 0) | (labels >= len(c.class_names)))
        if bad.size:
            raise IdxFormatError(
                f"{c.directory} {split} labels: {bad.size} outside [0, {len(c.class_names)}) "
                f"(first at index {bad[0]}: {labels[bad[0]]}); check class_names"
            )
        return images, labels

    def _generate_examples(self, images, labels, indices):
        for i in indices:
            yield int(i), {"image": images[i][..., None], "label": int(labels[i]), "index": int(i)}
