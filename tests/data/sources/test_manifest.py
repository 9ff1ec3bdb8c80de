"""Tests for the manifest reader (no TensorFlow needed): conversions, and each invalid case."""

import ast
import json
import pathlib

import numpy as np
import pytest
import soundfile
from PIL import Image

from mmlm.data import errors, media_checks, validation_report
from mmlm.data.errors import DataValidationError
from mmlm.data.media_checks import MediaLimits
from mmlm.data.sources import manifest, manifest_media
from mmlm.data.sources.manifest import manifest_columns, read_manifest
from mmlm.data.validation_report import ValidationReport
from mmlm.testing.media import bomb_png, image_bytes

IMAGE_SIZE = 16
SAMPLE_RATE = 16000
FORBIDDEN_IMPORTS = ("tensorflow", "keras", "tf_keras", "mmlm.backend")


def _sine(freq, rate, seconds=1.0, amplitude=0.5):
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(samples, rate):
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return np.argmax(spectrum) * rate / len(samples)


def _amplitude_at(samples, rate, freq):
    """Amplitude (in int16 units) of the sine at `freq` Hz, from the FFT bin nearest to it."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64))) * 2 / len(samples)
    return spectrum[int(round(freq * len(samples) / rate))]


def _write_media(media):
    """Writes every media fixture into folder `media`; returns {name: relative path}."""
    media.mkdir(parents=True)
    rgba = np.zeros((23, 37, 4), np.uint8)
    rgba[:, :18] = (255, 0, 0, 0)  # transparent red: must come out white
    rgba[:, 18:] = (0, 0, 255, 255)
    Image.fromarray(rgba, "RGBA").save(media / "rgba.png")
    Image.fromarray(np.full((17, 31), 77, np.uint8), "L").save(media / "gray.jpg", quality=95)
    palette = Image.new("P", (20, 30))
    palette.putpalette([10, 200, 30, 250, 5, 5, 0, 0, 0])
    palette.putdata([0] * 200 + [1] * 200 + [2] * 200)  # thirds, top to bottom
    palette.save(media / "palette.png", transparency=2)
    gray16 = np.full((24, 40), 65535, np.uint16)
    gray16[:, :20] = 25700  # = 100 * 257
    Image.fromarray(gray16).save(media / "gray16.png")
    left, right = _sine(300, 8000, amplitude=0.6), _sine(700, 8000, amplitude=0.6)
    soundfile.write(media / "stereo8k.wav", np.stack([left, right], 1), 8000, "PCM_16")
    rng = np.random.default_rng(0)
    pcm = rng.integers(-20000, 20000, size=(1600, 2)).astype(np.int16)
    soundfile.write(media / "stereo16k.wav", pcm, SAMPLE_RATE, "PCM_16")
    soundfile.write(media / "tone44k.flac", _sine(440, 44100), 44100, "PCM_16")
    soundfile.write(media / "tone22k.ogg", _sine(1000, 22050), 22050, "VORBIS")
    soundfile.write(
        media / "loud.wav", np.array([0.5, 1.5, -2.0, 0.0], np.float32), SAMPLE_RATE, "FLOAT"
    )
    _write_bad_media(media)
    return {p.stem: f"media/{p.name}" for p in media.iterdir()}


def _write_bad_media(media):
    soundfile.write(media / "full.wav", _sine(440, SAMPLE_RATE), SAMPLE_RATE, "PCM_16")
    data = (media / "full.wav").read_bytes()
    (media / "truncated.wav").write_bytes(data[:-1001])
    streamed = bytearray(data)  # as espeak-ng --stdout writes it: length unknown when streaming
    data_chunk = streamed.find(b"data")
    streamed[data_chunk + 4 : data_chunk + 8] = (0x7FFFF000).to_bytes(4, "little")
    (media / "streamed.wav").write_bytes(streamed)
    data = (media / "tone22k.ogg").read_bytes()
    (media / "cut.ogg").write_bytes(data[: len(data) * 9 // 10])
    data = (media / "tone44k.flac").read_bytes()
    (media / "cut.flac").write_bytes(data[: len(data) * 6 // 10])
    soundfile.write(media / "silent.wav", np.zeros(0, np.float32), SAMPLE_RATE, "PCM_16")
    (media / "garbage.wav").write_bytes(b"RIFF\x10\x00\x00\x00not a wave file at all")
    noise = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(media / "noise.png")
    data = (media / "noise.png").read_bytes()
    (media / "cut.png").write_bytes(data[: len(data) // 2])
    (media / "no_end.png").write_bytes(data[:-12])  # loads, but lacks its IEND chunk
    (media / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (media / "bomb.png").write_bytes(bomb_png())  # 12000 x 12000 in 18 KB


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A folder holding media/ and, per test, manifests; media paths in `data_dir.media`."""
    root = tmp_path_factory.mktemp("manifest_data")
    _write_media(root / "media")
    return root


@pytest.fixture(autouse=True)
def other_cwd(tmp_path, monkeypatch):
    """Runs each test from a folder holding a decoy media/ to prove paths resolve elsewhere."""
    cwd = tmp_path / "cwd"
    (cwd / "media").mkdir(parents=True)
    Image.new("RGB", (37, 23), (0, 255, 0)).save(cwd / "media" / "rgba.png")
    monkeypatch.chdir(cwd)


_counter = iter(range(10**6))


def _jsonl(folder, lines):
    """Writes a manifest: dict lines as JSON, str/bytes lines verbatim. Returns its path."""
    path = folder / f"manifest{next(_counter)}.jsonl"
    raw = [
        line
        if isinstance(line, bytes)
        else (line if isinstance(line, str) else json.dumps(line)).encode("utf-8")
        for line in lines
    ]
    path.write_bytes(b"\n".join(raw) + b"\n")
    return path


def _csv(folder, text):
    path = folder / f"manifest{next(_counter)}.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def _read(path, **kwargs):
    return dict(read_manifest(path, image_size=IMAGE_SIZE, sample_rate=SAMPLE_RATE, **kwargs))


# ---------------------------------------------------------------------------------------------
# Conversions.


def test_images_become_rgb_uint8_with_alpha_over_white(data_dir):
    rows = [{"id": name, "image": f"media/{name}.png"} for name in ("rgba", "palette", "gray16")]
    examples = _read(_jsonl(data_dir, rows + [{"id": "gray", "image": "media/gray.jpg"}]))
    for example in examples.values():
        assert example["image"].shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
        assert example["image"].dtype == np.uint8
    rgba = examples["rgba"]["image"]  # not the green decoy in the working directory
    np.testing.assert_array_equal(rgba[:, :6], 255)
    np.testing.assert_array_equal(rgba[:, 10:], np.broadcast_to([0, 0, 255], (16, 6, 3)))
    palette = examples["palette"]["image"]
    np.testing.assert_array_equal(palette[:4], np.broadcast_to([10, 200, 30], (4, 16, 3)))
    np.testing.assert_array_equal(palette[6:10], np.broadcast_to([250, 5, 5], (4, 16, 3)))
    np.testing.assert_array_equal(palette[12:], 255)  # transparent palette index
    gray16 = examples["gray16"]["image"]
    np.testing.assert_array_equal(gray16[:, :6], 100)  # 25700 / 257, not clipped to 255
    np.testing.assert_array_equal(gray16[:, 11:], 255)
    gray = examples["gray"]["image"].astype(int)
    assert np.abs(gray - 77).max() <= 2
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])


def test_audio_is_mono_int16_at_the_target_rate(data_dir):
    names = ("stereo8k.wav", "tone44k.flac", "tone22k.ogg")
    examples = _read(_jsonl(data_dir, [{"id": n, "audio": f"media/{n}"} for n in names]))
    for name in names:
        audio = examples[name]["audio"]
        assert audio.dtype == np.int16 and audio.ndim == 1
        assert abs(len(audio) - SAMPLE_RATE) <= 2, name  # 1 s at 16 kHz
    assert _peak_hz(examples["tone44k.flac"]["audio"], SAMPLE_RATE) == pytest.approx(440, abs=1)
    assert _peak_hz(examples["tone22k.ogg"]["audio"], SAMPLE_RATE) == pytest.approx(1000, abs=1)
    assert _amplitude_at(examples["tone44k.flac"]["audio"], SAMPLE_RATE, 440) == pytest.approx(
        0.5 * 32768, rel=0.02
    )
    stereo = examples["stereo8k.wav"]["audio"]  # mean of 0.6 sin(300 Hz) and 0.6 sin(700 Hz)
    for freq in (300, 700):
        assert _amplitude_at(stereo, SAMPLE_RATE, freq) == pytest.approx(0.3 * 32768, rel=0.02)


def test_stereo_mixdown_is_the_channel_mean(data_dir):
    ((_, example),) = read_manifest(
        _jsonl(data_dir, [{"audio": "media/stereo16k.wav"}]), image_size=8, sample_rate=SAMPLE_RATE
    )
    pcm, _ = soundfile.read(data_dir / "media" / "stereo16k.wav", dtype="int16")
    np.testing.assert_array_equal(example["audio"], np.rint(pcm.astype(float).mean(axis=1)))


def test_streamed_wav_placeholder_size_is_not_a_truncation(data_dir):
    examples = _read(_jsonl(data_dir, [{"id": "s", "audio": "media/streamed.wav"}]))
    pcm, _ = soundfile.read(data_dir / "media" / "full.wav", dtype="int16")
    np.testing.assert_array_equal(examples["s"]["audio"], pcm)


def test_clipped_audio_is_kept_and_counted_as_a_warning(data_dir):
    report = ValidationReport()
    examples = _read(_jsonl(data_dir, [{"id": "loud", "audio": "media/loud.wav"}]), report=report)
    np.testing.assert_array_equal(examples["loud"]["audio"], [16384, 32767, -32768, 0])
    assert report.num_valid == 1 and not report.invalid
    (warning,) = report.warnings
    assert (warning.reason, warning.line, warning.column) == ("clipped_audio", 1, "audio")
    assert warning.detail == "2 samples outside [-1, 1] were clipped"


def test_fields_keys_and_defaults(data_dir):
    examples = _read(
        _jsonl(
            data_dir,
            [
                {"id": "a", "text": "a red circle", "label": "circle", "split": "test"},
                "",  # blank lines are ignored but still counted in line numbers
                {"text": "no id", "id": None},
                {"id": 7, "text": "numeric id", "label": 3, "split": "validation"},
            ],
        )
    )
    assert list(examples) == ["a", "line3", "7"]
    assert examples["a"] == {
        "id": "a",
        "text": "a red circle",
        "image": None,
        "audio": None,
        "label": "circle",
        "split": "test",
    }
    assert examples["line3"]["split"] == "train" and examples["line3"]["label"] == ""
    assert (examples["7"]["label"], examples["7"]["split"]) == ("3", "validation")


def test_csv_reads_quoted_multiline_fields_and_ignores_blank_rows(data_dir):
    path = _csv(
        data_dir,
        "\ufeffid,text,image,label\r\n"
        'a,"line one\r\nline two",media/rgba.png,x\r\n'
        ",,,\r\n\r\n"
        "b,just text,,\r\n",
    )
    report = ValidationReport()
    examples = _read(path, report=report)
    assert examples["a"]["text"] == "line one\r\nline two"
    assert examples["a"]["image"].shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    assert examples["b"]["image"] is None and examples["b"]["label"] == ""
    assert (report.num_rows, report.num_valid) == (2, 2)


def test_manifest_columns_lists_modalities_with_values(data_dir):
    jsonl = _jsonl(data_dir, [{"text": "a"}, {"audio": "media/loud.wav", "label": None}, "{bad"])
    assert manifest_columns(jsonl) == {"text", "audio"}
    csv_path = _csv(data_dir, "id,text,image,label\na,hello,,\nb,,media/rgba.png,\n")
    assert manifest_columns(csv_path) == {"text", "image"}
    assert manifest.MANIFEST_COLUMNS == ("id", "text", "image", "audio", "label", "split")


def test_unknown_suffix_is_refused(data_dir):
    path = data_dir / "manifest.txt"
    path.write_text("{}\n")
    with pytest.raises(ValueError, match=r"\.jsonl, \.json-lines, \.csv"):
        _read(path)


# ---------------------------------------------------------------------------------------------
# Invalid rows: each case is (bad line, reason, column, file name or None, text in the message).

BAD_JSONL_ROWS = {
    "missing_file": ({"text": "x", "image": "media/nope.png"}, "image", "nope.png", "no such"),
    "cut_png": ({"image": "media/cut.png"}, "image", "cut.png", "Truncated File Read"),
    "garbage_png": ({"image": "media/garbage.png"}, "image", "garbage.png", "cannot decode"),
    "png_without_end": ({"image": "media/no_end.png"}, "image", "no_end.png", "truncated PNG"),
    "truncated_wav": ({"audio": "media/truncated.wav"}, "audio", "truncated.wav", "declares 32000"),
    "cut_ogg": ({"audio": "media/cut.ogg"}, "audio", "cut.ogg", "Ogg stream ends unexpectedly"),
    "cut_flac": ({"audio": "media/cut.flac"}, "audio", "cut.flac", "lost sync"),
    "empty_wav": ({"text": "x", "audio": "media/silent.wav"}, "audio", "silent.wav", "no samples"),
    "garbage_wav": ({"audio": "media/garbage.wav"}, "audio", "garbage.wav", "cannot read"),
    "empty_text": ({"text": "  \t", "image": "media/rgba.png"}, "text", None, "empty"),
    "non_utf8": (b'{"text": "caf\xe9"}', None, None, "byte 0xe9 at byte 14"),
    "unknown_column": ({"text": "x", "imgae": "media/rgba.png"}, "imgae", None, "'image'"),
    "invalid_json": ('{"text": "x",}', None, None, "Expecting property name"),
    "not_an_object": ('["x"]', None, None, "expected a JSON object, got list"),
    "no_modality": ({"id": "z", "label": "cat"}, None, None, "none of the columns"),
    "invalid_split": ({"text": "x", "split": "dev"}, "split", None, "'dev' is not one of"),
    "invalid_value": ({"text": 5}, "text", None, "expected a string, got int 5"),
    "duplicate_id": ({"id": "good1", "text": "again"}, "id", None, "already used"),
    "image_too_large": ({"image": "media/bomb.png"}, "image", "bomb.png", "12000 x 12000 ="),
    "text_too_long": ({"text": "x" * 1_000_001}, "text", None, "1,000,001 bytes of UTF-8"),
}
REASON = {
    "cut_png": "corrupt_image",
    "garbage_png": "corrupt_image",
    "png_without_end": "corrupt_image",
    "truncated_wav": "truncated_audio",
    "empty_wav": "empty_audio",
    "garbage_wav": "unreadable_audio",
    "cut_ogg": "truncated_audio",
    "cut_flac": "unreadable_audio",
    "not_an_object": "invalid_json",
}
GOOD_ROWS = [
    {"id": "good1", "text": "a caption", "image": "media/rgba.png", "audio": "media/tone22k.ogg"},
    {"id": "good2", "image": "media/gray16.png", "label": "b", "split": "validation"},
]


@pytest.mark.parametrize("case", sorted(BAD_JSONL_ROWS))
def test_default_mode_raises_at_the_first_invalid_row(data_dir, case):
    row, column, file_name, message = BAD_JSONL_ROWS[case]
    path = _jsonl(data_dir, [GOOD_ROWS[0], row, GOOD_ROWS[1]])
    rows = read_manifest(path, image_size=IMAGE_SIZE, sample_rate=SAMPLE_RATE)
    assert next(rows)[0] == "good1"
    with pytest.raises(DataValidationError) as raised:
        next(rows)
    text = str(raised.value)
    reason = REASON.get(case, case)
    assert f"{path}, line 2" in text and f": {reason}: " in text and message in text
    assert "--skip-invalid" in text
    (record,) = raised.value.records
    assert (record.source, record.line, record.column, record.reason) == (
        str(path),
        2,
        column,
        reason,
    )
    if file_name is None:
        assert record.path is None
    else:
        assert record.path == str(data_dir / "media" / file_name)
        assert f"column {column!r}, file {record.path}:" in text


def test_skip_mode_keeps_every_valid_row_and_counts_reasons(data_dir):
    bad_rows = [BAD_JSONL_ROWS[case][0] for case in sorted(BAD_JSONL_ROWS)]
    mixed = _jsonl(data_dir, GOOD_ROWS[:1] + bad_rows + GOOD_ROWS[1:])
    report = ValidationReport()
    kept = _read(mixed, skip_invalid=True, report=report)
    clean = _read(_jsonl(data_dir, GOOD_ROWS))
    assert list(kept) == ["good1", "good2"]
    for key, example in clean.items():
        for name, value in example.items():
            np.testing.assert_array_equal(kept[key][name], value)
    expected = {}
    for case in BAD_JSONL_ROWS:
        expected[REASON.get(case, case)] = expected.get(REASON.get(case, case), 0) + 1
    assert report.counts_by_reason() == expected
    bad = len(BAD_JSONL_ROWS)
    assert (report.num_rows, report.num_valid, report.num_invalid) == (bad + 2, 2, bad)
    assert [r.line for r in report.invalid] == list(range(2, bad + 2))


def test_report_summary_json_and_raise(data_dir, tmp_path):
    path = _jsonl(data_dir, [{"text": ""}, {"text": "ok"}, {"text": " "}, {"image": "media/x.png"}])
    report = ValidationReport()
    assert list(_read(path, skip_invalid=True, report=report)) == ["line2"]
    summary = report.summary()
    assert summary.startswith("4 rows read: 1 valid, 3 invalid, 0 warnings.")
    assert "  empty_text: 2\n  missing_file: 1" in summary
    report.to_json(tmp_path / "invalid_records.json")
    saved = json.loads((tmp_path / "invalid_records.json").read_text())
    assert saved["counts_by_reason"] == {"empty_text": 2, "missing_file": 1}
    assert saved["invalid"][2] == {
        "source": str(path),
        "line": 4,
        "column": "image",
        "path": str(data_dir / "media" / "x.png"),
        "reason": "missing_file",
        "detail": "no such file (written as 'media/x.png')",
    }
    with pytest.raises(DataValidationError, match="3 invalid records:") as raised:
        report.raise_if_invalid()
    assert len(raised.value.records) == 3


def test_csv_non_utf8_is_reported_at_its_physical_line(data_dir):
    path = _csv(
        data_dir,
        b'text,image\n"two\nlines",media/rgba.png\nok,\nbad \xff\xfe,\nmissing,media/gone.png\n',
    )
    with pytest.raises(DataValidationError) as raised:
        _read(path)
    (record,) = raised.value.records
    assert (record.line, record.column, record.reason) == (5, "text", "non_utf8")
    assert f"{path}, line 5, column 'text': non_utf8: byte 0xff at byte 5" in str(raised.value)
    report = ValidationReport()
    kept = _read(path, skip_invalid=True, report=report)
    assert [e["text"] for e in kept.values()] == ["two\nlines", "ok"]
    assert list(kept) == ["line2", "line4"]  # keys use the record's first physical line
    assert [(r.line, r.reason) for r in report.invalid] == [(5, "non_utf8"), (6, "missing_file")]


def test_csv_header_error_is_file_level_even_when_skipping(data_dir):
    path = _csv(data_dir, "id,txt,image\na,hello,media/rgba.png\n")
    report = ValidationReport()
    with pytest.raises(DataValidationError) as raised:
        _read(path, skip_invalid=True, report=report)
    text = str(raised.value)
    assert f"{path}, line 1, column 'txt': unknown_column: " in text
    assert "did you mean 'text'?" in text and "file-level error" in text
    assert raised.value.file_level and report.counts_by_reason() == {"unknown_column": 1}
    with pytest.raises(DataValidationError, match="duplicate_column"):
        manifest_columns(_csv(data_dir, "text,text\na,b\n"))
    with pytest.raises(DataValidationError, match="no_modality: the CSV header has none"):
        _read(_csv(data_dir, "id,label\na,b\n"), skip_invalid=True)


def test_csv_row_with_extra_cells_is_malformed(data_dir):
    path = _csv(data_dir, "id,text\na,hello\nb,hi,extra\n")
    report = ValidationReport()
    assert list(_read(path, skip_invalid=True, report=report)) == ["a"]
    (record,) = report.invalid
    assert (record.line, record.reason) == (3, "malformed_row")
    assert record.detail == "3 cells but the header has 2 columns"


# ---------------------------------------------------------------------------------------------
# Limits (checked from the header, before decoding) and extensions that lie.


def test_limits_name_the_value_the_limit_and_its_config_field(data_dir):
    bomb = _jsonl(data_dir, [{"image": "media/bomb.png"}])
    with pytest.raises(DataValidationError) as raised:
        _read(bomb)
    assert (
        "image_too_large: 12000 x 12000 = 144,000,000 pixels, over the limit of 40,000,000 "
        "(data.image.max_pixels); refused before decoding" in str(raised.value)
    )
    # The 1 s tone is over a 0.5 s limit; a caption is refused one byte past 1 MB, not at 1 MB.
    rows = [
        {"id": "long", "audio": "media/tone44k.flac"},
        {"id": "huge", "text": "x" * 1_000_001},
        {"id": "big", "text": "x" * 1_000_000},
    ]
    report = ValidationReport()
    limits = MediaLimits(max_audio_seconds=0.5)
    kept = _read(_jsonl(data_dir, rows), skip_invalid=True, report=report, limits=limits)
    assert list(kept) == ["big"]
    assert report.counts_by_reason() == {"audio_too_long": 1, "text_too_long": 1}
    audio = report.invalid[0]
    assert (audio.column, audio.path) == ("audio", str(data_dir / "media" / "tone44k.flac"))
    assert audio.detail.startswith("1.0 s (44,100 frames at 44100 Hz), over the limit of 0.5 s")


def test_content_not_matching_its_extension_is_decoded_and_warned(data_dir):
    (data_dir / "media" / "photo.png").write_bytes(image_bytes("JPEG", colour=(0, 0, 250)))
    flac = (data_dir / "media" / "tone44k.flac").read_bytes()
    (data_dir / "media" / "flac.wav").write_bytes(flac)
    rows = [{"id": "p", "image": "media/photo.png", "audio": "media/flac.wav"}]
    report = ValidationReport()
    examples = _read(_jsonl(data_dir, rows), report=report)
    assert examples["p"]["image"][..., 2].min() > 230  # decoded as the JPEG it is
    assert abs(len(examples["p"]["audio"]) - SAMPLE_RATE) <= 2  # and the FLAC
    assert report.num_valid == 1 and report.warning_counts_by_reason() == {"extension_mismatch": 2}
    image, audio = report.warnings
    assert image.detail == "the file is named .png but holds JPEG data; it was decoded as JPEG"
    assert (audio.column, audio.detail) == (
        "audio",
        "the file is named .wav but holds FLAC data; it was decoded as FLAC",
    )
    assert "Warnings by reason:\n  extension_mismatch: 2" in report.summary()


def test_library_modules_do_not_import_tensorflow():
    for module in (manifest, manifest_media, media_checks, errors, validation_report):
        tree = ast.parse(pathlib.Path(module.__file__).read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                for name in names:
                    assert not name.startswith(FORBIDDEN_IMPORTS), (module.__name__, name)
