"""A manifest ingested through TFDS and read by the pipeline; bad rows fail or are counted."""

import dataclasses
import json
import os

import numpy as np
import pytest
import soundfile
from PIL import Image

from mmlm.config import DataSource, ManifestConfig
from mmlm.data import factory
from mmlm.data.errors import DataValidationError
from mmlm.data.pipeline import build_dataset
from mmlm.data.prepare import load_prepared, prepare_data
from mmlm.testing import faults
from mmlm.testing.data import smoke_config


def _manifest(folder, extra_rows=()):
    media = folder / "media"
    media.mkdir()
    Image.new("RGBA", (90, 40), (255, 0, 0, 255)).save(media / "red.png")
    Image.new("L", (30, 30), 51).save(media / "gray.png")
    tone = 0.25 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)
    soundfile.write(media / "tone.wav", tone, 8000)  # 1 s at 8 kHz → 16 kHz
    (media / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    rows = [
        {
            "id": "a",
            "text": "a red box",
            "image": "media/red.png",
            "audio": "media/tone.wav",
            "label": "red",
        },
        {"id": "b", "text": "a gray box", "image": "media/gray.png", "label": "gray"},
        {"id": "c", "audio": "media/tone.wav", "split": "test"},
        {"id": "d", "text": "words only", "split": "test"},
        *extra_rows,
    ]
    path = folder / "manifest.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def _data_config(tmp_path, manifest, skip_invalid=False):
    config = smoke_config(str(tmp_path / "data"))
    return dataclasses.replace(
        config.data,
        source=DataSource.MANIFEST,
        manifest=ManifestConfig(path=str(manifest)),
        skip_invalid=skip_invalid,
    )


def test_rows_with_any_modalities_reach_the_pipeline(tmp_path):
    data = _data_config(tmp_path, _manifest(tmp_path))
    prepare_data(data, log=lambda *_: None)
    source, vocabulary = load_prepared(data)
    assert source.num_examples("train") == 2 and source.num_examples("test") == 2
    batches = list(build_dataset(data, "test", vocabulary=vocabulary, source=source))
    rows = {row_id.decode(): i for i, row_id in enumerate(batches[0]["id"].numpy())}
    batch = {k: v.numpy() for k, v in batches[0].items()}
    c, d = rows["c"], rows["d"]
    assert not batch["text_present"][c] and batch["text_present"][d]
    assert batch["audio_present"][c] and not batch["audio_present"][d]
    assert not batch["image_present"][c] and not batch["images"][c].any()
    assert batch["audio_padding_mask"][c].sum() == 16000  # resampled to 16 kHz
    assert not batch["audio_padding_mask"][d].any()
    train = {
        k: v.numpy()
        for k, v in next(
            iter(build_dataset(data, "train", vocabulary=vocabulary, source=source))
        ).items()
    }
    gray = list(train["id"]).index(b"b")
    np.testing.assert_allclose(train["images"][gray], 0.2, atol=1e-6)  # L=51 → RGB 0.2


def test_invalid_row_fails_with_line_and_file_by_default(tmp_path):
    bad = {"text": "broken", "image": "media/broken.png"}
    data = _data_config(tmp_path, _manifest(tmp_path, [bad]))
    with pytest.raises(DataValidationError) as error:
        prepare_data(data, log=lambda *_: None)
    message = str(error.value)
    assert "line 5" in message and "broken.png" in message and "corrupt_image" in message


def test_skip_invalid_counts_and_keeps_every_valid_row(tmp_path):
    bad = [{"text": "broken", "image": "media/broken.png"}, {"text": "  "}, {"txt": "typo"}]
    data = _data_config(tmp_path, _manifest(tmp_path, bad), skip_invalid=True)
    source = prepare_data(data, log=lambda *_: None)["source"]
    report = source.validation_report()
    assert report["num_invalid"] == 3 and report["num_valid"] == 4
    assert report["counts_by_reason"] == {"corrupt_image": 1, "empty_text": 1, "unknown_column": 1}
    assert sorted(r["line"] for r in report["invalid"]) == [5, 6, 7]
    ingestion = source.data_report_entries()["ingestion"]  # what the model card reports
    assert (ingestion["num_invalid"], ingestion["num_valid"]) == (3, 4)
    assert ingestion["counts_by_reason"] == report["counts_by_reason"]
    ids = {x["id"].numpy() for split in ("train", "test") for x in source.load(split)}
    assert ids == {b"a", b"b", b"c", b"d"}


def test_validation_is_carved_from_train_when_the_manifest_has_none(tmp_path):
    from mmlm.data.sources.manifest_source import carve_validation
    from mmlm.testing.data import write_tiny_manifest

    manifest = write_tiny_manifest(str(tmp_path / "m"), per_colour=5, test_per_colour=1)
    data = dataclasses.replace(
        _data_config(tmp_path, manifest),
        manifest=ManifestConfig(path=manifest, validation_fraction=0.25),
    )
    source = prepare_data(data, log=lambda *_: None)["source"]
    assert {s: source.num_examples(s) for s in ("train", "validation", "test")} == {
        "train": 9,
        "validation": 3,  # 25 % of the 12 train rows
        "test": 3,
    }
    assert source.validation_report()["carved_validation"]["count"] == 3
    ids = [{x["id"].numpy() for x in source.load(s)} for s in ("train", "validation", "test")]
    assert not (ids[0] & ids[1]) and not (ids[1] & ids[2])  # each row in one split only
    # Seeded: the same rows move every time; another seed moves others. One row stays in train.
    rows = {"train": [(str(i), {}) for i in range(10)]}
    first = carve_validation({k: list(v) for k, v in rows.items()}, 0.3, seed=0)
    again = {k: list(v) for k, v in rows.items()}
    carve_validation(again, 0.3, seed=0)
    other = {k: list(v) for k, v in rows.items()}
    carve_validation(other, 0.3, seed=1)
    assert first == {"count": 3, "fraction": 0.3, "seed": 0, "train_left": 7}
    assert len(again["validation"]) == 3 and len(again["train"]) == 7
    repeat = {k: list(v) for k, v in rows.items()}
    carve_validation(repeat, 0.3, seed=0)
    assert repeat["validation"] == again["validation"] != other["validation"]
    single = {"train": [("only", {})]}
    assert carve_validation(single, 0.5, 0)["count"] == 0 and "validation" not in single


def test_a_missing_test_split_is_named_with_what_to_do(tmp_path):
    from mmlm.testing.data import write_tiny_manifest

    manifest = write_tiny_manifest(str(tmp_path / "m"), per_colour=3, test_per_colour=0)
    data = _data_config(tmp_path, manifest)
    logged = []
    source = prepare_data(data, log=logged.append)["source"]
    assert any("no validation or test split" in line for line in logged)
    with pytest.raises(FileNotFoundError, match=r"no 'test' split.*\"split\": \"test\""):
        source.load("test")


def test_an_image_bomb_is_refused_at_ingest_and_counted_when_skipping(tmp_path):
    from mmlm.testing.media import bomb_png

    manifest = _manifest(tmp_path, [{"id": "bomb", "text": "boom", "image": "media/bomb.png"}])
    (tmp_path / "media" / "bomb.png").write_bytes(bomb_png())  # 12000 x 12000
    with pytest.raises(DataValidationError) as error:
        prepare_data(_data_config(tmp_path / "strict", manifest), log=lambda *_: None)
    message = str(error.value)
    assert (
        "line 5, column 'image'" in message
        and "bomb.png: image_too_large: 12000 x 12000" in message
    )
    assert "(data.image.max_pixels)" in message and "--skip-invalid" in message
    data = _data_config(tmp_path / "skipping", manifest, skip_invalid=True)
    report = prepare_data(data, log=lambda *_: None)["source"].validation_report()
    assert report["counts_by_reason"] == {"image_too_large": 1}
    assert (report["num_rows"], report["num_valid"]) == (5, 4)
    # Other limits ingest the manifest anew: the bomb is a row like any other below 200 Mpx
    # (Pillow's own bomb limit still applies above its 89 Mpx, so it stays refused).
    raised = dataclasses.replace(data, image=dataclasses.replace(data.image, max_pixels=2 * 10**8))
    assert factory.make_source(raised).name != factory.make_source(data).name


def test_truncated_captions_are_counted_in_the_ingestion_report(tmp_path):
    long_rows = [
        {"id": "long", "text": " ".join(["word"] * 100), "split": "test"},
        {"id": "longer", "text": " ".join(["box"] * 300)},
    ]
    data = _data_config(tmp_path, _manifest(tmp_path, long_rows))
    logged = []
    source = prepare_data(data, log=logged.append)["source"]
    truncation = source.validation_report()["text_truncation"]
    max_tokens = data.text.sequence_length - 2
    assert {k: truncation[k] for k in ("sequence_length", "max_tokens", "rows", "by_split")} == {
        "sequence_length": data.text.sequence_length,
        "max_tokens": max_tokens,
        "rows": 2,
        "by_split": {"train": 1, "test": 1},
    }
    assert truncation["longest"] == {"id": "longer", "split": "train", "tokens": 300}
    line = f"Captions longer than {max_tokens} tokens (sequence_length {data.text.sequence_length}"
    assert any(entry.startswith(line) and "2 rows" in entry for entry in logged), logged
    # Counted once: a second preparation logs the stored count; another length counts again.
    again = []
    prepare_data(data, log=again.append)
    assert any(entry.startswith(line) for entry in again)
    longer = dataclasses.replace(data, text=dataclasses.replace(data.text, sequence_length=200))
    prepare_data(longer, log=lambda *_: None)
    assert source.text_truncation()["rows"] == 1  # only the 300 words


def test_an_ingestion_left_without_its_report_is_redone_as_from_scratch(tmp_path):
    """A process killed between the data set and its report (`mmlm data generate` killed at
    `write:invalid_records.json`) or while TFDS wrote the data set: the next one ingests again
    and leaves exactly the files of an uninterrupted ingestion."""
    data = _data_config(tmp_path, _manifest(tmp_path))
    source = prepare_data(data, log=lambda *_: None)["source"]
    fresh = faults.folder_contents(source.builder.data_dir)
    os.remove(os.path.join(source.builder.data_dir, "invalid_records.json"))
    # And TFDS's temporary folder of a process killed while it wrote the data set.
    leftover = os.path.join(os.path.dirname(source.builder.data_dir), "incomplete.AB12CD_1.0.0")
    os.makedirs(leftover)
    open(os.path.join(leftover, "manifest_dataset-train.tfrecord-00000-of-00001"), "w").close()
    logged = []
    prepare_data(data, log=logged.append)  # as a new process would, with the data set there
    assert f"removed {leftover}, left by an interrupted preparation" in logged
    assert sorted(os.listdir(os.path.dirname(leftover))) == ["1.0.0"]
    assert faults.folder_contents(source.builder.data_dir) == fresh
