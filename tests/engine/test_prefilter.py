"""The Hyperscan pre-filter never changes a result: same evidence and respect features as
plain `re` (with and without its own gram filter), on every labelled line and on fuzz."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine import prefilter, signals
from bot.engine.catalog import Library
from bot.engine.patterns import Substrings
from bot.engine.signals import (
    MAX_MESSAGE_CHARS,
    Lexicon,
    _detect,
    _extra_evidence,
    _Line,
    _matches,
    _normalise,
    _respect_features,
    analyze,
    load_lexicon,
)

DATA = sorted((Path(__file__).resolve().parents[1] / "data").glob("*.jsonl"))
LINES = [json.loads(line)["text"] for path in DATA for line in path.read_text("utf-8").splitlines() if line.strip() and not line.startswith("#")]

LEX = load_lexicon()
needs_hyperscan = pytest.mark.skipif(LEX.prefilter is None, reason="no Hyperscan pre-filter here (not installed, or TRAINER_PREFILTER=re)")
RE_PATH = signals._re_path(LEX)  # the fallback: re, with its gram pre-filter
# The lexicon's patterns by pre-filter index: rule branches, then respect and empathy features.
PATTERNS = [b.pattern for _rule, b in LEX.branches] + [f.pattern for f in (*LEX.respect_features, *LEX.empathy_features)]
UNFILTERED = dataclasses.replace(  # no grams either: every pattern over every line
    RE_PATH,
    rules=tuple(dataclasses.replace(r, branches=tuple(dataclasses.replace(b, grams=None) for b in r.branches)) for r in RE_PATH.rules),
    branches=tuple((r, dataclasses.replace(b, grams=None)) for r, b in RE_PATH.branches),
    respect_features=tuple(dataclasses.replace(f, grams=None) for f in RE_PATH.respect_features),
    empathy_features=tuple(dataclasses.replace(f, grams=None) for f in RE_PATH.empathy_features),
)


@contextlib.contextmanager
def unfiltered() -> Iterator[None]:
    """A scenario's own signals over every line too: the ground truth (a plan made afresh,
    with no needles, so no pattern is ever skipped)."""
    with mock.patch.object(signals, "_extra_plan", lambda extra: signals._ExtraPlan(extra, lambda pattern: None)):
        yield


@contextlib.contextmanager
def windows_everywhere() -> Iterator[None]:
    """Make even short lines take the scan and the windowed search that long lines take
    (the line detected last is forgotten: its scan may have been a short line's)."""
    saved = prefilter.SHORT_LINE
    prefilter.SHORT_LINE = 0
    signals._last_line = None
    try:
        yield
    finally:
        prefilter.SHORT_LINE = saved
        signals._last_line = None


ROOT = Path(__file__).resolve().parents[2]
SCENARIO_SIGNALS = [s.signals for s in Library(ROOT / "dialogues").scenarios.values() if s.signals]


def outcome(text: str, lex: Lexicon) -> tuple[object, ...]:
    detection = _detect(text, None, lex)
    # Every match of the estimates' own features too (empathy counts each one).
    line = _Line(_normalise(text), lex)
    # And on the line as a replay meets it, never scanned (with Hyperscan, features kept off it by their needles).
    unscanned = _Line(_normalise(text), lex, scan=False)
    return (detection.evidence, _respect_features(detection, lex),
            [(f.name, a, b) for f, a, b in _matches(line, lex.empathy_features)],
            [(f.name, a, b) for f, a, b in _matches(unscanned, lex.empathy_features)])


def scenario_evidence(text: str, extra: dict[str, tuple[re.Pattern[str], ...]]) -> tuple[object, ...]:
    """A scenario's own signals, filtered (by literals they need) and not."""
    line = _Line(_normalise(text), RE_PATH)
    plan = signals._extra_plan(extra)
    # One search finds the needles in the line: exactly those a substring check finds.
    assert plan.present(line.folded) == {needle for needle in plan.needles if needle in line.folded}, text
    with unfiltered():
        naive = _extra_evidence(line, text, extra)
    return naive, _extra_evidence(line, text, extra)


def assert_same(text: str) -> None:
    for extra in SCENARIO_SIGNALS:
        naive, found = scenario_evidence(text, extra)
        assert found == naive, text
    truth = outcome(text, UNFILTERED)
    assert outcome(text, RE_PATH) == truth, text
    if LEX.prefilter is not None:
        assert outcome(text, LEX) == truth, text
        with windows_everywhere():
            assert outcome(text, LEX) == truth, text


def test_every_labelled_line_gives_the_same_evidence() -> None:
    assert len(LINES) > 300
    for text in LINES:
        assert_same(text)


def test_long_transcripts_give_the_same_evidence() -> None:
    transcript = " ".join(LINES)
    for size in (300, 1500, MAX_MESSAGE_CHARS):
        assert_same(transcript[:size])
    assert_same("\n".join(LINES[:40]))


# Words of the lexicon's own patterns, so fuzzed lines hit (and nearly hit) many rules.
WORDS = sorted({w for text in LINES for w in re.findall(r"[\w']+", text.lower())})
ODD = ["ſ", "K", "İ", "ı", "é", "É", "ß", "’", "‘", "“", "\u00a0", "\u2028", "\x1c", "\x85", "\n", "\t",
       "٣", "_", "🙂", "…", "—", "?", "!", ".", ",", "-", "'", "*", "$", "@", ":)", " - "]
pieces = st.sampled_from(WORDS) | st.sampled_from(ODD) | st.text(max_size=3)
lines = st.lists(pieces, max_size=60).flatmap(
    lambda parts: st.sampled_from([" ", "", ", ", ". "]).map(lambda sep: sep.join(parts))
) | st.text(max_size=200)


@needs_hyperscan
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines, st.booleans(), st.booleans())
def test_fuzzed_lines_give_the_same_evidence(text: str, upper: bool, windows: bool) -> None:
    text = text.upper() if upper else text
    for extra in SCENARIO_SIGNALS:
        naive, found = scenario_evidence(text, extra)
        assert found == naive
    truth = outcome(text, UNFILTERED)
    assert outcome(text, RE_PATH) == truth
    with windows_everywhere() if windows else contextlib.nullcontext():
        assert outcome(text, LEX) == truth


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=6) | st.sampled_from(WORDS[:200]), min_size=1, max_size=40, unique=True),
       st.lists(st.sampled_from(WORDS) | st.sampled_from(ODD) | st.sampled_from(["\ud800", "\udfff", "\x00"]) | st.text(max_size=3), max_size=40))
def test_one_set_pass_finds_exactly_the_words_a_substring_check_finds(words: list[str], parts: list[str]) -> None:
    text = " ".join(parts)
    found = Substrings(words)
    assert sorted(found.within(text)) == [k for k, word in enumerate(words) if word in text]


def test_needles_are_found_the_same_without_an_re2_set() -> None:
    def refused(words: object) -> Substrings:
        raise ValueError("too large")

    for extra in SCENARIO_SIGNALS:
        with_set = signals._ExtraPlan(extra, signals._needles)
        with mock.patch.object(signals, "_Substrings", refused):
            by_re = signals._ExtraPlan(extra, signals._needles)
        assert by_re._finder is not None or not by_re.needles
        for text in LINES[:400]:
            folded = _Line(_normalise(text), RE_PATH).folded
            assert by_re.present(folded) == with_set.present(folded) == {n for n in with_set.needles if n in folded}
            assert by_re.runnable(folded) == with_set.runnable(folded)


def test_a_pattern_without_a_two_letter_literal_is_kept_off_lines_by_letter_pairs() -> None:
    """`\\bB ?(&|and|n) ?E\\b` has no two letters in a row to look for; a letter and each
    character that may follow it are needles, and every match holds one of them."""
    from bot.engine.patterns import compile_pattern

    jargon = compile_pattern(r"\bB ?(&|and|n) ?E\b")
    assert signals._needles(jargon) == (("b ", "b&", "ba", "bn"),)
    # A following character that may not be there, or could be any, gives no pair.
    for source in (r"\bq\w+", r"xy?", r"[a-z] ?b", r"\bk.z"):
        assert signals._letter_pairs(compile_pattern(source)) == [], source
    # An alternative that may be empty lets the next character follow too.
    assert signals._letter_pairs(compile_pattern(r"x(?:y|Z|)w")) == [("xw", "xy", "xz")]
    texts = ["B&E", "b and e", "a BnE", "B & E at ten", "b n e", "bne", "the B and E report", "K\u212a b\u017fe"]
    for pattern in [jargon, compile_pattern(r"x(?:y|Z|)w"), compile_pattern(r"\b[Kk] ?(?:9|nine)\b")]:
        needles = signals._needles(pattern) or ()
        for text in texts + ["x" + c + "w" for c in "yzZ"] + ["k9", "K nine", "\u212a9"]:
            folded = _Line(_normalise(text), RE_PATH).folded
            if any(True for _ in pattern.finditer(_normalise(text))):
                assert signals._has_needles(folded, needles), (pattern.pattern, text)


def test_fold_table_is_what_re_does() -> None:
    letter = re.compile("[a-z]", re.IGNORECASE)
    found = {code: chr(code).lower() if chr(code).lower().isascii() else None
             for code in range(128, 0x110000) if letter.fullmatch(chr(code))}
    assert set(found) == set(prefilter.ASCII_FOLDS)
    for code, ascii_letter in prefilter.ASCII_FOLDS.items():
        assert re.fullmatch(ascii_letter, chr(code), re.IGNORECASE)


def test_stand_ins_keep_length_and_word_boundaries() -> None:
    text = "ſir é_x 🙂\u2028٣"
    data = prefilter.stand_in(text)
    assert len(data) == len(text)
    assert data == b"sir __x \x81\x80_"
    assert prefilter.stand_in("plain ascii") == b"plain ascii"


@pytest.mark.parametrize(
    ("pattern", "mode"),
    [
        (r"\bsir\b", prefilter.WINDOW),
        (r"(?<!good )\bmorning\b(?=\s?,)", prefilter.WINDOW),
        (r"\bupset\w*", prefilter.SOM),
        (r"x?", prefilter.ALWAYS),  # can match the empty string: nothing to filter on
        (r"(a)?(?(1)b|c)", prefilter.WINDOW),
    ],
)
def test_plans(pattern: str, mode: str) -> None:
    assert prefilter.plan(re.compile(pattern, re.IGNORECASE)).mode == mode


SMALL = [re.compile(p, re.IGNORECASE) for p in (r"\bsir\b", r"\bma'?am\b", r"\bupset\w*", r"x?")]


def test_byte_classes_are_written_short() -> None:
    # Hyperscan limits a pattern's length: written as escapes, the longest introductions did not fit.
    assert prefilter._class_source([ord("V"), ord("v")]) == "[Vv]"
    assert prefilter._class_source([ord("a")]) == "a"
    assert prefilter._class_source([0x20]) == "\\x20"
    assert prefilter._class_source([*range(0x30, 0x3A), 0x5F, *range(0x61, 0x7B)]) == "[0-9\\x5fa-z]"
    assert prefilter._class_source([0x27, 0x2D, 0x2E]) == "[\\x27\\x2d\\x2e]"


@needs_hyperscan
def test_compiled_database_is_cached_and_rebuilt_when_damaged(tmp_path: Path) -> None:
    first = prefilter.load(SMALL, cache_dir=tmp_path)
    assert first is not None
    (cached,) = tmp_path.glob("prefilter-*.bin")
    again = prefilter.load(SMALL, cache_dir=tmp_path)
    assert again is not None and again.plans == first.plans and again.from_cache
    assert first._short is not None and again._short is not None  # the short lines' database too
    cached.write_bytes(b"not a database")
    rebuilt = prefilter.load(SMALL, cache_dir=tmp_path)
    assert rebuilt is not None and rebuilt.plans == first.plans
    assert cached.read_bytes().startswith(b"trainer-prefilter-")
    other = prefilter.load(SMALL[:2], cache_dir=tmp_path)  # other patterns, other key
    assert other is not None and len(list(tmp_path.glob("prefilter-*.bin"))) == 2
    for size in (1, 3):  # more versions than are kept: the least recently used go
        assert prefilter.load(SMALL[:size], cache_dir=tmp_path) is not None
    assert len(list(tmp_path.glob("prefilter-*.bin"))) == prefilter.KEEP_CACHED
    assert not cached.exists()  # the least recently used
    before = set(tmp_path.glob("prefilter-*.bin"))
    assert prefilter.load(SMALL[:2], cache_dir=tmp_path) is not None  # a hit keeps it fresh
    assert prefilter.load(SMALL[:1] + SMALL[3:], cache_dir=tmp_path) is not None
    after = set(tmp_path.glob("prefilter-*.bin"))
    assert len(after) == prefilter.KEEP_CACHED and len(before - after) == 1
    assert other_file(tmp_path, SMALL[:2]) in after
    hits = rebuilt.scan("Yes sir, I'm upset")
    assert set(hits) == {0, 2}


LONG_LINE = "Good evening. " * 20 + "I'm sorry about the wait, sir, and yes, I am upset too."


@needs_hyperscan
def test_a_cached_filter_loads_the_long_lines_database_when_a_long_line_first_comes(tmp_path: Path) -> None:
    built = prefilter.load(SMALL, cache_dir=tmp_path)
    assert built is not None and len(LONG_LINE) > prefilter.SHORT_LINE
    cached = prefilter.load(SMALL, cache_dir=tmp_path)
    assert cached is not None and cached.from_cache
    assert isinstance(cached._full, prefilter._Deferred) and cached._full._database is None
    assert cached.scan("Yes sir, I'm upset") == built.scan("Yes sir, I'm upset")
    assert cached._full._database is None  # a short line needs only the short lines' database
    for path in tmp_path.glob("prefilter-*.bin"):
        path.unlink()  # cleaned up by another version meanwhile: the open file still serves
    assert cached.scan(LONG_LINE) == built.scan(LONG_LINE) and cached.scan(LONG_LINE).located
    assert cached._full._database is not None and cached._full._fd is None  # loaded once, file closed


@needs_hyperscan
def test_a_long_lines_database_that_cannot_be_loaded_leaves_long_lines_to_the_short_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    built = prefilter.load(SMALL, cache_dir=tmp_path)
    assert built is not None
    (path,) = tmp_path.glob("prefilter-*.bin")
    cached = prefilter.load(SMALL, cache_dir=tmp_path)
    assert cached is not None and isinstance(cached._full, prefilter._Deferred)
    data = bytearray(path.read_bytes())  # damaged after it was opened: the long part's bytes overwritten
    start = cached._full._offset
    data[start:start + 64] = b"\0" * 64
    path.write_bytes(bytes(data))
    hits = cached.scan(LONG_LINE)
    assert not hits.located and set(hits) | cached.unfiltered >= {k for k, p in enumerate(SMALL) if p.search(LONG_LINE)}
    assert "cannot be loaded" in caplog.text
    caplog.clear()
    assert set(cached.scan(LONG_LINE)) == set(hits) and "cannot be loaded" not in caplog.text  # said once
    for key, pattern in enumerate(SMALL):  # each pattern then runs over the whole line: exactly re's matches
        assert [m.span() for m in cached.finditer(key, pattern, LONG_LINE, hits)] == [m.span() for m in pattern.finditer(LONG_LINE)]


@needs_hyperscan
def test_a_start_anchor_inside_a_pattern_is_left_out_rather_than_the_filter(tmp_path: Path) -> None:
    # Hyperscan rejects "embedded start anchors"; without the anchor the scan still filters.
    advice = re.compile(r"\b(?:you should \w+|(?:^|(?<=[.!?,;]\s))maybe (?:try|just))\b", re.IGNORECASE)
    loaded = prefilter.load([advice], cache_dir=tmp_path)
    assert loaded is not None and not loaded.unfiltered and loaded.plans[0].mode == prefilter.PRESENCE
    for text in ("Maybe try again.", "Well, maybe just rest", "you should rest, maybe try", "nothing to see"):
        found = [m.span() for m in loaded.finditer(0, advice, text, loaded.scan(text))]
        assert found == [m.span() for m in advice.finditer(text)], text
    assert not loaded.scan("nothing to see here")  # filtered: not reported where it cannot match


@needs_hyperscan
def test_short_lines_are_scanned_only_for_which_patterns_can_match() -> None:
    scanner = LEX.prefilter
    assert scanner is not None and scanner._short is not None
    located = reported = 0
    for text in LINES:
        norm = _normalise(text)
        if len(norm) > prefilter.SHORT_LINE:
            continue
        short = scanner.scan(norm)
        assert not short.located
        saved = prefilter.SHORT_LINE
        prefilter.SHORT_LINE = 0
        try:
            full = scanner.scan(norm)
        finally:
            prefilter.SHORT_LINE = saved
        assert full.located, text
        # Never a pattern fewer than can match: every one the full scan reports and `re` finds.
        matching = {key for key in full if PATTERNS[key].search(norm)}
        assert set(short) >= matching, text
        located += len(full)
        reported += len(short)
    assert located > 1000
    # Its edges' look-arounds make the short scan the closer of the two (see prefilter._with_edges).
    assert reported < located


@needs_hyperscan
def test_the_short_scan_keeps_a_leading_look_behind_and_a_trailing_look_ahead(tmp_path: Path) -> None:
    after_stop = re.compile(r"(?:^|(?<=[.!?] ))hi\b", re.IGNORECASE)
    before_stop = re.compile(r"\bthanks(?= *[.!])", re.IGNORECASE)
    loaded = prefilter.load([after_stop, before_stop], cache_dir=tmp_path)
    assert loaded is not None and loaded._short is not None
    assert all(plan.short for plan in loaded.plans)
    for text, expected in [("Hi there", {0}), ("Ok. Hi there", {0}), ("oh hi there", set()), ("and hi", set()),
                           ("thanks.", {1}), ("thanks !", {1}), ("thanks for that", set()), ("Ok. hi, thanks!", {0, 1})]:
        assert set(loaded.scan(text)) == expected, text
        assert expected == {k for k, pattern in enumerate((after_stop, before_stop)) if pattern.search(text)}, text


@needs_hyperscan
def test_a_short_expression_hyperscan_refuses_falls_back_to_the_plain_one(tmp_path: Path) -> None:
    # Kept, the look-ahead puts a start anchor after text, which Hyperscan refuses.
    odd = re.compile(r"\bmaybe(?= |^)", re.IGNORECASE)
    plain = re.compile(r"\bsorry\b", re.IGNORECASE)
    loaded = prefilter.load([odd, plain], cache_dir=tmp_path)
    assert loaded is not None and loaded._short is not None and not loaded.unfiltered
    assert loaded.plans[0].short == "" and loaded.plans[1].short == ""
    assert set(loaded.scan("maybe later, sorry")) == {0, 1}
    assert not loaded.scan("nothing here")


def other_file(folder: Path, patterns: list[re.Pattern[str]]) -> Path:
    import hyperscan

    return folder / f"prefilter-{prefilter._cache_key(hyperscan, patterns)}.bin"


@needs_hyperscan
def test_a_failing_scan_falls_back_to_re(caplog: pytest.LogCaptureFixture) -> None:
    text = "Good evening, sir. I'm Officer Lee; I'm sorry about the wait, are you okay?"
    expected = outcome(text, UNFILTERED)
    with mock.patch.object(LEX.prefilter, "scan", side_effect=RuntimeError("scratch in use")):
        assert outcome(text + " ", LEX) == outcome(text + " ", UNFILTERED)
    assert "plain re" in caplog.text and outcome(text, LEX) == expected


def test_switching_hyperscan_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(prefilter.ENV_SWITCH, "re")
    assert prefilter.load(SMALL, cache_dir=tmp_path) is None


@needs_hyperscan
def test_unwritable_cache_still_filters_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache directory should be")
    assert prefilter.load(SMALL, cache_dir=blocked / "cache") is not None
    assert "XDG_CACHE_HOME" in caplog.text


def test_analyze_reads_at_most_the_message_cap() -> None:
    text = "Good evening, sir. " * (MAX_MESSAGE_CHARS // 10)
    out = analyze(text)
    assert out["text"] == text and out["analyzed_chars"] == MAX_MESSAGE_CHARS
    assert all(e["end"] <= MAX_MESSAGE_CHARS for s in out["signals"] for e in s["evidence"])
    assert "analyzed_chars" not in analyze("Good evening, sir.")


@needs_hyperscan
@pytest.mark.parametrize("text", [
    "Three weeks on your own sounds really heavy, and it makes sense that going out feels like too much right now.",
    "thank you. i'll be right back, it takes about 5 minutes to run everything",
])
def test_hyperscan_reports_every_pattern_re_finds_on_these_lines(text: str) -> None:
    # With python-hyperscan 0.9.1 (Vectorscan 5.4.12) 4 patterns went unreported on 9 of 13,424
    # lines, these among them, and their evidence was lost; 0.7.21 (Vectorscan 5.4.11) reports them.
    assert outcome(text, LEX) == outcome(text, UNFILTERED)


def _texts(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texts(value)


@needs_hyperscan
def test_the_other_test_lines_give_the_same_evidence_with_hyperscan_as_with_re() -> None:
    # The lines the labelled-line test does not cover (probes, empathy sets, signal examples,
    # golden transcripts: where the library fault above showed), against the re path that
    # test checks; only the lexicon's own patterns, which is what Hyperscan filters.
    here = Path(__file__).resolve().parents[2]
    files = [*sorted((here / "tests" / "data").glob("*.yaml")), *sorted((here / "dialogues" / "golden").rglob("*.yaml"))]
    texts = sorted({t for path in files for t in _texts(yaml.safe_load(path.read_text("utf-8"))) if " " in t} - set(LINES))
    assert len(texts) > 3000
    for text in texts:
        assert outcome(text, LEX) == outcome(text, RE_PATH), text


@needs_hyperscan
def test_the_installed_library_reports_the_match_vectorscan_5_4_12_misses() -> None:
    import hyperscan

    assert not prefilter._misses_known_matches(hyperscan)


@needs_hyperscan
def test_a_library_that_misses_matches_is_not_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A "known miss" no library can report stands for a faulty library: plain re then.
    monkeypatch.setattr(prefilter, "_KNOWN_MISS", (rb"ab", b"xx"))
    with caplog.at_level(logging.WARNING, logger="bot.engine.prefilter"):
        assert prefilter.load(PATTERNS[:5], cache_dir=tmp_path) is None
    assert "misses matches" in caplog.text and not list(tmp_path.iterdir())
