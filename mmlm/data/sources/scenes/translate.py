"""English -> Spanish caption translation with the apertium command-line tool."""

import shutil
import subprocess

_APERTIUM = "apertium"


def _apertium_binary():
    path = shutil.which(_APERTIUM)
    if path is None:
        raise RuntimeError(
            "apertium not found: install the Debian packages `apertium apertium-eng-spa` "
            "(apt-get install apertium apertium-eng-spa)."
        )
    return path


def _lowercase_first(line):
    return line[:1].lower() + line[1:]


def translate_en_es(captions, *, sentence_per_line=False):
    """Translates English captions to Spanish with one `apertium -u eng-spa` call.

    `-u` drops apertium's unknown-word marks. Apertium capitalizes the first line of its input,
    so each line's first character is lowercased to match the English captions.

    A line break alone does not end apertium's sentence: a word can move into the next line
    ("... on a black background" + "grey background, ..." gave "... en un fondo" + "gris de
    fondo negro, ..."). With `sentence_per_line` each caption is sent as its own sentence (a
    final period, removed from the output; a line without it is an error); version 1 scenes
    keep the plain lines they were generated with.

    Args:
        captions: Sequence of single-line, non-empty English strings.
        sentence_per_line: end each caption with a period for apertium (see above).

    Returns:
        List of Spanish strings, one per caption, in order.
    """
    captions = list(captions)
    for caption in captions:
        if not caption.strip() or "\n" in caption or "\r" in caption:
            raise ValueError(f"Captions must be single non-empty lines, got {caption!r}.")
    if not captions:
        return []
    ending = "." if sentence_per_line else ""
    result = subprocess.run(
        [_apertium_binary(), "-u", "eng-spa"],
        input="".join(caption + ending + "\n" for caption in captions),
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"apertium -u eng-spa failed (exit {result.returncode}): {result.stderr.strip()} "
            "(is the Debian package `apertium-eng-spa` installed?)"
        )
    lines = result.stdout.rstrip("\n").split("\n")
    if len(lines) != len(captions):
        raise RuntimeError(
            f"apertium returned {len(lines)} lines for {len(captions)} captions; the line-by-line "
            "alignment of captions and translations is lost."
        )
    lines = [line.strip() for line in lines]
    if sentence_per_line:
        broken = [i for i, line in enumerate(lines) if not line.endswith(".")]
        if broken:
            raise RuntimeError(
                f"apertium moved a sentence end: translation {broken[0]} ({lines[broken[0]]!r} of "
                f"{captions[broken[0]]!r}) does not end its caption's sentence."
            )
        lines = [line[:-1].rstrip() for line in lines]
    return [_lowercase_first(line) for line in lines]
