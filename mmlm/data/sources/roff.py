"""Plain text of `man(7)` roff manual pages: sections of paragraphs, fonts and escapes removed.

Handles the `man` macro package the Linux man-pages project writes (`.TH`, `.SH`, `.SS`,
`.PP`/`.P`/`.LP`, `.TP`, `.IP`, font macros such as `.BR`, `.nf`/`.fi`, `.EX`/`.EE`, `.TS`/`.TE`)
and the common escapes. Program text (no-fill blocks, examples) and tables are left out: they
are code and layout, not prose. Anything else that starts with a control character is
dropped. A page that is only a `.so` link to another, or written with `mdoc` macros, is
reported by `parse_page` so the caller can count it.
"""

import re

# Named characters (\(xx, \[xx]) that stand for text; the others are dropped.
_CHARACTERS = {
    "em": "-", "en": "-", "hy": "-", "mi": "-", "aq": "'", "dq": '"', "lq": '"', "rq": '"',
    "oq": "'", "cq": "'", "bu": "", "co": "(c)", "rg": "(R)", "tm": "(TM)", "ti": "~",
    "ha": "^", "rs": "\\", "sl": "/", "lh": "", "rh": "", "mu": "x", "di": "/", "pl": "+",
    "eq": "=", "<=": "<=", ">=": ">=", "!=": "!=", "->": "->", "<-": "<-", "de": " degrees",
}  # fmt: skip
_ESCAPE = re.compile(
    r"\\(?:"
    r"f(?:\[[^\]]*\]|\(..|.)"  # font
    r"|s[-+]?(?:\d|\(\d\d|\[\d+\])"  # size
    r"|\*(?:\[[^\]]*\]|\(..|.)"  # string
    r"|\((?P<two>..)|\[(?P<long>[^\]]*)\]"  # named character
    r"|[Nhvwlo]'[^']*'"  # drawing and motion
    r"|(?P<one>.)"
    r")"
)
_ONE = {"-": "-", "e": "\\", "\\": "\\", "~": " ", " ": " ", "0": " ", "'": "'", "`": "`"}
_SPACE = re.compile(r"\s+")
_ARGUMENTS = re.compile(r'"((?:[^"]|"")*)"?|(\S+)')
_FONT_JOINED = {"BR", "BI", "IB", "IR", "RB", "RI", "SB"}
_FONT_SPACED = {"B", "I", "SM", "R"}
_BREAKS = {"PP", "P", "LP", "TP", "IP", "HP", "TQ", "SH", "SS", "sp", "br", "in", "RS", "RE"}
_NO_FILL = {"nf": "fi", "EX": "EE", "TS": "TE", "EQ": "EN", "PS": "PE"}


def unescape(text):
    """`text` with roff escapes resolved (fonts and sizes removed, dashes and quotes kept)."""

    def replace(match):
        if match.group("two") is not None:
            return _CHARACTERS.get(match.group("two"), "")
        if match.group("long") is not None:
            return _CHARACTERS.get(match.group("long"), "")
        if match.group("one") is not None:
            return _ONE.get(match.group("one"), "")
        return ""

    return _ESCAPE.sub(replace, text)


def macro_arguments(rest):
    """The arguments of a macro line (double quotes group words; "" is a literal quote)."""
    return [
        m.group(1).replace('""', '"') if m.group(1) is not None else m.group(2)
        for m in _ARGUMENTS.finditer(rest)
    ]


class Page:
    """A parsed page.

    Attributes:
        title: `.TH` title (e.g. "read"); "" without one.
        section: `.TH` section (e.g. "2").
        sections: list of (heading, [paragraph, ...]) in page order, headings upper-cased.
        kind: "page", "link" (a `.so` redirect) or "mdoc" (BSD `mdoc` macros, not parsed).
    """

    def __init__(self, title="", section="", sections=None, kind="page"):
        self.title, self.section, self.kind = title, section, kind
        self.sections = sections if sections is not None else []

    def paragraphs(self, heading):
        """The paragraphs under `heading` (empty list when the page has no such section)."""
        return next((p for h, p in self.sections if h == heading), [])


def parse_page(source):
    """Parses roff `source` (a str) into a `Page`."""
    lines = source.splitlines()
    for line in lines:
        if line.startswith((".so ", "'so ")):
            return Page(kind="link")
        if line.startswith((".Dd", ".Sh ", ".Nm")):
            return Page(kind="mdoc")
    page, words, skip_until = Page(), [], None

    def flush():
        if words and page.sections:
            text = _SPACE.sub(" ", " ".join(words)).strip()
            if text:
                page.sections[-1][1].append(text)
        words.clear()

    for line in lines:
        control = line[:1] in (".", "'")
        name, _, rest = line[1:].strip().partition(" ") if control else ("", "", "")
        name = name.strip()
        if skip_until is not None:
            skip_until = None if control and name == skip_until else skip_until
            continue
        if not control:
            words.append(unescape(line))
        elif name in _NO_FILL:
            flush()
            skip_until = _NO_FILL[name]
        elif name == "TH":
            arguments = macro_arguments(rest)
            page.title = unescape(arguments[0]) if arguments else ""
            page.section = arguments[1] if len(arguments) > 1 else ""
        elif name in _BREAKS:
            flush()
            if name in ("SH", "SS"):
                heading = _SPACE.sub(" ", unescape(" ".join(macro_arguments(rest)))).strip()
                if name == "SH":
                    page.sections.append((heading.upper(), []))
                elif heading:
                    words.append(heading + ".")
                    flush()
            elif name == "IP":
                tag = macro_arguments(rest)[:1]
                words.extend(unescape(t) for t in tag if unescape(t).strip())
        elif name in _FONT_JOINED:
            words.append(unescape("".join(macro_arguments(rest))))
        elif name in _FONT_SPACED:
            words.append(unescape(" ".join(macro_arguments(rest))))
        elif name in ("UR", "MT", "UE", "ME"):
            # Link macros: the link text is on the lines between; the address is left out.
            if name in ("UE", "ME"):
                words.append(unescape(" ".join(macro_arguments(rest))))
        # Any other request (comments, spacing, fonts, hyphenation) carries no text.
    flush()
    return page


def name_summary(page):
    """(names, summary) of the NAME line "a, b \\- what they do"; None without one."""
    text = " ".join(page.paragraphs("NAME"))
    names, separator, summary = text.partition(" - ")
    if not separator or not summary.strip():
        return None
    return names.strip(), summary.strip()
