"""End to end: `mmlm data generate` + `inspect` on the smoke config, then TFDS reads it back."""

import glob
import os
import subprocess
import sys

import pytest
import tensorflow_datasets as tfds
import yaml

from mmlm.cli.main import main

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "scenes.py") + ":smoke"


def test_generate_inspect_and_load_offline(tmp_path, capsys):
    data_dir, workdir = str(tmp_path / "data"), str(tmp_path / "run")
    common = ["--config", CONFIG, "--set", f"data.data_dir={data_dir}"]
    assert main(["data", "generate", *common, "--workdir", workdir]) == 0
    with open(os.path.join(workdir, "config.yaml")) as f:
        assert yaml.safe_load(f)["data"]["data_dir"] == data_dir
    capsys.readouterr()

    assert main(["data", "inspect", *common, "--json", str(tmp_path / "report.json")]) == 0
    out = capsys.readouterr().out
    assert "held out of train/validation (test only): red triangle, green circle" in out
    for split, count in (("train", 24), ("validation", 8), ("test", 16)):
        assert f"{split:<12}{count:>10}" in out
    assert "validation: no problems found" in out

    # tfds.load by name (the builder is registered by importing it) and, without any mmlm
    # code, from the directory alone.
    (version_dir,) = glob.glob(os.path.join(data_dir, "scenes", "*", "1.0.0"))
    config_name = version_dir.split(os.sep)[-2]
    from mmlm.data.sources import scenes_builder  # noqa: F401

    test_split = tfds.load(f"scenes/{config_name}", data_dir=data_dir, split="test")
    assert sum(1 for _ in test_split) == 16
    code = (
        "import tensorflow_datasets as tfds, sys\n"
        f"b = tfds.builder_from_directory({version_dir!r})\n"
        "ex = next(iter(b.as_dataset(split='train')))\n"
        "print(b.info.splits['train'].num_examples, ex['text'].numpy().decode(), ex['audio'].dtype.name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    count, *_, dtype = result.stdout.split()
    assert count == "24" and dtype == "int16"


def test_config_errors_exit_2_with_the_key(capsys):
    assert main(["data", "inspect", "--config", CONFIG, "--set", "data.scenes.num_trian=3"]) == 2
    assert "unknown key 'data.scenes.num_trian'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["data", "--help"], ["data", "generate", "--help"], ["data", "inspect", "--help"]],
)
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    assert "usage: mmlm" in capsys.readouterr().out


def test_manifest_with_a_bad_row_fails_then_skip_invalid_reports_it(tmp_path, capsys):
    from PIL import Image

    Image.new("RGB", (20, 10), (0, 0, 255)).save(tmp_path / "blue.png")
    (tmp_path / "m.csv").write_text("text,image\na blue box,blue.png\n,missing.png\n")
    common = [
        "--config",
        CONFIG,
        "--set",
        f"data.data_dir={tmp_path / 'data'}",
        "--set",
        "data.source=manifest",
        "--set",
        f"data.manifest.path={tmp_path / 'm.csv'}",
    ]
    assert main(["data", "generate", *common, "--workdir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "m.csv, line 3, column 'image'" in err and "missing_file" in err

    assert (
        main(["data", "generate", *common, "--workdir", str(tmp_path / "run"), "--skip-invalid"])
        == 0
    )
    out = capsys.readouterr().out
    assert "1 invalid records skipped" in out and "1 × missing_file" in out
    assert (tmp_path / "run" / "invalid_records.json").is_file()
    assert main(["data", "inspect", *common, "--skip-invalid"]) == 0
    out = capsys.readouterr().out
    assert "train                1" in out and "1 × missing_file" in out
