"""Reads a user's manifest (JSONL or CSV) of text / image / audio rows into NumPy examples.

The format is described for users in docs/manifest.md. This module stays free of TensorFlow: it
decodes and validates media with PIL, soundfile and librosa (`manifest_media`, within the
`MediaLimits`), and the TFDS builder turns what `read_manifest` yields into a dataset.

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

from mmlm.data import media_checks
from mmlm.data.errors import DataValidationError
from mmlm.data.media_checks import MediaError, MediaLimits
from mmlm.data.sources.manifest_media import load_audio, load_image
from mmlm.data.validation_report import InvalidRecord, RecordWarning, ValidationReport

MANIFEST_COLUMNS = ("id", "text", "image", "audio", "label", "split")
MODALITY_COLUMNS = ("text", "image", "audio")
FEATURE_COLUMNS = ("text", "image", "audio", "label")
SPLITS = ("train", "validation", "test")
JSONL_SUFFIXES = (".jsonl", ".json-lines")
CSV_SUFFIXES = (".csv",)
# One key per invalid row (its first problem) or per file-level error.
REASONS = (
    "missing_file",
    "corrupt_image",
    media_checks.IMAGE_TOO_LARGE,
    "unreadable_audio",
    "truncated_audio",
    "empty_audio",
    "nonfinite_audio",
    media_checks.AUDIO_TOO_LONG,
    "empty_text",
    media_checks.TEXT_TOO_LONG,
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
# Rows that are kept, altered or with a remark.
WARNING_REASONS = ("clipped_audio", media_checks.EXTENSION_MISMATCH)

_BOM = b"\xef\xbb\xbf"
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


def read_manifest(path, *, image_size, sample_rate, skip_invalid=False, report=None, limits=None):
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
            (clipped audio, a file whose content is not what its extension says). When None,
            a summary of what was skipped is logged at the end.
        limits: `MediaLimits` (None: the defaults): larger images, longer audio and captions
            are invalid rows, refused before their media is decoded.

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
    limits = limits or MediaLimits()
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
                    row, line, base_dir, seen_keys, image_size, sample_rate, limits
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


def _build_example(row, line, base_dir, seen_keys, image_size, sample_rate, limits):
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
    if "text" in values:
        try:
            media_checks.check_text_size(values["text"], limits.max_text_bytes)
        except MediaError as error:
            raise _RowError(error.reason, error.detail, "text") from None
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
    for column in ("image", "audio"):
        if column in values:
            path = _existing_file(values[column], base_dir, column)
            example[column], found = _decode_media(column, path, image_size, sample_rate, limits)
            warnings += [(column, path, reason, detail) for reason, detail in found]
    return key, example, warnings


def _decode_media(column, path, image_size, sample_rate, limits):
    """Decodes a row's image or audio file; returns (value, [(warning reason, detail)])."""
    found = []
    try:
        if column == "image":
            value, media_format = load_image(path, image_size, limits.max_pixels)
            mismatch = media_checks.image_extension_mismatch(path, media_format)
        else:
            value, num_clipped, media_format = load_audio(
                path, sample_rate, limits.max_audio_seconds
            )
            mismatch = media_checks.audio_extension_mismatch(path, media_format)
            if num_clipped:
                found.append(
                    ("clipped_audio", f"{num_clipped} samples outside [-1, 1] were clipped")
                )
    except MediaError as error:
        raise _RowError(error.reason, error.detail, column, path) from None
    if mismatch:
        found.append((media_checks.EXTENSION_MISMATCH, mismatch))
    return value, found


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
