"""`mmlm explain` on an untrained backbone saved over the smoke scenes (the maps' values are
checked in tests/models/test_attention_maps.py, the TensorBoard images `mmlm evaluate` writes
in test_evaluate_cli.py; here the PNG)."""

import os

import numpy as np
import pytest
from PIL import Image

from mmlm.cli.main import main
from mmlm.testing.data import untrained_scenes_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return untrained_scenes_run(str(tmp_path_factory.mktemp("explain") / "run"))


def test_explain_writes_a_png_of_one_row_per_token_and_a_column_per_modality(run, tmp_path):
    _, workdir = run
    out = str(tmp_path / "attention.png")
    status = main(["explain", "--workdir", workdir, "--index", "1", "--max-tokens", "3",
                   "--out", out])  # fmt: skip
    assert status == 0
    with Image.open(out) as image:
        # 2 columns (image, audio) × 4 rows (the mean, then 3 tokens) of 320 × 240 pixels.
        assert image.size == (640, 960)
        pixels = np.asarray(image.convert("RGB"), np.float32)
    assert pixels.std() > 10  # drawn, not blank


def test_explain_refuses_an_example_past_the_split(run, tmp_path, capsys):
    _, workdir = run
    status = main(["explain", "--workdir", workdir, "--index", "999", "--out",
                   str(tmp_path / "x.png")])  # fmt: skip
    assert status == 2
    assert "--index 999: split 'test' has 16 examples" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.png")
