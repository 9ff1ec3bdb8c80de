"""The roff reader of manual pages: sections, paragraphs, fonts, escapes, links."""

from mmlm.data.sources.roff import macro_arguments, name_summary, parse_page, unescape

PAGE = r""".\" comment
.TH READ 2 2022-12-04 "Linux man-pages 6.03"
.SH NAME
read \- read from a file descriptor
.SH SYNOPSIS
.nf
.B #include <unistd.h>
.fi
.SH DESCRIPTION
.BR read ()
attempts to read up to
.I count
bytes from \fIfd\fP into \fBbuf\fR \(em see
.BR open (2).
.PP
On files that support seeking,\&
the offset is \-1 or \(lqunset\(rq.
.TP
.B EINTR
The call was interrupted.
.SS Notes on sizes
.EX
int x = 1;
.EE
.IP \(bu 2
A bullet item.
.SH SEE ALSO
.BR write (2)
"""


def test_page_sections_and_paragraphs():
    page = parse_page(PAGE)
    assert (page.title, page.section, page.kind) == ("READ", "2", "page")
    assert [h for h, _ in page.sections] == ["NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"]
    assert page.paragraphs("SYNOPSIS") == []  # no-fill program text is left out
    assert page.paragraphs("DESCRIPTION") == [
        "read() attempts to read up to count bytes from fd into buf - see open(2).",
        'On files that support seeking, the offset is -1 or "unset".',
        "EINTR The call was interrupted.",
        "Notes on sizes.",
        "A bullet item.",
    ]
    assert name_summary(page) == ("read", "read from a file descriptor")
    assert page.paragraphs("MISSING") == []


def test_links_and_mdoc_pages_are_reported_not_parsed():
    assert parse_page(".so man2/read.2\n").kind == "link"
    assert parse_page(".Dd January 1, 2024\n.Dt LS 1\n.Sh NAME\n.Nm ls\n").kind == "mdoc"


def test_page_without_name_line_has_no_summary():
    page = parse_page(".TH X 7\n.SH NAME\nx without a separator\n")
    assert name_summary(page) is None


def test_escapes_and_arguments():
    assert unescape(r"\fBbold\fP \f(CWcode\fR \s-1small\s0 a\e\-b \(aqq\(aq \[em]") == (
        "bold code small a\\-b 'q' -"
    )
    assert macro_arguments('"two words" one "" "a ""quoted"" word"') == [
        "two words", "one", "", 'a "quoted" word'
    ]  # fmt: skip
