"""Manual pages as a source: counts, splits by page, paragraph and page examples."""

import os

import pytest

from mmlm.data.sources.manpages_builder import ManPagesError, package_files, split_of
from mmlm.data.sources.manpages_source import ManPagesSource
from mmlm.testing.manpages import write_man_pages


def _source(tmp_path, unit, **changes):
    parameters = dict(
        man_dir=str(tmp_path / "man"),
        packages=(),
        sections=("2", "7"),
        unit=unit,
        max_words=12,
        min_words=4,
        validation_percent=20,
        test_percent=20,
    )
    parameters.update(changes)
    source = ManPagesSource(str(tmp_path / "data"), **parameters)
    source.prepare()
    return source


def _rows(source, split):
    return [{k: v.numpy() for k, v in ex.items()} for ex in source.load(split)]


@pytest.fixture
def pages(tmp_path):
    return write_man_pages(str(tmp_path / "man"), per_section=12)


def test_paragraphs_are_split_by_page_and_counted(tmp_path, pages):
    source = _source(tmp_path, "paragraphs")
    counts = source.counts()
    assert counts["pages"] == 24 and counts["link"] == 1 and counts["symlink"] == 1
    assert counts["files"] == 26 and counts["section_2"] == counts["section_7"] == 12
    per_split = counts["per_split"]
    assert sum(s["pages"] for s in per_split.values()) == 24
    pages_of = {}
    for split in source.available_splits():
        rows = _rows(source, split)
        assert len(rows) == per_split[split]["examples"] == source.num_examples(split)
        assert all(4 <= len(r["text"].split()) <= 12 for r in rows)
        pages_of[split] = {r["page"] for r in rows}
        for row in rows:  # the label is the page's section
            section = row["page"].decode().split("(")[1].rstrip(")")
            assert ("2", "7")[row["section"]] == section
            assert split == split_of(row["page"].decode().split("(")[0], section, 20, 20)
    splits = list(pages_of)
    assert all(not pages_of[a] & pages_of[b] for a in splits for b in splits if a != b)
    assert not any(b"int call" in r["text"] for r in _rows(source, "train"))  # SYNOPSIS left out
    assert source.label_names("section") == ["section 2", "section 7"]


def test_pages_have_description_summary_and_section(tmp_path, pages):
    source = _source(tmp_path, "pages")
    assert source.text_features == ("text", "summary")
    rows = [r for split in source.available_splits() for r in _rows(source, split)]
    assert len(rows) == 24
    for row in rows:
        assert len(row["text"].split()) == 12  # the description, cut to max_words
        assert row["text"].startswith(row["page"].split(b"(")[0] + b"()")
        assert 3 <= len(row["summary"].split()) <= 4 and b"\\" not in row["summary"]


def test_a_section_list_limits_the_pages(tmp_path, pages):
    source = _source(tmp_path, "pages", sections=("7",))
    assert source.counts()["pages"] == 12


def test_missing_package_is_a_clear_error():
    with pytest.raises(ManPagesError, match="no-such-package-xyz.*apt-get install"):
        package_files(["no-such-package-xyz"], "/usr/share/man")


@pytest.mark.skipif(not os.path.isdir("/usr/share/man/man2"), reason="no manual pages installed")
def test_package_files_lists_installed_pages():
    files = package_files(["manpages-dev"], "/usr/share/man")
    assert files and all(f.startswith("/usr/share/man/man") for f in files)
