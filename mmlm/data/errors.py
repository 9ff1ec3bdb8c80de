"""Errors raised when user data does not meet mmlm's data contract."""

_MAX_LISTED = 5


class DataValidationError(ValueError):
    """Raised when a data source holds invalid records.

    The message names, for each listed record, the manifest, its line, the column, the media file
    (if any) and the problem, so the user can fix the row without rerunning in a debugger.

    Args:
        records: the `InvalidRecord`s found (at least one).
        file_level: True when the problem concerns the whole file (a bad CSV header, say), so no
            row can be read and skipping invalid rows cannot help.

    Attributes:
        records: the invalid records, in file order.
        file_level: as passed.
    """

    def __init__(self, records, *, file_level=False):
        self.records = list(records)
        self.file_level = file_level
        super().__init__(self._format())

    def _format(self):
        if len(self.records) == 1:
            lines = [f"Invalid record: {self.records[0].describe()}"]
        else:
            lines = [f"{len(self.records)} invalid records:"]
            lines += [f"  {record.describe()}" for record in self.records[:_MAX_LISTED]]
            if len(self.records) > _MAX_LISTED:
                lines.append(f"  ... and {len(self.records) - _MAX_LISTED} more")
        if self.file_level:
            lines.append(
                "This is a file-level error: no row of this manifest can be read, so "
                "--skip-invalid (data.skip_invalid) does not apply. Fix the file."
            )
        else:
            lines.append(
                "Fix the row(s), or pass --skip-invalid (config data.skip_invalid=True) to skip "
                "invalid rows and count them in invalid_records.json."
            )
        return "\n".join(lines)


class MediaFileError(ValueError):
    """An image or audio file given on the command line cannot be read (message names it)."""
