"""Pure logic of the log commands: XML with control characters, decode-error faults,
line assembly, escaping, prefixes.  Everything that talks to supervisord is tested
against the real fleet in test_logs_fleet.py."""

from __future__ import annotations

import xmlrpc.client

import pytest

from herd.errors import Faults, SupervisorFault
from herd.operations.logs import MAX_LINE, LineBuffer, clean_input
from herd.render.logs import Prefixer, json_text
from herd.text import block as escape_output, line as escape
from herd.supervisor import xmlsafe
from herd.supervisor.logtext import ANCHOR, Note, clean_tail, decode_error, keep_last_lines, undecodable, utf8_len


def answer(value) -> bytes:
    """An XML-RPC answer as supervisord writes it: text in it is not escaped beyond & < >."""
    return xmlrpc.client.dumps((value,), methodresponse=True).encode()


@pytest.mark.parametrize("text", [
    "plain",
    "colour \x1b[31mred\x1b[0m and a NUL \x00 and a bell \x07",
    "crlf line\r\n",
    "progress\r50%\r100%",
    "tab\tand newline\n",
    "nonchars \ufffe \uffff",
    "caf\u00e9 \U0001F600",
])
def test_xmlsafe_returns_exactly_what_supervisord_sent(text):
    data = answer(["x", text, 3, {"k": text}])
    assert xmlsafe.loads(data)[0][0] == ["x", text, 3, {"k": text}]


def test_stdlib_parser_fails_where_xmlsafe_does_not():
    """The reason xmlsafe exists: ESC makes the answer ill-formed, CR is turned into LF."""
    with pytest.raises(Exception):
        xmlrpc.client.loads(answer("a \x1b b"))
    assert xmlrpc.client.loads(answer("a\rb"))[0][0] == "a\nb"
    assert xmlsafe.loads(answer("a\rb"))[0][0] == "a\rb"


def test_xmlsafe_fault_text_is_restored():
    data = xmlrpc.client.dumps(xmlrpc.client.Fault(10, "BAD_NAME: a\x1bb")).encode()
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlsafe.loads(data)
    assert fault.value.faultString == "BAD_NAME: a\x1bb"


def fault(text: str) -> SupervisorFault:
    return SupervisorFault(Faults.FAILED, text)


@pytest.mark.parametrize("text,expected", [
    ("FAILED: <class 'UnicodeDecodeError'>:'utf-8' codec can't decode byte 0xff in position 11: invalid start byte",
     (11, 12, 0xFF, "invalid start byte")),
    ("FAILED: <class 'UnicodeDecodeError'>:'utf-8' codec can't decode bytes in position 2-3: invalid continuation "
     "byte", (2, 4, None, "invalid continuation byte")),
    ("FAILED: <class 'UnicodeDecodeError'>:'utf-8' codec can't decode bytes in position 1-3: unexpected end of data",
     (1, 4, None, "unexpected end of data")),
])
def test_decode_error_positions(text, expected):
    assert decode_error(fault(text)) == expected
    assert undecodable(fault(text))


def test_read_failures_without_position_are_still_undecodable():
    """readProcessStdoutLog turns a UnicodeDecodeError into an AttributeError (supervisor 4.3)."""
    plain = fault("FAILED: <class 'AttributeError'>:type object 'Faults' has no attribute 'utf-8'")
    assert undecodable(plain) and decode_error(plain) is None
    assert not undecodable(SupervisorFault(Faults.BAD_NAME, "BAD_NAME: x"))
    assert decode_error("not a fault") is None


def test_clean_tail_is_an_anchor_without_bad_bytes_and_at_most_anchor_bytes():
    assert clean_tail("hello\n") == "hello\n"
    assert clean_tail("ok \udcff after") == " after"
    assert clean_tail("x\ufffdy") == "y"
    long = "\u00e9" * 40                      # 2 bytes each
    tail = clean_tail(long)
    assert long.endswith(tail) and utf8_len(tail) <= ANCHOR and utf8_len(tail) >= ANCHOR - 1
    assert utf8_len("a\udcffb") == 3


def test_keep_last_lines_keeps_notes_in_place():
    note = Note("skipped", cut=True)
    pieces = ["a\nb\nc", note, "tail\nd\ne\n"]
    assert keep_last_lines(pieces, 2) == ["d\ne\n"]
    assert keep_last_lines(pieces, 3) == ["c", note, "tail\nd\ne\n"]      # "c" + "tail": one text line
    assert keep_last_lines(pieces, 4) == ["b\nc", note, "tail\nd\ne\n"]
    assert keep_last_lines(pieces, 9) == pieces
    assert keep_last_lines(["x\ny"], 1) == ["y"]          # a partial last line counts as a line
    assert keep_last_lines([note], 1) == [note]


def test_line_buffer_delivers_whole_lines_once():
    buf = LineBuffer()
    assert buf.feed("first li") == []
    assert buf.feed("ne\nsecond\r\nthi") == ["first line", "second"]
    assert buf.feed("") == []
    assert buf.feed("rd\n") == ["third"]
    assert buf.flush() == []
    assert buf.feed("unterminated") == []
    assert buf.flush() == ["unterminated"]
    assert buf.flush() == []


def test_line_buffer_drops_the_rest_of_a_line_after_a_skip():
    buf = LineBuffer()
    assert buf.feed("whole\npart") == ["whole"]
    assert buf.flush() == ["part"]
    buf.resync()
    assert buf.feed("middle of a li") == []
    assert buf.feed("ne\nnext\n") == ["next"]


def test_line_buffer_cuts_endless_lines():
    buf = LineBuffer()
    out = buf.feed("x" * (2 * MAX_LINE + 10))
    assert out == ["x" * MAX_LINE] * 2
    assert buf.flush() == ["x" * 10]


@pytest.mark.parametrize("raw,shown", [
    ("plain text", "plain text"),
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    ("bell\x07 nul\x00 del\x7f c1\x9b", "bell\\x07 nul\\x00 del\\x7f c1\\x9b"),
    ("cr\rin the middle", "cr\\rin the middle"),
    ("tab\tkept", "tab\tkept"),
    ("bad \udcff\udcfe byte", "bad \\xff\\xfe byte"),
    ("caf\u00e9 \U0001F600 \ufffd", "caf\u00e9 \U0001F600 \ufffd"),
])
def test_escape_makes_text_terminal_safe(raw, shown):
    assert escape(raw) == shown


def test_escape_output_keeps_newlines_and_json_text_replaces_bad_bytes():
    assert escape_output("a\x1b\nb\n") == "a\\x1b\nb\n"
    assert json_text("bad \udcff") == "bad \ufffd"


def test_prefixes_are_aligned_and_coloured_per_host():
    p = Prefixer(["web01", "web10"], [("web01", "worker"), ("web10", "tornado:tornado-8080")], color=False)
    a, b = p.line("web01", "worker", "x"), p.line("web10", "tornado:tornado-8080", "y")
    assert a == "web01 worker               | x"
    assert b == "web10 tornado:tornado-8080 | y"
    assert a.index("|") == b.index("|")
    coloured = Prefixer(["web01", "web02"], [("web01", "w"), ("web02", "w")], color=True)
    first, second = coloured.line("web01", "w", "x"), coloured.line("web02", "w", "x")
    assert first.startswith("\x1b[36m") and second.startswith("\x1b[32m")     # cyan, green
    assert Prefixer(["web01"], [], color=True, enabled=False).line("web01", "w", "a\x1b") == "a\\x1b"


def test_clean_input_drops_what_xml_rpc_cannot_carry():
    assert clean_input("hello\n") == ("hello\n", False)
    assert clean_input("a\x1bb\x00\n") == ("ab\n", True)
