"""Property tests of the manifest reader: whatever a manifest (JSONL or CSV) and its media files
hold, valid examples in the documented layout or a `DataValidationError`, never another error."""

import io
import json
import os
import types

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from PIL import Image

from mmlm.data.errors import DataValidationError
from mmlm.data.manifest_rows import read_manifest_rows
from mmlm.data.media_checks import MediaLimits
from mmlm.data.sources.manifest import (
    MANIFEST_COLUMNS,
    REASONS,
    SPLITS,
    WARNING_REASONS,
    manifest_columns,
    read_manifest,
)
from mmlm.data.validation_report import ValidationReport

IMAGE_SIZE, SAMPLE_RATE = 8, 8000
LIMITS = MediaLimits(max_pixels=64 * 64, max_audio_seconds=1.0, max_text_bytes=64)
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _png(size=(5, 4)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _wav(seconds=0.05):
    buffer = io.BytesIO()
    samples = np.sin(np.arange(int(SAMPLE_RATE * seconds)) / 5).astype(np.float32) * 0.5
    soundfile.write(buffer, samples, SAMPLE_RATE, "PCM_16", format="WAV")
    return buffer.getvalue()


GOOD = {"good.png": _png(), "big.png": _png((100, 100)), "good.wav": _wav(), "long.wav": _wav(2)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("manifest_properties")
    for name, content in GOOD.items():
        (root / name).write_bytes(content)
    (root / "jpeg.png").write_bytes(_jpeg())
    (root / "empty.wav").write_bytes(b"")
    (root / "a_dir").mkdir()
    return root


def _jpeg():
    buffer = io.BytesIO()
    Image.new("RGB", (6, 6)).save(buffer, "JPEG")
    return buffer.getvalue()


FUZZED = ("fuzz.png", "fuzz.wav", "mutant.png", "mutant.wav")
MEDIA = st.sampled_from([*GOOD, "jpeg.png", *FUZZED]) | st.sampled_from(
    ["empty.wav", "a_dir", "missing.png", "", " ", "../x.wav", "/dev/null"]
)
STRINGS = st.text(max_size=80) | st.sampled_from(SPLITS) | MEDIA
VALUES = (
    STRINGS
    | st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)
COLUMNS = st.sampled_from(MANIFEST_COLUMNS) | st.text(max_size=6)
# Per column: mostly values of the right kind (so rows get as far as decoding media), else any.
BY_COLUMN = {
    "id": st.text(min_size=1, max_size=6) | st.integers(-5, 5),
    "text": st.text(min_size=1, max_size=80),
    "image": MEDIA,
    "audio": MEDIA,
    "label": st.text(max_size=6) | st.integers(0, 3),
    "split": st.sampled_from(SPLITS) | st.text(max_size=6),
}
ROW = st.tuples(
    st.sampled_from(["text", "image", "audio"]).flatmap(
        lambda name: st.fixed_dictionaries({name: BY_COLUMN[name]})
    ),
    st.fixed_dictionaries(
        {}, optional={name: st.one_of(value, value, VALUES) for name, value in BY_COLUMN.items()}
    ),
).map(lambda pair: {**pair[1], **pair[0]})
ROWS = st.lists(
    st.one_of(ROW, ROW, ROW, st.dictionaries(COLUMNS, VALUES, max_size=6)), min_size=1, max_size=6
)
JSON_LINES = ROWS.map(lambda rows: [json.dumps(row).encode() for row in rows])
JSONL_LINES = st.lists(
    st.one_of(
        JSON_LINES,
        JSON_LINES,
        st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=3),
    ),
    min_size=1,
    max_size=3,
).map(lambda groups: [line for group in groups for line in group])
CELLS = STRINGS.map(str) | st.sampled_from(['"', '""', ",", "\n", '"a,b"', "\ufeff"])
VALID_HEADER = st.permutations(MANIFEST_COLUMNS).flatmap(
    lambda names: st.integers(1, len(names)).map(lambda n: list(names[:n]))
)
HEADER = st.one_of(VALID_HEADER, VALID_HEADER, VALID_HEADER, st.lists(COLUMNS, min_size=1))


def _csv_rows(header):
    typed = st.tuples(*[BY_COLUMN.get(n, CELLS) for n in header]).map(list)
    junk = st.lists(CELLS, max_size=7)
    return st.lists(st.one_of(typed, typed, junk), min_size=1, max_size=6).map(
        lambda rows: "\n".join(",".join(_cell(c) for c in cells) for cells in [header, *rows])
    )


def _cell(value):
    value = str(value)
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n') else value


CSV_TEXT = HEADER.flatmap(_csv_rows) | st.lists(st.lists(CELLS, max_size=7), max_size=6).map(
    lambda rows: "\n".join(",".join(cells) for cells in rows)
)
# Bytes a media file may hold: anything, or a valid file with some bytes changed or cut.
MEDIA_BYTES = st.binary(max_size=200) | st.tuples(
    st.sampled_from(sorted(GOOD)),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
    st.integers(1, 10**6),
).map(lambda t: _mutate(GOOD[t[0]], t[1], t[2]))


def _mutate(content, changes, keep):
    data = bytearray(content)
    for position, value in changes:
        data[position % len(data)] = value
    return bytes(data[: max(keep % (len(data) + 1), 1)])


def _write_media(folder, fuzz):
    for name, content in zip(FUZZED, fuzz):
        (folder / name).write_bytes(content)


def _check(path, skip_invalid):
    """Reads `path`; checks the examples' layout or that the error is a clear one."""
    report = ValidationReport()
    try:
        rows = list(
            read_manifest(
                path,
                image_size=IMAGE_SIZE,
                sample_rate=SAMPLE_RATE,
                skip_invalid=skip_invalid,
                report=report,
                limits=LIMITS,
            )
        )
    except DataValidationError as error:
        assert error.records and str(error)
        assert all(record.reason in REASONS for record in error.records)
        assert error.file_level or not skip_invalid  # skipping stops only at file-level errors
        _event(f"error: {error.records[0].reason}")
        return None
    _event(["no valid row", "1 valid row", "2+ valid rows"][min(len(rows), 2)])
    for record in report.invalid:
        _event(f"skipped: {record.reason}")
    keys = [key for key, _ in rows]
    assert len(set(keys)) == len(keys)
    for key, example in rows:
        _check_example(key, example)
    assert report.num_valid == len(rows)
    assert report.num_valid + len(report.invalid) == report.num_rows
    assert all(record.reason in REASONS for record in report.invalid)
    assert all(warning.reason in WARNING_REASONS for warning in report.warnings)
    return rows


def _event(text):
    """Counts an outcome (`pytest --hypothesis-show-statistics` lists them)."""
    try:
        event(text)
    except InvalidArgument:  # outside a property test
        pass


def _check_example(key, example):
    assert example["id"] == key and key.strip()
    assert example["split"] in SPLITS
    assert isinstance(example["text"], str) and isinstance(example["label"], str)
    assert len(example["text"].encode()) <= LIMITS.max_text_bytes
    if example["image"] is not None:
        assert example["image"].shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
        assert example["image"].dtype == np.uint8
    if example["audio"] is not None:
        assert example["audio"].ndim == 1 and example["audio"].dtype == np.int16
        assert len(example["audio"]) <= LIMITS.max_audio_seconds * SAMPLE_RATE + 1
    assert example["text"] or example["image"] is not None or example["audio"] is not None


def _check_columns(path):
    try:
        found = manifest_columns(path)
    except DataValidationError as error:
        assert error.file_level
        return
    assert found <= {"text", "image", "audio", "label"}


@PROPERTY
@given(JSONL_LINES, st.tuples(*[MEDIA_BYTES] * 4), st.booleans())
def test_any_jsonl_manifest_gives_examples_or_a_clear_error(folder, lines, fuzz, skip_invalid):
    _write_media(folder, fuzz)
    path = folder / "manifest.jsonl"
    path.write_bytes(b"\n".join(lines))
    _check(path, skip_invalid)
    _check_columns(path)


@PROPERTY
@given(CSV_TEXT, st.tuples(*[MEDIA_BYTES] * 4), st.booleans())
def test_any_csv_manifest_gives_examples_or_a_clear_error(folder, text, fuzz, skip_invalid):
    _write_media(folder, fuzz)
    path = folder / "manifest.csv"
    path.write_bytes(text.encode("utf-8", "replace"))
    _check(path, skip_invalid)
    _check_columns(path)


@PROPERTY
@given(ROWS, st.tuples(*[MEDIA_BYTES] * 4), st.sampled_from([None, *SPLITS]))
def test_manifest_rows_for_a_preset(folder, rows, fuzz, split):
    """`read_manifest_rows` (rows for a preset's preprocessor) keeps the same contract."""
    _write_media(folder, fuzz)
    path = folder / "rows.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows))
    preprocessor = types.SimpleNamespace(
        image_preprocessor=types.SimpleNamespace(image_size=IMAGE_SIZE),
        audio_preprocessor=None,
        modalities=("text", "image"),
    )
    try:
        result = read_manifest_rows(path, preprocessor, split=split, skip_invalid=True)
    except DataValidationError as error:
        assert error.file_level
        return
    for row in result:
        assert row["audio"] is None and (split is None or row["split"] == split)
        assert row["text"] is None or row["text"].strip()


def test_the_properties_are_not_vacuous(folder):
    """A valid row of each kind passes through the same checks (and is kept)."""
    path = folder / "valid.jsonl"
    rows = [
        {"text": "a cat", "image": "good.png"},
        {"id": 7, "audio": "good.wav", "split": "test", "label": "x"},
        {"text": "jpeg named png", "image": "jpeg.png"},
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    examples = _check(path, skip_invalid=False)
    assert [key for key, _ in examples] == ["line1", "7", "line3"]
    invalid = folder / "invalid.jsonl"
    invalid.write_text(json.dumps({"text": "x", "image": "big.png"}))
    assert _check(invalid, skip_invalid=True) == []
    assert os.path.isfile(folder / "big.png")
