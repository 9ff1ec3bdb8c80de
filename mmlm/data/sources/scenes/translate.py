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


def translate_en_es(captions):
    """Translates English captions to Spanish with one `apertium -u eng-spa` call.

    `-u` drops apertium's unknown-word marks. Apertium capitalizes the first line of its input,
    so each line's first character is lowercased to match the English captions.

    Args:
        captions: Sequence of single-line, non-empty English strings.

    Returns:
        List of Spanish strings, one per caption, in order.
    """
    captions = list(captions)
    for caption in captions:
        if not caption.strip() or "\n" in caption or "\r" in caption:
            raise ValueError(f"Captions must be single non-empty lines, got {caption!r}.")
    if not captions:
        return []
    result = subprocess.run(
        [_apertium_binary(), "-u", "eng-spa"],
        input="\n".join(captions) + "\n",
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
    return [_lowercase_first(line.strip()) for line in lines]
