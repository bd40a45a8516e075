"""Lexicon patterns compile on first use, behave exactly as compiled ones, and a wrong one
still stops the lexicon from loading whenever the patterns cannot be trusted."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

from bot.engine import prefilter, signals
from bot.engine.lazy_pattern import LazyPattern, compile_lazily, first_character_guard
from bot.engine.signals import load_lexicon

needs_hyperscan = pytest.mark.skipif(load_lexicon().prefilter is None, reason="no Hyperscan pre-filter here (not installed, or TRAINER_PREFILTER=re)")

TEXT = "Good evening, ma'am. I'm Officer Tran; the reason I stopped you is the tail light. SIR?"
SOURCES = [r"\bma'?am\b", r"(?P<span>officer) (?P<name>\w+)", r"\breason\b.*?\bstopped\b", r"sir\?$", r"x?"]


def _spans(match: re.Match[str] | None) -> tuple[int, int] | None:
    return None if match is None else match.span()


@pytest.mark.parametrize("source", SOURCES)
def test_a_lazy_pattern_is_the_compiled_pattern(source: str) -> None:
    real = re.compile(source, re.IGNORECASE)
    lazy = compile_lazily(source, re.IGNORECASE)
    assert isinstance(lazy, LazyPattern) and "search" not in vars(lazy)  # nothing compiled yet
    assert (lazy.pattern, lazy.flags) == (real.pattern, real.flags)  # what a cache key reads, before compiling
    assert lazy == real and hash(lazy) == hash(compile_lazily(source, re.IGNORECASE))
    assert [m.span() for m in lazy.finditer(TEXT)] == [m.span() for m in real.finditer(TEXT)]
    assert "search" in vars(lazy)  # compiled once; the methods are now the compiled pattern's own
    assert lazy.groupindex == real.groupindex and lazy.groups == real.groups
    assert _spans(lazy.search(TEXT, 10)) == _spans(real.search(TEXT, 10)) and _spans(lazy.match(TEXT)) == _spans(real.match(TEXT))
    assert lazy.sub("_", TEXT) == real.sub("_", TEXT) and lazy.findall(TEXT) == real.findall(TEXT)
    copy = pickle.loads(pickle.dumps(lazy))
    assert copy == real and [m.span() for m in copy.finditer(TEXT)] == [m.span() for m in real.finditer(TEXT)]


def test_global_inline_flags_compile_at_once() -> None:
    pattern = compile_lazily("(?x) a b", re.IGNORECASE)
    assert isinstance(pattern, re.Pattern) and pattern.search("AB")


def test_a_wrong_pattern_fails_when_first_used() -> None:
    lazy = compile_lazily("(unclosed", re.IGNORECASE)
    with pytest.raises(re.error):
        lazy.search("text")


def _with_wrong_pattern(monkeypatch: pytest.MonkeyPatch) -> None:
    real = signals._read_yaml

    def read(name: str) -> dict:  # type: ignore[type-arg]
        data = real(name)
        if name == "signals.yaml":
            data["signals"]["greeting"]["patterns"] = [*data["signals"]["greeting"]["patterns"], "(unclosed"]
        return data

    monkeypatch.setattr(signals, "_read_yaml", read)
    load_lexicon.cache_clear()


def test_a_wrong_lexicon_pattern_stops_the_load_on_the_re_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(prefilter.ENV_SWITCH, "re")
    _with_wrong_pattern(monkeypatch)
    try:
        with pytest.raises(ValueError, match="signal 'greeting'"):
            load_lexicon()
    finally:
        load_lexicon.cache_clear()


@needs_hyperscan
def test_a_wrong_lexicon_pattern_stops_the_load_and_is_never_cached(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(prefilter, "default_cache_dir", lambda: tmp_path)
    _with_wrong_pattern(monkeypatch)
    try:
        with pytest.raises(ValueError, match="signal 'greeting'"):
            load_lexicon()
        assert list(tmp_path.glob("prefilter-*.bin")) == []  # nothing a later start could trust
    finally:
        load_lexicon.cache_clear()


def test_the_shipped_lexicon_compiles_whole() -> None:
    lexicon = load_lexicon()
    signals._compile_all(lexicon)  # what a start without a trusted cache does
    lazy = [b.pattern for r in lexicon.rules for b in r.branches if isinstance(b.pattern, LazyPattern)]
    assert all("search" in vars(p) for p in lazy)


@pytest.mark.parametrize(("source", "guard"), [
    (r"\bhel+o\b", ""),  # one first letter: no guard (no gain)
    (r"(?<!good )(?:hi|hey|yo)\b", "(?=[hy])"),  # look-behinds take no characters
    (r"\b(?:sir|ma'?am)\b", "(?=[ms])"),
    (r"[Ab]c|De", "(?=[abd])"),  # named in lower case, matched case-insensitively
    (r"(?:^|(?<=[.!?]))\s*hi", ""),  # a category: not known
    (r"a?b?", ""),  # may match nothing
    (r"(?:é|e)t", ""),  # a non-ASCII first letter
])
def test_a_guard_names_the_first_characters_of_every_match(source: str, guard: str) -> None:
    assert first_character_guard(source, re.IGNORECASE) == guard
    assert first_character_guard(source, 0) == ""  # only for case-insensitive patterns


def test_a_guarded_pattern_finds_exactly_what_the_plain_one_finds() -> None:
    # Every lexicon pattern, guarded as the lexicon compiles it, against itself unguarded, on
    # lines with the letters re.IGNORECASE folds to ASCII (K is the Kelvin sign, ſ a long s).
    lex = load_lexicon()
    patterns = [b.pattern for _rule, b in lex.branches] + [f.pattern for f in (*lex.respect_features, *lex.empathy_features)]
    lines = [TEXT, TEXT.upper(), "OK, KEEP CALM. I'M SGT. ſMITH, İ KNOW. “Hi”, sorry for your loss—thank you!",
             "hi hello hey how are you doing tonight? can i see your license and registration please",
             "i understand, that must be scary. we'll get an officer out to you; is there anything else?"]
    guarded = 0
    for pattern in patterns:
        plain = re.compile(pattern.pattern, pattern.flags)
        compiled = pattern.compiled() if isinstance(pattern, LazyPattern) else pattern
        guarded += compiled.pattern != plain.pattern
        for line in lines:
            assert [(m.span(), m.groupdict()) for m in compiled.finditer(line)] == [(m.span(), m.groupdict()) for m in plain.finditer(line)], pattern.pattern
    assert guarded > len(patterns) // 2
