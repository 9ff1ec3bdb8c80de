"""A full disk while ingesting a manifest: `DiskFullError` naming the data directory, and the
data sets prepared before it still load."""

import os

import pytest

from mmlm import atomic_files
from mmlm.config import load_config
from mmlm.data.prepare import load_prepared, prepare_data
from mmlm.testing import faults
from mmlm.testing.data import write_tiny_manifest

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "manifest.py") + ":smoke"


def _config(manifest, data_dir):
    return load_config(CONFIG, [f"data.manifest.path={manifest}", f"data.data_dir={data_dir}"])


def test_full_disk_during_ingest_fails_clearly_and_keeps_earlier_data(tmp_path, monkeypatch):
    first = _config(write_tiny_manifest(str(tmp_path / "a"), per_colour=4), None)
    second = _config(write_tiny_manifest(str(tmp_path / "b"), per_colour=5), None)
    with faults.small_filesystem(16 * 1024 * 1024) as mount:
        if mount is None:
            print("no tmpfs can be mounted here: ENOSPC injected at the write layer instead")
        data_dir = os.path.join(mount or str(tmp_path), "data")
        first, second = (_config(c.data.manifest.path, data_dir) for c in (first, second))
        prepare_data(first.data, log=lambda _: None)
        if mount is None:
            faults.inject_disk_full(monkeypatch)
        else:
            filler = faults.fill(mount)
        with pytest.raises(atomic_files.DiskFullError) as raised:
            prepare_data(second.data, log=lambda _: None)
        message = str(raised.value)
        assert data_dir in message and "disk full" in message and "intact" in message
        source, vocabulary = load_prepared(first.data)
        assert source.num_examples("train") > 0 and "[PAD]" in vocabulary
        with pytest.raises(FileNotFoundError, match="not prepared"):
            load_prepared(second.data)
        if mount is not None:
            os.remove(filler)
            prepare_data(second.data, log=lambda _: None)
            rows = load_prepared(second.data)[0].num_examples  # 5 rows a colour, not 4
            assert rows("train") + rows("validation") > source.num_examples("train")
