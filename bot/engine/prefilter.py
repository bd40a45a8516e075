"""The lexicon's multi-pattern pre-filter: one Hyperscan scan of a line tells which of the
lexicon's patterns can match in it, and where, so Python's `re` runs only there.

It never changes a result. Each pattern is translated from Python's own parse tree into
a Hyperscan pattern that matches a *superset* of what `re` matches:

- the line is scanned as one byte per character (a "stand-in"): ASCII as itself, the
  four other characters that `re` lets match an ASCII letter case-insensitively (İ ı ſ K)
  as that letter, any other word character as ``_``, other whitespace as 0x80 and
  anything else as 0x81, so positions, word boundaries and offsets are the line's own;
- every character class becomes the set of stand-ins of which *some* character matches
  it under the pattern's flags (decided by `re` itself on ASCII, conservatively above);
- look-arounds are dropped, back-references match anything, possessive and atomic
  groups become plain ones. Only for the short lines' database (below), which says
  just whether a pattern can match, a positive look-behind at the very start of a
  match and a positive look-ahead at its very end are kept as text the match takes in
  (``(?:^|(?<=[.!?])) hi`` as ``(?:^|[.!?]) hi``): still a superset, and a much
  closer one for the patterns that begin after punctuation or end before it.

So a pattern the scan does not report cannot match the line. A reported one is matched
by `re` as before: on short lines over the whole line; on long lines only from where a
match can start (see `Prefilter.finditer`), which keeps detection linear in line length.
A pattern that cannot be translated or compiled simply runs unfiltered, and a Hyperscan
library that misses a match it is known to get wrong (Vectorscan 5.4.12) is not used at all.

Short lines (up to SHORT_LINE characters, nearly every message) need only to know which
patterns can match, not where: they are scanned with a second, smaller database of the
same expressions (with their edges' look-arounds kept, see above) that reports each
pattern once and tracks no match starts, which scans in less than half the time.

Compiling ~460 patterns takes seconds, so the compiled databases are cached in the user
cache directory, keyed by a hash of the patterns, this module's source and the Hyperscan
version; a missing, stale or unreadable cache is rebuilt. Read from the cache, the long
lines' database is loaded only when a line first needs it. Without the `hyperscan`
package, or with ``TRAINER_PREFILTER=re``, `load()` returns None and callers use `re`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import platform
import re
import struct
import tempfile
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from re import _constants as _sre_const  # stdlib; the parse tree's constants
from re import _parser as _sre_parse  # stdlib; Python's own parse of each pattern
from typing import Any

import platformdirs

log = logging.getLogger(__name__)

ENV_SWITCH = "TRAINER_PREFILTER"  # "re": do not use Hyperscan
SHORT_LINE = 256  # up to this many characters a reported pattern simply runs over the line
_FORMAT = b"trainer-prefilter-2\n"

# Non-ASCII characters that `re.IGNORECASE` lets match an ASCII letter (checked against
# a brute-force scan of every code point by the tests).
ASCII_FOLDS: dict[int, str] = {0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}
_FOLD_PARTNERS: dict[str, tuple[str, ...]] = {}
for _code, _letter in ASCII_FOLDS.items():
    _FOLD_PARTNERS[_letter] = _FOLD_PARTNERS.get(_letter, ()) + (chr(_code),)

WORD, SPACE, OTHER = "_", "\x80", "\x81"  # stand-ins of non-ASCII characters by class
_IS_WORD = re.compile(r"\w")
_IS_SPACE = re.compile(r"\s")
_FLAG_MASK = re.IGNORECASE | re.DOTALL | re.ASCII


class _StandIns(dict[int, str]):
    """str.translate table computed on demand (bounded: a hostile line cannot grow it forever)."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if code < 128:
            out = char
        elif code in ASCII_FOLDS:
            out = ASCII_FOLDS[code]
        elif _IS_WORD.match(char):
            out = WORD
        elif _IS_SPACE.match(char):
            out = SPACE
        else:
            out = OTHER
        if len(self) < 65_536:
            self[code] = out
        return out


_STAND_INS = _StandIns()


def stand_in(norm: str) -> bytes:
    """The bytes Hyperscan scans: one per character of ``norm``."""
    if norm.isascii():
        return norm.encode("ascii")
    return norm.translate(_STAND_INS).encode("latin-1")


# --------------------------------------------------------------------------- translation


class _Untranslatable(Exception):
    pass


_INF = math.inf
_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
_ATOMS = ("LITERAL", "NOT_LITERAL", "ANY", "IN", "CATEGORY")
_CATEGORY_SOURCE = {
    "CATEGORY_DIGIT": r"\d", "CATEGORY_NOT_DIGIT": r"\D", "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S", "CATEGORY_WORD": r"\w", "CATEGORY_NOT_WORD": r"\W",
}
_ALL_KINDS = frozenset((WORD, SPACE, OTHER))
# Which non-ASCII stand-ins a category can match (non-ASCII digits are word characters).
_CATEGORY_KINDS = {
    "CATEGORY_DIGIT": frozenset((WORD,)), "CATEGORY_NOT_DIGIT": _ALL_KINDS,
    "CATEGORY_SPACE": frozenset((SPACE,)), "CATEGORY_NOT_SPACE": frozenset((WORD, OTHER)),
    "CATEGORY_WORD": frozenset((WORD,)), "CATEGORY_NOT_WORD": frozenset((SPACE, OTHER)),
}


def _char_kind(code: int) -> str:
    char = chr(code)
    return WORD if _IS_WORD.match(char) else SPACE if _IS_SPACE.match(char) else OTHER


def _escape(code: int) -> str:
    return f"\\U{code:08x}"


def _atom_source(name: str, av: Any) -> str:
    """Python regex source of one character-matching node, to let `re` judge characters."""
    if name == "LITERAL":
        return _escape(av)
    if name == "NOT_LITERAL":
        return f"[^{_escape(av)}]"
    if name == "ANY":
        return "."
    if name == "CATEGORY":
        return _CATEGORY_SOURCE[av.name]
    parts = []
    negate = ""
    for op, value in av:
        kind = op.name
        if kind == "NEGATE":
            negate = "^"
        elif kind == "LITERAL":
            parts.append(_escape(value))
        elif kind == "RANGE":
            parts.append(f"{_escape(value[0])}-{_escape(value[1])}")
        elif kind == "CATEGORY" and value.name in _CATEGORY_SOURCE:
            parts.append(_CATEGORY_SOURCE[value.name])
        else:
            raise _Untranslatable(f"class item {kind}")
    return f"[{negate}{''.join(parts)}]"


def _non_ascii_kinds(name: str, av: Any, flags: int) -> frozenset[str]:
    """Stand-ins (word/space/other) of which some non-ASCII character may match the node."""
    caseless = bool(flags & re.IGNORECASE)
    if name == "LITERAL":
        if av < 128:
            return frozenset()  # its non-ASCII case partners stand in as ASCII letters
        return _ALL_KINDS if caseless else frozenset((_char_kind(av),))
    if name in ("NOT_LITERAL", "ANY"):
        return _ALL_KINDS
    if name == "CATEGORY":
        return _CATEGORY_KINDS[av.name]
    kinds: set[str] = set()
    for op, value in av:
        kind = op.name
        if kind == "NEGATE":
            return _ALL_KINDS
        if kind == "LITERAL" and value >= 128:
            kinds |= _ALL_KINDS if caseless else {_char_kind(value)}
        elif kind == "RANGE" and value[1] >= 128:
            return _ALL_KINDS
        elif kind == "CATEGORY":
            kinds |= _CATEGORY_KINDS.get(value.name, _ALL_KINDS)
    return frozenset(kinds)


def _freeze(av: Any) -> Any:
    if isinstance(av, list):
        return tuple((op, _freeze(value)) for op, value in av)
    return av


_BYTE_SETS: dict[tuple[str, Any, int], str] = {}


def _byte_class(name: str, av: Any, flags: int) -> str:
    """The Hyperscan class of stand-in bytes that a character node can match."""
    flags &= _FLAG_MASK
    key = (name, _freeze(av), flags)
    cached = _BYTE_SETS.get(key)
    if cached is not None:
        return cached
    rx = re.compile(_atom_source(name, av), flags)
    members = set()
    for code in range(128):
        char = chr(code)
        if any(rx.fullmatch(rep) for rep in (char, *_FOLD_PARTNERS.get(char, ()))):
            members.add(code)
    for kind in _non_ascii_kinds(name, av, flags):
        members.add(ord(kind))
    if not members:
        raise _Untranslatable("a character class that matches nothing")
    out = _class_source(sorted(members))
    _BYTE_SETS[key] = out
    return out


def _class_source(codes: list[int]) -> str:
    """Hyperscan source for a set of bytes, as short as it can be written: Hyperscan limits
    a pattern's length, and a case-insensitive letter as two escapes takes ten characters."""
    if len(codes) == 1:
        return _byte_source(codes[0])
    parts = []
    start = previous = codes[0]
    for code in [*codes[1:], None]:
        if code is not None and code == previous + 1:
            previous = code
            continue
        if previous - start >= 2:
            parts.append(f"{_byte_source(start)}-{_byte_source(previous)}")
        else:
            parts.extend(_byte_source(c) for c in range(start, previous + 1))
        if code is not None:
            start = previous = code
    return "[" + "".join(parts) + "]"


def _byte_source(code: int) -> str:
    char = chr(code)
    return char if char.isascii() and char.isalnum() else f"\\x{code:02x}"


_LINE_ANCHORS = ("AT_BEGINNING", "AT_BEGINNING_STRING", "AT_END", "AT_END_STRING")


def _emit(items: Any, flags: int, anchors: bool = True) -> str:
    """Hyperscan source for a parsed pattern; without `anchors`, ^ and $ are left out
    (dropping an assertion only widens the match set)."""
    out = []
    for op, av in items:
        name = op.name
        if name in _ATOMS:
            out.append(_byte_class(name, av, flags))
        elif name == "AT":
            out.append(_anchor(av.name, flags) if anchors or av.name not in _LINE_ANCHORS else "")
        elif name in ("ASSERT", "ASSERT_NOT"):
            continue  # dropping a look-around only widens the match set
        elif name == "BRANCH":
            out.append("(?:" + "|".join(_emit(alt, flags, anchors) for alt in av[1]) + ")")
        elif name == "SUBPATTERN":
            _group, add, remove, sub = av
            out.append("(?:" + _emit(sub, (flags | add) & ~remove, anchors) + ")")
        elif name == "ATOMIC_GROUP":
            out.append("(?:" + _emit(av, flags, anchors) + ")")
        elif name in _REPEATS:
            low, high, sub = av
            if high == 0:
                continue
            bound = f"{{{low},}}" if high == _sre_const.MAXREPEAT else f"{{{low},{high}}}"
            out.append("(?:" + _emit(sub, flags, anchors) + ")" + bound)
        elif name == "GROUPREF":
            out.append("[\\x00-\\xff]*")  # whatever the group held
        elif name == "GROUPREF_EXISTS":
            _group, yes, no = av
            out.append("(?:" + _emit(yes, flags, anchors) + "|" + (_emit(no, flags, anchors) if no else "") + ")")
        else:
            raise _Untranslatable(name)
    return "".join(out)


def _anchor(name: str, flags: int) -> str:
    if name in ("AT_BEGINNING", "AT_BEGINNING_STRING"):
        return "" if name == "AT_BEGINNING" and flags & re.MULTILINE else "^"
    if name in ("AT_END", "AT_END_STRING"):
        # Hyperscan's $ also matches before a final newline: at least as wide as \Z.
        return "" if name == "AT_END" and flags & re.MULTILINE else "$"
    if name in ("AT_BOUNDARY", "AT_NON_BOUNDARY"):
        if flags & re.ASCII:
            return ""  # word characters differ from the stand-ins' then: leave it out
        return "\\b" if name == "AT_BOUNDARY" else "\\B"
    return ""


def _shape(items: Any) -> tuple[float, float, float]:
    """(min width, max width, extent) of a match; extent bounds how far past its start
    `re` may look (look-aheads and end checks included), inf when unbounded."""
    low = high = extent = 0.0
    for op, av in items:
        name = op.name
        if name in _ATOMS:
            a, b, e = 1.0, 1.0, 1.0
        elif name == "AT":
            a, b, e = 0.0, 0.0, 1.0
        elif name in ("ASSERT", "ASSERT_NOT"):
            a, b, e = 0.0, 0.0, _shape(av[1])[2]
        elif name == "BRANCH":
            shapes = [_shape(alt) for alt in av[1]]
            a, b, e = min(s[0] for s in shapes), max(s[1] for s in shapes), max(s[2] for s in shapes)
        elif name == "SUBPATTERN":
            a, b, e = _shape(av[3])
        elif name == "ATOMIC_GROUP":
            a, b, e = _shape(av)
        elif name in _REPEATS:
            count_low, count_high, sub = av
            sa, sb, se = _shape(sub)
            top = _INF if count_high == _sre_const.MAXREPEAT else float(count_high)
            a = count_low * sa
            b = top * sb if sb else 0.0
            e = 0.0 if top == 0 else ((top - 1) * sb if sb else 0.0) + se
        elif name == "GROUPREF":
            a, b, e = 0.0, _INF, _INF
        elif name == "GROUPREF_EXISTS":
            shapes = [_shape(av[1]), _shape(av[2]) if av[2] else (0.0, 0.0, 0.0)]
            a, b, e = min(s[0] for s in shapes), max(s[1] for s in shapes), max(s[2] for s in shapes)
        else:
            raise _Untranslatable(name)
        extent = max(extent, high + e)
        low += a
        high += b
    return low, high, max(extent, high)


# --------------------------------------------------------------------------- plans

ALWAYS, PRESENCE, WINDOW, SOM = "always", "presence", "window", "som"


@dataclass(frozen=True)
class Plan:
    """How one pattern is filtered.

    always: no filter (could not be translated, or may match the empty string);
    presence: the scan only says whether it can match, `re` then runs over the line;
    window: bounded extent, `re` runs in windows ending at reported match ends;
    som: unbounded, `re` starts at the leftmost reported start.
    """

    mode: str
    expression: str = ""
    max_width: int = 0
    extent: int = 0
    short: str = ""  # the expression with its edges' look-arounds, for short lines ("": the same)


def plan(pattern: re.Pattern[str]) -> Plan:
    try:
        parsed = _sre_parse.parse(pattern.pattern, pattern.flags)
        low, high, extent = _shape(parsed)
        if low < 1:
            return Plan(ALWAYS)
        expression = _emit(parsed, parsed.state.flags)
        short = _emit(_with_edges(parsed), parsed.state.flags)
    except (_Untranslatable, re.error, RecursionError, ValueError) as exc:
        log.debug("pattern %r runs unfiltered: %s", pattern.pattern, exc)
        return Plan(ALWAYS)
    short = "" if short == expression else short
    if extent == _INF:
        return Plan(SOM, expression, short=short)
    return Plan(WINDOW, expression, int(high), int(extent), short=short)


def _with_edges(items: Any) -> list[tuple[Any, Any]]:
    """The parsed pattern with a positive look-behind at the very start of a match, and a
    positive look-ahead at its very end, as plain parts of it: a match of the result takes
    in the text they look at, so each match of the pattern lies inside one of the result
    (a superset, for a scan that only says whether a pattern can match)."""
    led, _free = _lead(items, True)
    return _trail(led)


def _lead(items: Any, free: bool) -> tuple[list[tuple[Any, Any]], bool]:
    """`items` with a leading look-behind taken in, and whether nothing is emitted before the
    place after them (`free`). Once anything is, a look-behind stays dropped: it looks at
    the text before a place the emitted parts already stand for."""
    out: list[tuple[Any, Any]] = []
    for op, av in items:
        name = op.name
        if not free:
            out.append((op, av))
        elif name == "ASSERT" and av[0] == -1:
            out.extend(av[1])  # what it looks behind at is matched instead
            free = False
        elif name in ("ASSERT", "ASSERT_NOT"):
            out.append((op, av))  # dropped by _emit: emits nothing, so the start is still free
        elif name == "SUBPATTERN":
            group, add, remove, sub = av
            inner, free = _lead(sub, True)
            out.append((op, (group, add, remove, inner)))
        elif name == "BRANCH":
            alternatives = [_lead(alternative, True) for alternative in av[1]]
            out.append((op, (av[0], [alternative for alternative, _ in alternatives])))
            free = all(f for _, f in alternatives)
        else:
            out.append((op, av))
            free = False
    return out, free


def _trail(items: Any) -> list[tuple[Any, Any]]:
    """`items` with a look-ahead that is their very last part taken in."""
    out = list(items)
    if not out:
        return out
    op, av = out[-1]
    name = op.name
    if name == "ASSERT" and av[0] == 1:
        out[-1:] = list(av[1])  # what it looks ahead at is matched instead
    elif name == "SUBPATTERN":
        group, add, remove, sub = av
        out[-1] = (op, (group, add, remove, _trail(sub)))
    elif name == "BRANCH":
        out[-1] = (op, (av[0], [_trail(alternative) for alternative in av[1]]))
    return out


# --------------------------------------------------------------------------- the database


class Hits(dict[int, list[tuple[int, int]]]):
    """What a scan reported: pattern index -> (start, end) of its reported matches.

    ``located`` is False when the scan only said which patterns can match (a short line's
    scan, one match each): then a reported pattern runs over the whole line."""

    __slots__ = ("located",)

    def __init__(self, located: bool = True) -> None:
        super().__init__()
        self.located = located


class _Deferred:
    """A database in the cache file, loaded the first time a line needs it: lines longer
    than SHORT_LINE are rare, and their database is most of the file (reading and loading
    it was about a quarter of start-up). The file (`fd`, this object's to close) stays open
    until then, so a clean-up that deletes it meanwhile (`_forget_old`, another version's)
    takes nothing away, and `os.pread` leaves its offset alone for processes forked from
    this one."""

    def __init__(self, hs: Any, path: Path, fd: int, offset: int, size: int) -> None:
        self._hs = hs
        self._path = path
        self._offset = offset
        self._size = size
        self._fd: int | None = fd
        self._closer = weakref.finalize(self, os.close, fd)
        self._lock = threading.Lock()
        self._database: Any = None

    def get(self) -> Any:
        """The database, or None when it cannot be loaded (said once in the log)."""
        with self._lock:
            if self._fd is not None:
                try:
                    data = os.pread(self._fd, self._size, self._offset)
                    if len(data) != self._size:
                        raise ValueError(f"{len(data)} bytes where {self._size} were written")
                    self._database = self._hs.loadb(data, self._hs.HS_MODE_BLOCK)
                except Exception as exc:  # long lines are then scanned like short ones: the same results
                    log.warning("the long lines' pre-filter in %s cannot be loaded (%s); long lines are "
                                "filtered by the short lines' database", self._path, exc)
                finally:
                    self._fd = None
                    self._closer()
            return self._database


class Prefilter:
    """A compiled Hyperscan database over a fixed list of patterns (their indexes are ids),
    and optionally the same patterns compiled to say only whether each can match, for
    short lines. `database` may be one still in the cache file (`_Deferred`)."""

    def __init__(self, hs: Any, database: Any, plans: Sequence[Plan], *, short: Any = None, from_cache: bool = False) -> None:
        self._hs = hs
        self._full = database
        self._short = short
        self.plans = tuple(plans)
        self.from_cache = from_cache  # read from a file written once its patterns had all compiled
        self._local = threading.local()  # one scratch space per thread and database

        # Patterns that run on every line (the scan cannot speak for them).
        self.unfiltered = frozenset(i for i, p in enumerate(self.plans) if p.mode == ALWAYS)

    @property
    def database(self) -> Any:
        """The database for lines of any length (None if it was cached and cannot be loaded)."""
        full = self._full
        return full.get() if isinstance(full, _Deferred) else full

    def scan(self, norm: str) -> Hits:
        """Pattern index -> (start, end) of every reported match (start 0 unless som); on a
        short line, of one match each, without its start (``located`` False)."""
        if self._short is not None and len(norm) <= SHORT_LINE:
            return self._scan_short(norm)
        database = self.database
        if database is None:
            return self._scan_short(norm)  # each reported pattern then runs over the whole line
        found: list[tuple[int, int, int]] = []
        add = found.append

        def on_match(index: int, start: int, end: int, flags: int, context: Any) -> None:
            add((index, start, end))

        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._hs.Scratch(database)
        database.scan(stand_in(norm), match_event_handler=on_match, scratch=scratch)
        hits = Hits()
        for index, start, end in found:
            spans = hits.get(index)
            if spans is None:
                hits[index] = [(start, end)]
            else:
                spans.append((start, end))
        return hits

    def _scan_short(self, norm: str) -> Hits:
        hits = Hits(located=False)

        def on_match(index: int, start: int, end: int, flags: int, context: Any) -> None:
            hits[index] = [(0, end)]  # each pattern is reported once (single match)

        scratch = getattr(self._local, "short", None)
        if scratch is None:
            scratch = self._local.short = self._hs.Scratch(self._short)
        self._short.scan(stand_in(norm), match_event_handler=on_match, scratch=scratch)
        return hits

    def finditer(self, index: int, pattern: re.Pattern[str], norm: str, hits: Hits) -> Iterator[re.Match[str]]:
        """Exactly ``pattern.finditer(norm)``, with `re` run only where the scan allows."""
        mode = self.plans[index].mode
        if mode == ALWAYS:
            return pattern.finditer(norm)
        spans = hits.get(index)
        if not spans:
            return iter(())
        if mode == PRESENCE or len(norm) <= SHORT_LINE or not hits.located:
            return pattern.finditer(norm)
        if mode == SOM:
            return _from_starts(pattern, norm, spans)
        return _in_windows(pattern, norm, spans, self.plans[index])


def _from_starts(pattern: re.Pattern[str], norm: str, spans: list[tuple[int, int]]) -> Iterator[re.Match[str]]:
    """finditer for an unbounded pattern: a match ending at e starts at or after the
    leftmost reported start for e, so each search begins there (context before it stays
    visible to `re`: a search position is not a slice)."""
    spans = sorted(spans, key=lambda span: span[1])
    earliest = [0] * len(spans)
    low = len(norm)
    for k in range(len(spans) - 1, -1, -1):
        low = min(low, spans[k][0])
        earliest[k] = low
    pos = k = 0
    while True:
        while k < len(spans) and spans[k][1] <= pos:
            k += 1  # every match is non-empty, so one starting at pos ends after it
        if k == len(spans):
            return
        m = pattern.search(norm, max(pos, earliest[k]))
        if m is None:
            return
        yield m
        pos = m.end()


def _in_windows(
    pattern: re.Pattern[str], norm: str, spans: list[tuple[int, int]], plan: Plan
) -> Iterator[re.Match[str]]:
    """finditer for a bounded pattern, searching windows before reported match ends.

    A match ending at e starts at or after e - max_width. A search cut at ``endpos`` is
    exact for every start s with s + extent + 2 <= endpos (re never looks further from
    there; the 2 covers a word boundary or $ at the last place), so a window that finds
    nothing there proves nothing starts there and the next window begins after it.
    """
    ends = sorted({end for _start, end in spans})
    size = len(norm)
    reach = plan.extent + 2
    span = max(64, 2 * reach)
    pos = k = 0
    while True:
        while k < len(ends) and ends[k] <= pos:
            k += 1
        if k == len(ends):
            return
        low = max(pos, ends[k] - plan.max_width)
        high = low + span + reach
        if high >= size:
            m = pattern.search(norm, low)
            if m is None:
                return
            yield m
            pos = m.end()
            continue
        m = pattern.search(norm, low, high)
        safe = high - reach
        if m is not None and m.start() <= safe:
            yield m
            pos = m.end()
        else:
            pos = safe + 1


def _flags(hs: Any, mode: str) -> int:
    if mode == WINDOW:
        return hs.HS_FLAG_PREFILTER
    if mode == SOM:
        return hs.HS_FLAG_SOM_LEFTMOST
    return hs.HS_FLAG_PREFILTER | hs.HS_FLAG_SINGLEMATCH


def _compile(hs: Any, plans: dict[int, Plan]) -> Any:
    database = hs.Database(mode=hs.HS_MODE_BLOCK)
    ids = sorted(plans)
    database.compile(
        expressions=[plans[i].expression.encode("ascii") for i in ids],
        ids=ids,
        elements=len(ids),
        flags=[_flags(hs, plans[i].mode) for i in ids],
    )
    return database


def _compile_short(hs: Any, plans: Sequence[Plan]) -> tuple[Any, list[Plan]]:
    """The database for short lines: every filtered pattern, reported once, no match starts
    (a pre-filter's superset of each expression, so still a superset of what `re` matches),
    each with its edges' look-arounds kept where Hyperscan takes them; and the plans, less
    the short expressions it refused. None if Hyperscan will not take it: short lines then
    use the other database."""
    plans = list(plans)
    ids = [i for i, p in enumerate(plans) if p.mode != ALWAYS]
    if not ids:
        return None, plans

    def build(chosen: Sequence[int]) -> Any:
        database = hs.Database(mode=hs.HS_MODE_BLOCK)
        database.compile(
            expressions=[(plans[i].short or plans[i].expression).encode("ascii") for i in chosen],
            ids=list(chosen),
            elements=len(chosen),
            flags=[hs.HS_FLAG_PREFILTER | hs.HS_FLAG_SINGLEMATCH] * len(chosen),
        )
        return database

    def refused(chosen: Sequence[int]) -> list[int]:
        """The short expressions Hyperscan rejects among `chosen` (bisected, as in _failing)."""
        try:
            build(chosen)
            return []
        except hs.error:
            if len(chosen) == 1:
                return list(chosen)
        middle = len(chosen) // 2
        return refused(chosen[:middle]) + refused(chosen[middle:])

    try:
        return build(ids), plans
    except hs.error as exc:
        log.debug("short-line database refused some expressions: %s", exc)
    for i in refused([i for i in ids if plans[i].short]):
        plans[i] = dataclasses.replace(plans[i], short="")
    try:
        return build(ids), plans
    except hs.error as exc:
        log.debug("no short-line database: %s", exc)
        return None, plans


def _failing(hs: Any, plans: dict[int, Plan]) -> set[int]:
    """The patterns Hyperscan rejects (it does not say which one failed: bisect)."""
    try:
        _compile(hs, plans)
        return set()
    except hs.error:
        if len(plans) == 1:
            return set(plans)
    ids = sorted(plans)
    middle = len(ids) // 2
    return _failing(hs, {i: plans[i] for i in ids[:middle]}) | _failing(hs, {i: plans[i] for i in ids[middle:]})


def _unanchored(pattern: re.Pattern[str]) -> str | None:
    """The pattern's expression without ^ and $, or None. Hyperscan rejects a start anchor
    inside a pattern ("(?:^|, )maybe ..."); without it, the pattern can still be filtered."""
    try:
        parsed = _sre_parse.parse(pattern.pattern, pattern.flags)
        return _emit(parsed, parsed.state.flags, anchors=False)
    except (_Untranslatable, re.error, RecursionError, ValueError):
        return None


def _downgrade(current: Plan, pattern: re.Pattern[str]) -> Plan:
    """The next plan to try for a pattern Hyperscan rejected: som -> presence -> presence
    without anchors -> always (window -> always)."""
    if current.mode == SOM:
        return Plan(PRESENCE, current.expression, short=current.short)
    if current.mode == PRESENCE:
        wider = _unanchored(pattern)
        if wider and wider != current.expression:
            return Plan(PRESENCE, wider, short=current.short)
    return Plan(ALWAYS)


def _build(hs: Any, patterns: Sequence[re.Pattern[str]]) -> tuple[Any, list[Plan]] | None:
    plans = [plan(p) for p in patterns]
    # Start-of-match tracking is what Hyperscan most often rejects ("too large"); trying
    # those patterns alone first is far cheaper than bisecting the whole set for them.
    for i, p in enumerate(plans):
        if p.mode == SOM and _failing(hs, {i: p}):
            plans[i] = Plan(PRESENCE, p.expression, short=p.short)
    for _round in range(4):  # as many rounds as _downgrade has steps
        active = {i: p for i, p in enumerate(plans) if p.mode != ALWAYS}
        if not active:
            return None
        try:
            return _compile(hs, active), plans
        except hs.error:
            for i in _failing(hs, active):
                log.debug("hyperscan rejects %r (%s)", patterns[i].pattern, plans[i].mode)
                plans[i] = _downgrade(plans[i], patterns[i])
    return None


def _cache_key(hs: Any, patterns: Sequence[re.Pattern[str]]) -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(json.dumps([hs.__version__, platform.machine(), platform.python_version()]).encode())
    for p in patterns:
        digest.update(json.dumps([p.pattern, p.flags]).encode())
    return digest.hexdigest()[:32]


def default_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("trainer", appauthor=False))


def _read_cache(hs: Any, path: Path, count: int) -> Prefilter | None:
    try:
        # Read part by part, straight into the bytes Hyperscan loads (slicing one read of the
        # whole file copied its tens of MB once more): the short lines' database now, the long
        # lines' when a line first needs it (`_Deferred`).
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if file.read(len(_FORMAT)) != _FORMAT:
                return None
            (header_size,) = struct.unpack(">I", file.read(4))
            header = json.loads(file.read(header_size))
            plans = [Plan(**item) for item in header["plans"]]
            if len(plans) != count:
                return None
            full_size, short_size = header["databases"]
            offset = len(_FORMAT) + 4 + header_size
            if offset + full_size + short_size != size:
                return None
            if not short_size:  # every line needs the one database: nothing to put off
                return Prefilter(hs, hs.loadb(file.read(full_size), hs.HS_MODE_BLOCK), plans, from_cache=True)
            file.seek(offset + full_size)
            short = hs.loadb(file.read(short_size), hs.HS_MODE_BLOCK)
            long_lines = _Deferred(hs, path, os.dup(file.fileno()), offset, full_size)  # the very file just read
        return Prefilter(hs, long_lines, plans, short=short, from_cache=True)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a damaged or foreign cache file is simply rebuilt
        log.debug("prefilter cache %s unusable: %s", path, exc)
        return None


def _write_cache(hs: Any, path: Path, prefilter: Prefilter) -> None:
    full = hs.dumpb(prefilter.database)
    short = hs.dumpb(prefilter._short) if prefilter._short is not None else b""
    header = json.dumps({"plans": [dataclasses.asdict(p) for p in prefilter.plans], "databases": [len(full), len(short)]}).encode()
    data = _FORMAT + struct.pack(">I", len(header)) + header + full + short
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside and renamed: another process never reads half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        _forget_old(path)
    except OSError as exc:
        log.warning("detection pre-filter not cached in %s (%s): each start compiles it again; "
                    "set XDG_CACHE_HOME to a writable directory", path.parent, exc)


KEEP_CACHED = 3  # databases kept (several checkouts or versions may share the cache)


def _forget_old(current: Path) -> None:
    """Delete all but the most recently used cached databases (each is tens of MB)."""
    def used(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    others = sorted((p for p in current.parent.glob("prefilter-*.bin") if p != current), key=used, reverse=True)
    for old in others[KEEP_CACHED - 1 :]:
        with contextlib.suppress(OSError):
            old.unlink()


# A pre-filter that fails to report a match loses evidence silently, so the library is tried
# first on a case it is known to get wrong: Vectorscan 5.4.12 reports no match of
# `ab|(?:^|,)b` once the match starts past offset 15 (and misses some lexicon patterns too).
_KNOWN_MISS = (rb"ab|(?:^|,)b", b"x" * 16 + b"ab")


def _misses_known_matches(hs: Any) -> bool:
    expression, data = _KNOWN_MISS
    database = hs.Database(mode=hs.HS_MODE_BLOCK)
    database.compile(expressions=[expression], ids=[0], elements=1, flags=[0])
    found: list[int] = []
    database.scan(data, match_event_handler=lambda *match: found.append(match[0]), scratch=hs.Scratch(database))
    return not found


def load(patterns: Sequence[re.Pattern[str]], cache_dir: Path | None = None) -> Prefilter | None:
    """The pre-filter for ``patterns`` (ids = their indexes), or None to use plain `re`."""
    if os.environ.get(ENV_SWITCH, "").strip().lower() == "re":
        return None
    try:
        import hyperscan as hs
    except ImportError:
        return None
    try:
        if _misses_known_matches(hs):
            log.warning("this hyperscan library (%s) misses matches (a known fault of Vectorscan 5.4.12, "
                        "in python-hyperscan 0.7.23 and later); using plain re: install hyperscan<0.7.22",
                        getattr(hs, "__version__", "of unknown version"))
            return None
        path = (cache_dir or default_cache_dir()) / f"prefilter-{_cache_key(hs, patterns)}.bin"
        cached = _read_cache(hs, path, len(patterns))
        if cached is not None:
            with contextlib.suppress(OSError):
                os.utime(path)  # recently used: kept when other versions are cleaned up
            return cached
        # Patterns may compile only when first used (bot/engine/lazy_pattern.py): a database
        # is cached only for patterns that all compile, so whoever reads it can trust them.
        for pattern in patterns:
            re.compile(pattern.pattern, pattern.flags)
        built = _build(hs, patterns)
        if built is None:
            return None
        short, plans = _compile_short(hs, built[1])
        prefilter = Prefilter(hs, built[0], plans, short=short)
        _write_cache(hs, path, prefilter)
        return prefilter
    except Exception:  # the filter is an optimisation: never let it stop detection
        log.warning("hyperscan pre-filter unavailable; using plain re", exc_info=True)
        return None
