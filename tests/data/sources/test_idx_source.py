"""IDX files: the reader against NumPy, bad files named, and the source's examples."""

import gzip
import os

import numpy as np
import pytest

from mmlm.data.sources.idx_builder import IdxFormatError, read_idx, read_split
from mmlm.testing.data import prepared_tiny_idx, write_idx_files


def test_read_idx_matches_the_written_arrays(tmp_path):
    images, labels = write_idx_files(str(tmp_path), num_train=12, num_test=4)
    read_images, read_labels = read_split(str(tmp_path), "train")
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)
    # Uncompressed files read the same; big-endian int32 arrays too.
    path = tmp_path / "plain-idx"
    values = np.arange(-6, 6, dtype=">i4").reshape(3, 4)
    path.write_bytes(bytes([0, 0, 0x0C, 2]) + np.asarray(values.shape, ">u4").tobytes()
                     + values.tobytes())  # fmt: skip
    np.testing.assert_array_equal(read_idx(str(path)), values)


def test_bad_idx_files_are_named(tmp_path):
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"PK\x03\x04 not idx")
    with pytest.raises(IdxFormatError, match="bad.gz: not an IDX file"):
        read_idx(str(bad))
    truncated = tmp_path / "short"
    truncated.write_bytes(bytes([0, 0, 8, 1]) + np.asarray([10], ">u4").tobytes() + b"\x01" * 7)
    with pytest.raises(IdxFormatError, match="short: 15 bytes, expected 18"):
        read_idx(str(truncated))
    with pytest.raises(IdxFormatError, match="dataset-fashion-mnist"):
        read_split(str(tmp_path / "missing"), "train")
    write_idx_files(str(tmp_path / "mismatch"), num_train=4)
    os.replace(tmp_path / "mismatch" / "t10k-labels-idx1-ubyte.gz",
               tmp_path / "mismatch" / "train-labels-idx1-ubyte.gz")  # fmt: skip
    with pytest.raises(IdxFormatError, match="of the same N"):
        read_split(str(tmp_path / "mismatch"), "train")


def test_idx_source_splits_and_examples():
    config, source = prepared_tiny_idx()
    assert source.modalities == ("image",)
    assert {s: source.num_examples(s) for s in ("train", "validation", "test")} == {
        "train": 40,
        "validation": 8,
        "test": 16,
    }
    assert source.label_names("label")[9] == "ankle boot"
    train = list(source.load("train").as_numpy_iterator())
    validation = list(source.load("validation").as_numpy_iterator())
    images, labels = read_split(config.data.idx.directory, "train")
    # Each example is its IDX row: RGB copies of the grey image, its label and index.
    for example in train + validation:
        i = example["index"]
        assert example["image"].shape == (28, 28, 3)
        np.testing.assert_array_equal(example["image"][..., 2], images[i])
        assert example["label"] == labels[i]
        assert example["image_present"] and not example["text_present"]
    assert sorted(e["index"] for e in train) == list(range(40))
    assert sorted(e["index"] for e in validation) == list(range(40, 48))
