"""Reader and writer for Rasa NLU training data, YAML format version "3.1".

Supported: `nlu:` blocks with `intent:` / `synonym:` / `regex:` / `lookup:` and an `examples:`
literal list, optional `metadata:`, inline annotations `[text](entity)`, `[text](entity:value)`
and `[text]{"entity": "...", "value": "..."}`. Unlike Rasa, which warns and skips a malformed
block, every problem raises `TrainingDataError` naming the file and the block.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.errors import TrainingDataError
from bot.yaml_safe import safe_load

VERSION = "3.1"
KEY_NLU = "nlu"
KEY_INTENT = "intent"
KEY_SYNONYM = "synonym"
KEY_REGEX = "regex"
KEY_LOOKUP = "lookup"
KEY_EXAMPLES = "examples"
KEY_METADATA = "metadata"
_BLOCK_KEYS = (KEY_INTENT, KEY_SYNONYM, KEY_REGEX, KEY_LOOKUP)

# [text](entity) or [text](entity:value) or [text]{"entity": ..., "value": ...}
_ANNOTATION = re.compile(r"\[(?P<text>[^\[\]]+)\](?:\((?P<short>[^()]+)\)|(?P<json>\{[^{}]*\}))")


@dataclass(frozen=True, slots=True)
class EntitySpan:
    start: int
    end: int
    entity: str
    value: str | None = None  # canonical value when it differs from the text


@dataclass(frozen=True, slots=True)
class Example:
    intent: str
    text: str  # plain text, annotations removed
    entities: tuple[EntitySpan, ...] = ()

    def annotated(self) -> str:
        """The example in Rasa's inline annotation syntax."""
        out, pos = [], 0
        for e in sorted(self.entities, key=lambda e: e.start):
            out.append(self.text[pos : e.start])
            if e.value is not None and re.search(r"[()\[\]{}:]", e.value):
                # The short form cannot carry brackets or colons in the value: use Rasa's JSON form.
                spec = json.dumps({"entity": e.entity, "value": e.value}, ensure_ascii=False)
                out.append(f"[{self.text[e.start:e.end]}]{spec}")
            else:
                label = e.entity if e.value is None else f"{e.entity}:{e.value}"
                out.append(f"[{self.text[e.start:e.end]}]({label})")
            pos = e.end
        out.append(self.text[pos:])
        return "".join(out)


@dataclass(slots=True)
class TrainingData:
    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, list[str]] = field(default_factory=dict)  # canonical -> variants
    regexes: dict[str, list[str]] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def intents(self) -> list[str]:
        return sorted({e.intent for e in self.examples})

    def by_intent(self) -> dict[str, list[Example]]:
        out: dict[str, list[Example]] = {}
        for e in self.examples:
            out.setdefault(e.intent, []).append(e)
        return out

    def merge(self, other: TrainingData) -> TrainingData:
        merged = TrainingData(list(self.examples) + list(other.examples))
        for mine, theirs, target in (
            (self.synonyms, other.synonyms, merged.synonyms),
            (self.regexes, other.regexes, merged.regexes),
            (self.lookups, other.lookups, merged.lookups),
        ):
            for d in (mine, theirs):
                for k, v in d.items():
                    target.setdefault(k, []).extend(x for x in v if x not in target.get(k, []))
        return merged

    def synonym_map(self) -> dict[str, str]:
        """Lower-cased variant -> canonical value, including entity values annotated inline."""
        out = {v.lower(): canon for canon, vs in self.synonyms.items() for v in vs}
        for ex in self.examples:
            for e in ex.entities:
                if e.value is not None:
                    out.setdefault(ex.text[e.start : e.end].lower(), e.value)
        return out


def parse_example(intent: str, raw: str, where: str = "<string>") -> Example:
    """Turn one annotated example line into plain text plus entity spans."""
    text_parts: list[str] = []
    entities: list[EntitySpan] = []
    pos = 0
    length = 0
    for m in _ANNOTATION.finditer(raw):
        before = raw[pos : m.start()]
        text_parts.append(before)
        length += len(before)
        surface = m.group("text")
        if m.group("short") is not None:
            entity, _, value = m.group("short").partition(":")
            value_or_none = value.strip() or None
        else:
            try:
                spec = json.loads(m.group("json"))
                entity, value_or_none = spec["entity"], spec.get("value")
            except (ValueError, KeyError, TypeError) as exc:
                raise TrainingDataError(where, f"bad entity annotation {m.group(0)!r} ({exc})") from None
        entity = entity.strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", entity):
            raise TrainingDataError(where, f"bad entity name {entity!r} in {raw!r}")
        if raw[m.end() : m.end() + 1] in (")", "}"):
            raise TrainingDataError(where, f"unbalanced entity annotation in {raw!r}")
        if value_or_none is not None and not isinstance(value_or_none, str):
            raise TrainingDataError(where, f"entity value must be a string in {raw!r}")
        entities.append(EntitySpan(length, length + len(surface), entity, value_or_none))
        text_parts.append(surface)
        length += len(surface)
        pos = m.end()
    text_parts.append(raw[pos:])
    text = "".join(text_parts)
    if "[" in text or "]" in text:
        raise TrainingDataError(where, f"unbalanced entity annotation in {raw!r}")
    if not text.strip():
        raise TrainingDataError(where, "empty example")
    return Example(intent, text, tuple(entities))


def _example_lines(block: dict, where: str) -> list[str]:
    raw = block.get(KEY_EXAMPLES)
    if not isinstance(raw, str):
        raise TrainingDataError(where, "`examples:` must be a literal block of '- ' lines (use `examples: |`)")
    lines = []
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        stripped = line.strip()
        if not stripped.startswith("- "):
            raise TrainingDataError(where, f"example line {n} does not start with '- ': {line!r}")
        lines.append(stripped[2:].strip())
    if not lines:
        raise TrainingDataError(where, "block has no examples")
    dupes = sorted({x for x in lines if lines.count(x) > 1})
    if dupes:
        raise TrainingDataError(where, f"duplicate examples: {dupes[:5]}")
    return lines


def loads(content: str, source: str = "<string>") -> TrainingData:
    try:
        doc = safe_load(content)
    except yaml.YAMLError as exc:
        raise TrainingDataError(source, f"not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise TrainingDataError(source, "top level must be a mapping with `version` and `nlu`")
    if not isinstance(doc.get("version"), str) or doc.get("version") != VERSION:
        raise TrainingDataError(source, f'`version` must be "{VERSION}", got {doc.get("version")!r}')
    unknown = set(doc) - {"version", KEY_NLU}
    if unknown:
        raise TrainingDataError(source, f"unknown top-level keys {sorted(unknown)}")
    blocks = doc.get(KEY_NLU)
    if not isinstance(blocks, list) or not blocks:
        raise TrainingDataError(source, "`nlu:` must be a non-empty list")
    data = TrainingData()
    for i, block in enumerate(blocks):
        where = f"{source} (nlu block {i + 1})"
        if not isinstance(block, dict):
            raise TrainingDataError(where, "each block must be a mapping")
        kinds = [k for k in _BLOCK_KEYS if k in block]
        if len(kinds) != 1:
            raise TrainingDataError(where, f"a block needs exactly one of {list(_BLOCK_KEYS)}, found {kinds}")
        unknown = set(block) - {kinds[0], KEY_EXAMPLES, KEY_METADATA}
        if unknown:
            raise TrainingDataError(where, f"unknown keys {sorted(unknown)}")
        kind, name = kinds[0], block[kinds[0]]
        if not isinstance(name, str) or not name.strip():
            raise TrainingDataError(where, f"`{kind}:` needs a name")
        where = f"{source} ({kind} {name!r})"
        lines = _example_lines(block, where)
        if kind == KEY_INTENT:
            data.examples.extend(parse_example(name, line, where) for line in lines)
        elif kind == KEY_SYNONYM:
            data.synonyms.setdefault(name, []).extend(lines)
        elif kind == KEY_REGEX:
            for pattern in lines:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise TrainingDataError(where, f"invalid regex {pattern!r}: {exc}") from None
            data.regexes.setdefault(name, []).extend(lines)
        else:
            data.lookups.setdefault(name, []).extend(lines)
    return data


def load(path: Path) -> TrainingData:
    return loads(path.read_text(encoding="utf-8"), str(path))


def load_dir(root: Path) -> TrainingData:
    """Every *.yml/*.yaml under root, in sorted order, merged."""
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yml", ".yaml"))
    if not files:
        raise TrainingDataError(root, "no training data files found")
    data = TrainingData()
    for f in files:
        data = data.merge(load(f))
    return data


def _literal_block(lines: Iterable[str]) -> str:
    return "".join(f"    - {line}\n" for line in lines)


def dumps(data: TrainingData) -> str:
    """Write data back as Rasa NLU YAML 3.1 (examples as literal blocks, as Rasa writes them)."""
    out = [f'version: "{VERSION}"\n', "nlu:\n"]
    for intent, examples in data.by_intent().items():
        out.append(f"- {KEY_INTENT}: {intent}\n  {KEY_EXAMPLES}: |\n")
        out.append(_literal_block(e.annotated() for e in examples))
    for kind, table in ((KEY_SYNONYM, data.synonyms), (KEY_REGEX, data.regexes), (KEY_LOOKUP, data.lookups)):
        for name, values in table.items():
            out.append(f"- {kind}: {_yaml_scalar(name)}\n  {KEY_EXAMPLES}: |\n")
            out.append(_literal_block(values))
    return "".join(out)


def _yaml_scalar(value: str) -> str:
    dumped = yaml.safe_dump(value, allow_unicode=True, default_flow_style=True).strip()
    return dumped.removesuffix("\n...").strip()


def dump(data: TrainingData, path: Path) -> None:
    path.write_text(dumps(data), encoding="utf-8")
