"""What a data source found wrong while reading: invalid records (skipped) and warnings (kept)."""

import collections
import dataclasses
import os

from mmlm import atomic_files
from mmlm.data.errors import DataValidationError


@dataclasses.dataclass(frozen=True)
class _RecordIssue:
    """Where a problem sits in a manifest and what it is.

    Attributes:
        source: absolute path of the manifest file.
        line: 1-based physical line in the manifest (for CSV, counting the header line; for a
            quoted field spanning lines, the record's first line).
        column: the column at fault, or None when the whole line is (invalid JSON, say).
        path: the resolved media file at fault, or None when no file is involved.
        reason: short machine key, e.g. "missing_file" (see `mmlm.data.sources.manifest.REASONS`).
        detail: human-readable explanation.
    """

    source: str
    line: int
    column: str | None
    path: str | None
    reason: str
    detail: str

    def describe(self):
        """One line naming manifest, line, column, file and problem."""
        where = f"{self.source}, line {self.line}"
        if self.column is not None:
            where += f", column {self.column!r}"
        if self.path is not None:
            where += f", file {self.path}"
        return f"{where}: {self.reason}: {self.detail}"


@dataclasses.dataclass(frozen=True)
class InvalidRecord(_RecordIssue):
    """A manifest row that cannot be used; see `_RecordIssue` for the fields."""


@dataclasses.dataclass(frozen=True)
class RecordWarning(_RecordIssue):
    """A manifest row that was kept but altered or remarked on (clipped audio, a file whose
    content is not what its extension says); fields as `_RecordIssue`."""


@dataclasses.dataclass
class ValidationReport:
    """Counts of rows read and the records that were invalid or drew warnings.

    One report may collect several manifests (train and validation files, say): each record
    names its `source`.

    Attributes:
        num_rows: data rows seen (blank lines and the CSV header are not rows).
        num_valid: rows yielded as examples.
        invalid: one `InvalidRecord` per invalid row (its first problem), plus file-level errors.
        warnings: `RecordWarning`s for rows that were kept.
        carved_validation: when the validation split was carved from train (a manifest
            without validation rows), how many rows moved, the fraction and the seed.

    Example:

    >>> report = ValidationReport()
    >>> examples = list(read_manifest(path, image_size=64, sample_rate=16000,
    ...                               skip_invalid=True, report=report))
    >>> print(report.summary())
    >>> report.to_json(run_dir / "invalid_records.json")
    """

    num_rows: int = 0
    num_valid: int = 0
    invalid: list[InvalidRecord] = dataclasses.field(default_factory=list)
    warnings: list[RecordWarning] = dataclasses.field(default_factory=list)
    carved_validation: dict | None = None

    @property
    def num_invalid(self):
        return len(self.invalid)

    def add_invalid(self, record):
        """Appends an `InvalidRecord`."""
        self.invalid.append(record)

    def add_warning(self, record):
        """Appends a `RecordWarning`."""
        self.warnings.append(record)

    def counts_by_reason(self):
        """Returns {reason: number of invalid records}, most frequent first."""
        return dict(collections.Counter(r.reason for r in self.invalid).most_common())

    def warning_counts_by_reason(self):
        """Returns {reason: number of warnings}, most frequent first."""
        return dict(collections.Counter(w.reason for w in self.warnings).most_common())

    def summary(self, max_records=5):
        """A printable summary: totals, counts per reason and the first few records."""
        lines = [
            f"{self.num_rows} rows read: {self.num_valid} valid, {self.num_invalid} invalid, "
            f"{len(self.warnings)} warnings."
        ]
        if self.carved_validation:
            lines.append(f"Validation split carved from train: {self.carved_validation}")
        for title, counts, records in (
            ("Invalid", self.counts_by_reason(), self.invalid),
            ("Warnings", self.warning_counts_by_reason(), self.warnings),
        ):
            if not records:
                continue
            lines.append(f"{title} by reason:")
            lines += [f"  {reason}: {count}" for reason, count in counts.items()]
            lines.append(f"First {min(max_records, len(records))}:")
            lines += [f"  {r.describe()}" for r in records[:max_records]]
        return "\n".join(lines)

    def to_dict(self):
        """A JSON-serializable dict of the whole report."""
        return {
            "num_rows": self.num_rows,
            "num_valid": self.num_valid,
            "num_invalid": self.num_invalid,
            "counts_by_reason": self.counts_by_reason(),
            "warning_counts_by_reason": self.warning_counts_by_reason(),
            "invalid": [dataclasses.asdict(r) for r in self.invalid],
            "warnings": [dataclasses.asdict(w) for w in self.warnings],
            "carved_validation": self.carved_validation,
        }

    def to_json(self, path):
        """Writes `to_dict()` as indented JSON to `path` (e.g. run_dir/invalid_records.json)."""
        write_report_json(self.to_dict(), path)

    def raise_if_invalid(self):
        """Raises `DataValidationError` listing the invalid records, if there are any."""
        if self.invalid:
            raise DataValidationError(self.invalid)


def write_report_json(report, path):
    """Writes a report dict (`ValidationReport.to_dict()`) as indented UTF-8 JSON to `path`."""
    atomic_files.write_json(os.fspath(path), report, indent=2)


def describe_truncation(truncation):
    """One line about the `text_truncation` entry that preparing the vocabulary adds to a
    manifest's report (`mmlm.data.text_truncation.count_truncated_texts`)."""
    t = truncation
    line = (
        f"Captions longer than {t['max_tokens']} tokens (sequence_length {t['sequence_length']} "
        f"less the start and end tokens) are truncated: {t['rows']} rows"
    )
    if t["rows"]:
        by_split = ", ".join(f"{split} {count}" for split, count in t["by_split"].items())
        longest = t["longest"]
        line += (
            f" ({by_split}); the longest, id {longest['id']!r} ({longest['split']}), has "
            f"{longest['tokens']} tokens"
        )
    return line + "."
