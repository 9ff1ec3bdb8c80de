"""Reads a user's manifest (JSONL or CSV) of text / image / audio rows into NumPy examples.

The format is described for users in docs/manifest.md. This module stays free of TensorFlow: it
decodes and validates media with PIL, soundfile and librosa, and the TFDS builder turns what
`read_manifest` yields into a dataset.

Every row is validated in full (columns, values, and each media file decoded) before it is
yielded, so a row is either kept whole or skipped whole: a bad modality is never dropped or
replaced by zeros.
"""

import csv
import dataclasses
import difflib
import json
import logging
import os
import struct
import zlib

import librosa
import numpy as np
import soundfile
from PIL import Image

from mmlm.data.errors import DataValidationError
from mmlm.data.validation_report import InvalidRecord, RecordWarning, ValidationReport

MANIFEST_COLUMNS = ("id", "text", "image", "audio", "label", "split")
MODALITY_COLUMNS = ("text", "image", "audio")
FEATURE_COLUMNS = ("text", "image", "audio", "label")
SPLITS = ("train", "validation", "test")
JSONL_SUFFIXES = (".jsonl", ".json-lines")
CSV_SUFFIXES = (".csv",)
# One key per invalid row (its first problem) or per file-level error; "clipped_audio" is a warning.
REASONS = (
    "missing_file",
    "corrupt_image",
    "unreadable_audio",
    "truncated_audio",
    "empty_audio",
    "nonfinite_audio",
    "empty_text",
    "non_utf8",
    "invalid_json",
    "unknown_column",
    "duplicate_column",
    "malformed_row",
    "malformed_csv",
    "no_modality",
    "invalid_split",
    "invalid_value",
    "duplicate_id",
)
WARNING_REASONS = ("clipped_audio",)

_BOM = b"\xef\xbb\xbf"
# Tools that stream a WAV to a pipe cannot know its length and write a placeholder data size
# (espeak-ng --stdout writes 0x7ffff000, others 0xffffffff); such a size is not a truncation.
_STREAMED_WAV_SIZE = 0x7FFF0000
# PIL reports undecodable or truncated files through all of these.
_IMAGE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)

logger = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class _RowError(Exception):
    """Why one row is invalid; becomes an `InvalidRecord` once its line and source are known."""

    reason: str
    detail: str
    column: str | None = None
    path: str | None = None

    def to_record(self, source, line):
        return InvalidRecord(source, line, self.column, self.path, self.reason, self.detail)


def read_manifest(path, *, image_size, sample_rate, skip_invalid=False, report=None):
    """Yields `(key, example)` for each valid row of a JSONL or CSV manifest.

    Args:
        path: the manifest; its suffix picks the format (.jsonl / .json-lines, or .csv).
            Relative media paths resolve against the manifest's folder.
        image_size: images are converted to RGB and resized to (image_size, image_size).
        sample_rate: audio is mixed to mono and resampled to this rate (Hz).
        skip_invalid: False (default) raises `DataValidationError` at the first invalid row.
            True skips invalid rows and records each in `report`. File-level errors (a bad CSV
            header, say) raise either way, since no row can be read.
        report: a `ValidationReport` that collects row counts, invalid records and warnings
            (clipped audio). When None, a summary of what was skipped is logged at the end.

    Yields:
        key: the row's id, or f"line{n}" (n = the row's 1-based line) when it has none.
        example: {"id": str (= key), "text": str ("" if absent),
            "image": uint8 (image_size, image_size, 3) or None,
            "audio": int16 (num_samples,) or None, "label": str ("" if absent),
            "split": "train" | "validation" | "test"}.

    Raises:
        DataValidationError: naming the manifest, line, column, media file and problem.
        FileNotFoundError: if the manifest itself does not exist.
        ValueError: if the suffix is not a manifest suffix.
    """
    source = os.path.abspath(os.fspath(path))  # records name it unambiguously, as media files
    own_report = report is None
    report = ValidationReport() if own_report else report
    base_dir = os.path.dirname(source)
    seen_keys = set()
    try:
        for line, row in _read_rows(source):
            report.num_rows += 1
            try:
                if isinstance(row, _RowError):
                    raise row
                key, example, warnings = _build_example(
                    row, line, base_dir, image_size, sample_rate, seen_keys
                )
            except _RowError as error:
                report.add_invalid(error.to_record(source, line))
                if not skip_invalid:
                    raise DataValidationError([report.invalid[-1]]) from None
                continue
            for column, file_path, reason, detail in warnings:
                warning = RecordWarning(source, line, column, file_path, reason, detail)
                report.add_warning(warning)
                if own_report:
                    logger.warning("%s", warning.describe())
            seen_keys.add(key)
            report.num_valid += 1
            yield key, example
    except DataValidationError as error:
        if error.file_level:
            report.invalid.extend(error.records)
        raise
    if own_report and report.invalid:
        logger.warning("Skipped invalid rows of %s:\n%s", source, report.summary())


def manifest_columns(path):
    """Returns which of text / image / audio / label have a value in at least one row.

    Rows that are invalid as a whole (bad JSON, non-UTF-8) are ignored here; `read_manifest`
    reports them. A bad CSV header raises `DataValidationError` as in `read_manifest`.
    """
    found = set()
    for _, row in _read_rows(os.fspath(path)):
        if isinstance(row, dict):
            found.update(k for k in FEATURE_COLUMNS if row.get(k) not in (None, ""))
    return frozenset(found)


# ---------------------------------------------------------------------------------------------
# Reading rows. Each reader yields (line, dict of present columns) or (line, _RowError).


def _read_rows(source):
    suffix = os.path.splitext(source)[1].lower()
    if suffix in JSONL_SUFFIXES:
        return _jsonl_rows(source)
    if suffix in CSV_SUFFIXES:
        return _csv_rows(source)
    raise ValueError(
        f"Cannot tell the format of manifest {source!r} from its suffix {suffix!r}: use one of "
        f"{', '.join(JSONL_SUFFIXES + CSV_SUFFIXES)}."
    )


def _decode_line(raw, line):
    """Decodes one physical line (bytes) as UTF-8, raising a `_RowError` that locates bad bytes."""
    if line == 1 and raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _RowError(
            "non_utf8",
            f"byte 0x{raw[error.start]:02x} at byte {error.start + 1} of the line is not valid "
            "UTF-8 (save the manifest as UTF-8)",
        ) from None


def _jsonl_rows(source):
    with open(source, "rb") as f:
        for line, raw in enumerate(f, start=1):  # binary lines split on b"\n" only
            try:
                text = _decode_line(raw, line)
            except _RowError as error:
                yield line, error
                continue
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                yield line, _RowError("invalid_json", f"{error.msg} at character {error.colno}")
                continue
            if not isinstance(row, dict):
                yield (
                    line,
                    _RowError("invalid_json", f"expected a JSON object, got {type(row).__name__}"),
                )
                continue
            yield line, {k: v for k, v in row.items() if v is not None}


def _csv_rows(source):
    bad_lines = {}  # physical line -> detail, for lines that are not UTF-8

    def physical_lines(f):
        for line, raw in enumerate(f, start=1):
            try:
                yield _decode_line(raw, line)
            except _RowError as error:
                bad_lines[line] = error.detail
                yield raw.decode("utf-8", errors="replace")

    with open(source, "rb") as f:
        reader = csv.reader(physical_lines(f))
        header, end = None, 0
        while True:
            start = end + 1  # a quoted field may span lines: the record is lines start..end
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                record = InvalidRecord(
                    source, reader.line_num, None, None, "malformed_csv", str(error)
                )
                raise DataValidationError([record], file_level=True) from None
            end = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank line, or a row of empty cells as spreadsheets export
            bad = [line for line in range(start, end + 1) if line in bad_lines]
            if header is None:
                header = _check_csv_header(source, cells, start, bad, bad_lines)
            elif bad:
                column = next((h for h, c in zip(header, cells) if "\ufffd" in c), None)
                yield bad[0], _RowError("non_utf8", bad_lines[bad[0]], column)
            elif any(cell.strip() for cell in cells[len(header) :]):
                yield (
                    start,
                    _RowError(
                        "malformed_row",
                        f"{len(cells)} cells but the header has {len(header)} columns",
                    ),
                )
            else:  # in CSV an empty cell is an absent value
                yield start, {name: cell for name, cell in zip(header, cells) if cell != ""}


def _check_csv_header(source, cells, line, bad, bad_lines):
    """Returns the header's column names, or raises a file-level `DataValidationError`."""
    if bad:
        record = InvalidRecord(source, bad[0], None, None, "non_utf8", bad_lines[bad[0]])
        raise DataValidationError([record], file_level=True)
    records = []
    for position, name in enumerate(cells):
        if not name.strip():
            detail = "empty column name in the CSV header (a trailing comma?)"
            records.append(InvalidRecord(source, line, name, None, "unknown_column", detail))
        elif name not in MANIFEST_COLUMNS:
            detail = "unknown column in the CSV header" + _did_you_mean(name)
            records.append(InvalidRecord(source, line, name, None, "unknown_column", detail))
        elif name in cells[:position]:
            detail = "column appears twice in the CSV header"
            records.append(InvalidRecord(source, line, name, None, "duplicate_column", detail))
    if not records and not set(cells) & set(MODALITY_COLUMNS):
        detail = f"the CSV header has none of the columns {', '.join(MODALITY_COLUMNS)}"
        records.append(InvalidRecord(source, line, None, None, "no_modality", detail))
    if records:
        raise DataValidationError(records, file_level=True)
    return cells


def _did_you_mean(name):
    close = difflib.get_close_matches(str(name).strip().lower(), MANIFEST_COLUMNS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} Valid columns: {', '.join(MANIFEST_COLUMNS)}"


# ---------------------------------------------------------------------------------------------
# Validating one row and decoding its media.


def _build_example(row, line, base_dir, image_size, sample_rate, seen_keys):
    """Validates a row of present columns; returns (key, example, warnings) or raises _RowError."""
    for name in row:
        if name not in MANIFEST_COLUMNS:
            raise _RowError("unknown_column", "unknown column" + _did_you_mean(name), str(name))
    values = {name: _string_value(name, value) for name, value in row.items()}
    if not set(values) & set(MODALITY_COLUMNS):
        raise _RowError(
            "no_modality", f"the row has none of the columns {', '.join(MODALITY_COLUMNS)}"
        )
    key = values.get("id", f"line{line}")
    if not key.strip():
        raise _RowError("invalid_value", "the id is empty", "id")
    if key in seen_keys:
        raise _RowError("duplicate_id", f"id {key!r} was already used by an earlier row", "id")
    if "text" in values and not values["text"].strip():
        raise _RowError("empty_text", "the caption is empty or only whitespace", "text")
    split = values.get("split", "train")
    if split not in SPLITS:
        raise _RowError(
            "invalid_split", f"{split!r} is not one of {', '.join(map(repr, SPLITS))}", "split"
        )
    example = {
        "id": key,
        "text": values.get("text", ""),
        "image": None,
        "audio": None,
        "label": values.get("label", ""),
        "split": split,
    }
    warnings = []
    if "image" in values:
        path = _existing_file(values["image"], base_dir, "image")
        example["image"] = _load_image(path, image_size)
    if "audio" in values:
        path = _existing_file(values["audio"], base_dir, "audio")
        example["audio"], num_clipped = _load_audio(path, sample_rate)
        if num_clipped:
            detail = f"{num_clipped} samples outside [-1, 1] were clipped"
            warnings.append(("audio", path, "clipped_audio", detail))
    return key, example, warnings


def _string_value(name, value):
    """Returns a column's value as str; ids and labels may also be JSON integers."""
    if isinstance(value, str):
        return value
    if name in ("id", "label") and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _RowError(
        "invalid_value", f"expected a string, got {type(value).__name__} {value!r:.60}", name
    )


def _existing_file(value, base_dir, column):
    """Resolves a media path against the manifest's folder and checks that the file exists."""
    if not value.strip():
        raise _RowError("missing_file", "the path is empty", column)
    path = os.path.normpath(os.path.join(base_dir, value))
    if not os.path.exists(path):
        raise _RowError("missing_file", f"no such file (written as {value!r})", column, path)
    if not os.path.isfile(path):
        raise _RowError("missing_file", f"not a regular file (written as {value!r})", column, path)
    return path


def _load_image(path, image_size):
    """Decodes an image to RGB uint8 (image_size, image_size, 3), alpha composited over white."""
    try:
        with Image.open(path) as image:
            image.verify()  # checks PNG chunk CRCs and a missing end, which load() tolerates
        with Image.open(path) as image:
            image.load()
            rgb = _to_rgb(image)
    except _IMAGE_ERRORS as error:
        detail = f"cannot decode image: {type(error).__name__}: {error}"
        raise _RowError("corrupt_image", detail, "image", path) from None
    rgb = rgb.resize((image_size, image_size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def _to_rgb(image):
    if image.mode.startswith("I"):
        # 16-bit grayscale: PIL's convert() clips at 255 instead of rescaling, so scale here.
        values = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _load_audio(path, sample_rate):
    """Decodes audio to mono int16 at `sample_rate`; returns (samples, number clipped)."""
    try:
        info = soundfile.info(path)
        if info.format in ("WAV", "WAVEX"):
            _check_wav_length(path)
        data, file_rate = soundfile.read(path, dtype="float32", always_2d=True)  # (N, C)
    except (soundfile.SoundFileError, RuntimeError) as error:
        detail = f"soundfile cannot read it: {error} (corrupt, truncated or unsupported format)"
        raise _RowError("unreadable_audio", detail, "audio", path) from None
    except _RowError as error:
        raise dataclasses.replace(error, column="audio", path=path) from None
    if len(data) < info.frames:
        detail = f"the header declares {info.frames} frames but only {len(data)} could be read"
        raise _RowError("truncated_audio", detail, "audio", path)
    if len(data) == 0 and "ended unexpectedly" in info.extra_info:  # libsndfile's Ogg log
        raise _RowError("truncated_audio", "the Ogg stream ends unexpectedly", "audio", path)
    if len(data) == 0:
        raise _RowError("empty_audio", "the file holds no samples", "audio", path)
    if not np.isfinite(data).all():
        raise _RowError("nonfinite_audio", "the samples contain NaN or inf", "audio", path)
    mono = data.mean(axis=1)  # (N,)
    if file_rate != sample_rate:
        mono = librosa.resample(mono, orig_sr=file_rate, target_sr=sample_rate, res_type="soxr_hq")
    num_clipped = int(np.count_nonzero(np.abs(mono) > 1.0))
    # x 32768 so that 16-bit files at the target rate come back bit-exact.
    samples = np.clip(np.rint(mono * 32768.0), -32768, 32767).astype(np.int16)
    return samples, num_clipped


def _check_wav_length(path):
    """Raises truncated_audio if the WAV's data chunk declares more bytes than the file holds.

    libsndfile quietly shortens `info.frames` to the bytes present, so comparing frames read
    with frames declared cannot see a WAV that lost its end.
    """
    file_size = os.path.getsize(path)
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:] != b"WAVE":
            return
        offset = 12
        while offset + 8 <= file_size:
            f.seek(offset)
            chunk_id, size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                available = file_size - offset - 8
                if available < size < _STREAMED_WAV_SIZE:
                    raise _RowError(
                        "truncated_audio",
                        f"the data chunk declares {size} bytes but the file holds {available}",
                    )
                return
            offset += 8 + size + (size & 1)  # chunks are padded to even sizes
