"""Manual pages as a TFDS builder: prose paragraphs, or one (description, summary, section)
example per page.

The pages are the files the pinned Debian packages install (`dpkg-query -L`), or every page
under a folder when no package is named (tests, other systems). A page goes to train,
validation or test by a hash of its title and section, so a split never changes when pages
are added, and no paragraph of a test page is ever trained on. Left out, and counted in the
builder's metadata: symbolic links and `.so` redirects (aliases of another page), `mdoc`
pages, pages without a NAME summary, a second page of the same title and section, pages of
other sections, and (pages) pages without a DESCRIPTION or (paragraphs) chunks shorter than
`min_words`.
"""

import collections
import dataclasses
import gzip
import hashlib
import json
import os
import subprocess

import tensorflow_datasets as tfds

from mmlm.data.sources import roff

# Sections of a page that hold no prose (names, prototypes, cross references, credits).
NOT_PROSE = ("NAME", "LIBRARY", "SYNOPSIS", "SEE ALSO", "COLOPHON", "AUTHORS", "AUTHOR")


class ManPagesError(ValueError):
    """Manual pages that cannot be listed or read."""


def package_files(packages, man_dir):
    """The manual page files `dpkg-query -L` lists for `packages` under `man_dir`, sorted."""
    files = []
    for package in packages:
        try:
            listed = subprocess.run(
                ["dpkg-query", "-L", package], capture_output=True, text=True, check=True
            ).stdout.split("\n")
        except (OSError, subprocess.CalledProcessError) as error:
            raise ManPagesError(
                f"cannot list the files of Debian package {package!r} ({error}); install it "
                "(apt-get install " + package + ") or set data.manpages.packages=() to read "
                "every page under data.manpages.man_dir"
            ) from None
        prefix = os.path.join(os.path.abspath(man_dir), "man")
        files += [f for f in listed if f.startswith(prefix) and os.path.isfile(f)]
    return sorted(set(files))


def package_versions(packages):
    """{package: installed version} (recorded with the counts)."""
    versions = {}
    for package in packages:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True
        )
        versions[package] = result.stdout.strip() or "not installed"
    return versions


def folder_files(man_dir, sections):
    """Every file of `man_dir/man<section>/` for `sections`, sorted."""
    files = []
    for section in sections:
        folder = os.path.join(man_dir, f"man{section}")
        if os.path.isdir(folder):
            files += [os.path.join(folder, name) for name in os.listdir(folder)]
    return sorted(f for f in files if os.path.isfile(f))


def read_source(path):
    """The roff text of a page file (gzip-compressed or plain)."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except OSError as error:
        raise ManPagesError(f"{path}: not a readable manual page ({error})") from None


def split_of(title, section, validation_percent, test_percent):
    """The split of a page: a stable hash of "title(section)" into 100 buckets."""
    bucket = int(hashlib.sha1(f"{title}({section})".encode()).hexdigest(), 16) % 100
    if bucket < test_percent:
        return "test"
    return "validation" if bucket < test_percent + validation_percent else "train"


def chunks(paragraph, max_words):
    """A paragraph cut into consecutive pieces of at most `max_words` words."""
    words = paragraph.split()
    return [" ".join(words[i : i + max_words]) for i in range(0, len(words), max_words)]


@dataclasses.dataclass(eq=False)
class ManPagesConfig(tfds.core.BuilderConfig):
    """Which pages, how they become examples, and the split percentages."""

    man_dir: str = "/usr/share/man"
    packages: tuple = ()
    sections: tuple = ()
    unit: str = "paragraphs"
    max_words: int = 48
    min_words: int = 4
    validation_percent: int = 10
    test_percent: int = 10

    @classmethod
    def create(cls, **parameters):
        fields = dict(parameters, man_dir=os.path.abspath(parameters["man_dir"]))
        digest = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:8]
        return cls(name=f"{fields['unit']}_{digest}", description="manual pages", **fields)


class ManPages(tfds.core.GeneratorBasedBuilder):
    """TFDS builder of manual page paragraphs or pages (`ManPagesConfig.unit`)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIG_CLASS = ManPagesConfig

    def _info(self):
        text = tfds.features.Text
        features = {
            "text": text(doc="a prose paragraph (paragraphs) or the DESCRIPTION start (pages)"),
            "page": text(doc='"title(section)"'),
            "section": tfds.features.ClassLabel(names=list(self.builder_config.sections)),
        }
        if self.builder_config.unit == "pages":
            features["summary"] = text(doc="the one-line summary of the NAME section")
        return self.dataset_info_from_configs(
            description="Manual pages of pinned Debian packages.",
            features=tfds.features.FeaturesDict(features),
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # local files
        c = self.builder_config
        if c.packages:
            files = package_files(c.packages, c.man_dir)
            self.info.metadata["package_versions"] = package_versions(c.packages)
        else:
            files = folder_files(c.man_dir, c.sections)
        pages, counts = read_pages(files, c.sections)
        examples = collections.defaultdict(list)
        split_counts = collections.defaultdict(collections.Counter)
        for page in pages:
            split = split_of(page.title, page.section, c.validation_percent, c.test_percent)
            made, left_out = page_examples(page, c)
            examples[split] += made
            split_counts[split]["pages"] += 1
            split_counts[split]["examples"] += len(made)
            split_counts[split].update(left_out)
        counts["per_split"] = {s: dict(n) for s, n in sorted(split_counts.items())}
        self.info.metadata["counts"] = counts
        if not examples:
            raise ManPagesError(f"no manual pages of sections {c.sections} in {len(files)} files")
        return {split: self._generate_examples(rows) for split, rows in examples.items()}

    def _generate_examples(self, rows):
        for i, row in enumerate(rows):
            yield i, row


def read_pages(files, sections):
    """The parsed pages of `files` in `sections` (first of each title and section), counts."""
    counts = collections.Counter(files=len(files))
    seen, pages = set(), []
    for path in files:
        if os.path.islink(path):
            counts["symlink"] += 1
            continue
        page = roff.parse_page(read_source(path))
        if page.kind != "page":
            counts[page.kind] += 1
        elif page.section not in sections:
            counts["other_section"] += 1
        elif roff.name_summary(page) is None:
            counts["no_name_summary"] += 1
        elif (page.title, page.section) in seen:
            counts["duplicate"] += 1
        else:
            seen.add((page.title, page.section))
            pages.append(page)
            counts[f"section_{page.section}"] += 1
    counts["pages"] = len(pages)
    return pages, dict(counts)


def page_examples(page, config):
    """(examples, {reason: count left out}) of one page for `config.unit`."""
    base = {"page": f"{page.title}({page.section})", "section": page.section}
    if config.unit == "pages":
        words = " ".join(page.paragraphs("DESCRIPTION")).split()
        if not words:
            return [], {"no_description": 1}
        _, summary = roff.name_summary(page)
        text = " ".join(words[: config.max_words])
        return [{**base, "text": text, "summary": summary}], {}
    made, short = [], 0
    for heading, paragraphs in page.sections:
        if heading in NOT_PROSE:
            continue
        for paragraph in paragraphs:
            for piece in chunks(paragraph, config.max_words):
                if len(piece.split()) < config.min_words:
                    short += 1
                else:
                    made.append({**base, "text": piece})
    return made, ({"short_chunks": short} if short else {})
