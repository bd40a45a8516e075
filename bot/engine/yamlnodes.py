"""YAML -> plain Python values plus the source line of every value.

PyYAML's `safe_load` forgets where things were and silently keeps the last of two
duplicate keys; authors need both, so we compose the node tree ourselves.

Parsing runs in libyaml (PyYAML's C parser, `CSafeLoader`) where PyYAML was built with
it: about twenty times faster than the pure-Python parser, which was most of the time a
start took to load the library. For every document the pure-Python parser accepts, the
values, lines and duplicate keys are the same (tests compare them on every YAML file of
the project and on fuzzed documents). A document libyaml rejects is parsed again by the
pure-Python parser, so every error reads as it always has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import re

import yaml

Path = tuple[str | int, ...]


class _Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 scalars, as editors read them: only true/false are booleans.

    PyYAML follows YAML 1.1, where the key `on:` becomes True, a line `No` becomes False
    and `9:40` becomes 580; authors would get baffling errors for ordinary words.
    """


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+.0123456789"),
)


_CSafeLoader: Any = getattr(yaml, "CSafeLoader", None)  # None: PyYAML built without libyaml
_SafeLoader: Any = _CSafeLoader or yaml.SafeLoader


if _CSafeLoader is not None:
    class _CYaml12Loader(_CSafeLoader):  # type: ignore[misc, valid-type]
        """The same YAML 1.2 scalars, parsed by libyaml (the resolvers run in Python, shared)."""

    _CYaml12Loader.yaml_implicit_resolvers = _Yaml12Loader.yaml_implicit_resolvers
    _FAST_YAML12: Any = _CYaml12Loader
else:
    _FAST_YAML12 = None

# Where the two parsers differ on a document the pure-Python one accepts, found by fuzzing
# them against each other: tabs, the byte-order mark and the Unicode line breaks (lines
# are counted differently), a tag (an empty tagged value is '' in libyaml, None in
# Python), and the characters the pure-Python reader refuses. A document with any of them
# goes to the pure-Python parser alone; scenario files never need them. (Where the
# pure-Python parser refuses a document, libyaml, closer to the YAML spec, may accept it:
# a '?' inside an unquoted item of a flow list, a comment right after a block scalar's '|'.)
_NOT_FOR_LIBYAML = re.compile(yaml.reader.Reader.NON_PRINTABLE.pattern + r"|[\t\x85\u2028\u2029\ufeff]|(?:^|[\s\[{,])!")


def load_safe(text: str) -> Any:
    """`yaml.safe_load` (YAML 1.1, as PyYAML reads it), parsed by libyaml where available:
    for the package's own data files, which are read at every start."""
    return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - SafeLoader or its C twin


def load_plain(text: str) -> Any:
    """A YAML document as plain values, read as YAML 1.2 (`No` stays the word No)."""
    if _FAST_YAML12 is not None and not _NOT_FOR_LIBYAML.search(text):
        try:
            return yaml.load(text, Loader=_FAST_YAML12)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError:
            pass  # said again by the pure-Python parser, in its words
    return yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass


def _compose(text: str) -> yaml.Node | None:
    if _FAST_YAML12 is not None and not _NOT_FOR_LIBYAML.search(text):
        try:
            return yaml.compose(text, Loader=_FAST_YAML12)
        except yaml.YAMLError:
            pass  # said again by the pure-Python parser, in its words
    return yaml.compose(text, Loader=_Yaml12Loader)


@dataclass
class Located:
    """A document's data, with a 1-based line for each path into it."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    duplicates: list[tuple[Path, int]] = field(default_factory=list)

    def line(self, path: Path) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


# Aliases can make a tiny file expand enormously ("billion laughs"); scenario files
# are small, so a generous bound on converted nodes costs authors nothing.
MAX_NODES = 200_000


class YamlSyntaxError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def load_located(text: str) -> Located:
    """Parse one YAML document; raises YamlSyntaxError with a line on bad input."""
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.context_mark is not None and exc.problem_mark is not None and exc.context_mark.line != exc.problem_mark.line:
            problem += f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
        raise YamlSyntaxError(line, str(problem)) from exc
    except yaml.YAMLError as exc:  # e.g. several documents in one file
        raise YamlSyntaxError(1, str(exc).splitlines()[0]) from exc
    except RecursionError as exc:  # PyYAML's parser recurses once per nesting level
        raise YamlSyntaxError(1, "the document nests too deeply") from exc
    located = Located(data=None)
    if node is None:
        located.lines[()] = 1
        return located
    constructor = _Yaml12Loader("")
    try:
        located.data = _Converter(located, constructor).convert(node, ())
    except RecursionError as exc:  # libyaml nests deeper than Python recursion goes
        raise YamlSyntaxError(1, "the document nests too deeply") from exc
    return located


class _Converter:
    def __init__(self, located: Located, constructor: _Yaml12Loader) -> None:
        self.located = located
        self.constructor = constructor
        self.count = 0
        self.active: set[int] = set()  # nodes on the current path, to stop recursive aliases

    def convert(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise YamlSyntaxError(node.start_mark.line + 1, "the document expands to too many values (alias bomb?)")
        if id(node) in self.active:
            raise YamlSyntaxError(node.start_mark.line + 1, "recursive alias")
        self.active.add(id(node))
        try:
            return self._convert(node, path)
        finally:
            self.active.discard(id(node))

    def _convert(self, node: yaml.Node, path: Path) -> Any:
        located, constructor = self.located, self.constructor
        located.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                try:
                    key = constructor.construct_object(key_node, deep=True)
                except (yaml.YAMLError, ValueError, OverflowError):
                    key = getattr(key_node, "value", "?")
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    key = str(key)
                child = (*path, str(key))
                if key in result:
                    located.duplicates.append((child, key_node.start_mark.line + 1))
                located.lines[child] = key_node.start_mark.line + 1
                result[key] = self.convert(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, index)) for index, item in enumerate(node.value)]
        try:
            return constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError):
            return node.value
