"""Tiny roff manual pages for tests (the real corpus is /usr/share/man)."""

import gzip
import os

import numpy as np

# Words of each section's pages, so that a section is learnable from the text.
_TOPICS = {
    "2": "system call kernel file descriptor returns error process signal".split(),
    "7": "overview protocol socket network address standard interface concept".split(),
}
_COMMON = "the a of to is and this on which".split()


def _sentence(rng, section, words=8):
    vocabulary = _TOPICS[section] + _COMMON
    return " ".join(rng.choice(vocabulary, size=words)) + "."


def man_page(title, section, rng, paragraphs=3):
    """The roff source of one page: NAME, SYNOPSIS (no-fill), DESCRIPTION with font macros
    and escapes, NOTES, SEE ALSO."""
    lines = [
        '.\\" a comment line',
        f'.TH {title} {section} 2024-01-01 "Test pages"',
        ".SH NAME",
        f"{title} \\- {_sentence(rng, section, 4).rstrip('.')}",
        ".SH SYNOPSIS",
        ".nf",
        f".B int {title}(int fd);",
        ".fi",
        ".SH DESCRIPTION",
        ".BR " + title + " ()",
        _sentence(rng, section),
    ]
    for _ in range(paragraphs):
        lines += [".PP", "The \\fIfd\\fP \\- " + _sentence(rng, section), _sentence(rng, section)]
    lines += [".SH NOTES", _sentence(rng, section), ".SH SEE ALSO", ".BR other (2)"]
    return "\n".join(lines) + "\n"


def write_man_pages(directory, per_section=12, seed=0):
    """Writes `per_section` gzip pages for sections 2 and 7, one `.so` alias and one symlink
    under `directory/man<section>/`; returns {section: [titles]}."""
    rng = np.random.default_rng(seed)
    titles = {}
    for section in _TOPICS:
        folder = os.path.join(directory, f"man{section}")
        os.makedirs(folder, exist_ok=True)
        titles[section] = [
            f"{'call' if section == '2' else 'topic'}{i}" for i in range(per_section)
        ]
        for title in titles[section]:
            with gzip.open(os.path.join(folder, f"{title}.{section}.gz"), "wt") as f:
                f.write(man_page(title, section, rng))
    folder = os.path.join(directory, "man2")
    with gzip.open(os.path.join(folder, "alias.2.gz"), "wt") as f:
        f.write(".so man2/call0.2\n")
    os.symlink(os.path.join(folder, "call0.2.gz"), os.path.join(folder, "link.2.gz"))
    return titles
