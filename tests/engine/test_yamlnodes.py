"""Whatever the pure-Python parser accepts, the libyaml parser reads the same: values, lines,
duplicate keys; and every error is worded by the pure-Python parser."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine import yamlnodes
from bot.engine.yamlnodes import Located, YamlSyntaxError, load_located, load_plain, load_safe

ROOT = Path(__file__).resolve().parents[2]
# Every YAML file of the project but the frozen held-out sets, which no test reads but theirs.
FILES = sorted(p for p in ROOT.glob("**/*.yaml") if ".venv" not in p.parts and "heldout" not in p.name)

needs_libyaml = pytest.mark.skipif(yamlnodes._FAST_YAML12 is None, reason="PyYAML built without libyaml")


def _pure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlnodes, "_FAST_YAML12", None)


def _outcome(text: str) -> tuple[str, object]:
    try:
        located = load_located(text)
    except YamlSyntaxError as exc:
        return "error", (exc.line, exc.message)
    return "located", (located.data, located.lines, located.duplicates)


@needs_libyaml
def test_every_yaml_file_of_the_project_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(FILES) > 50
    fast = {p: (_outcome(p.read_text("utf-8")), load_plain(p.read_text("utf-8")), load_safe(p.read_text("utf-8"))) for p in FILES}
    _pure(monkeypatch)
    monkeypatch.setattr(yamlnodes, "_SafeLoader", yaml.SafeLoader)
    for path in FILES:
        text = path.read_text("utf-8")
        assert fast[path] == (_outcome(text), load_plain(text), load_safe(text)), path


@needs_libyaml
@pytest.mark.parametrize("text", [
    "a: [1, 2\nb: 3\n",  # an unclosed flow sequence
    "a: b: c\n",
    "a:\n  - x\n - y\n",
    "key: 'unterminated\n",
    "a: 1\n---\nb: 2\n",  # two documents
    "a: \x07bell\n",  # a character the pure-Python reader refuses
    "a: *nowhere\n",
    "\ta: 1\n",
])
def test_a_broken_document_reads_as_the_pure_parser_says(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _outcome(text)
    _pure(monkeypatch)
    assert fast == _outcome(text)


@needs_libyaml
def test_deep_nesting_is_an_error_with_either_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    for depth in (400, 900, 5000):
        text = "a: " + "[" * depth + "]" * depth + "\n"
        kind, (line, message) = _outcome(text)  # type: ignore[misc]
        assert kind == "error" and "deep" in message or "nesting" in message, (depth, message)


@needs_libyaml
@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab: -\n'\"#[]{},&*!|>?%@`\\\t.0No") + ["\u2028", "\x85", "é", "\ufeff", "\x07"]), max_size=60))
def test_fuzzed_documents_the_pure_parser_accepts_read_the_same(text: str) -> None:
    fast = _outcome(text)
    saved = yamlnodes._FAST_YAML12
    yamlnodes._FAST_YAML12 = None
    try:
        pure = _outcome(text)
    finally:
        yamlnodes._FAST_YAML12 = saved
    # libyaml follows the YAML spec in a few places the pure-Python parser refuses (a '?'
    # inside an unquoted item of a flow list): those documents it may accept.
    if pure[0] == "located" or fast[0] == "error":
        assert fast == pure
