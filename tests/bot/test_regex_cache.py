"""Compiled patterns kept on disk (bot/regex_cache.py): what is read back is the pattern
`re.compile` gives, whether the file is new, reused, stale, damaged or cannot be written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import regex_cache
from bot.regex_cache import SUFFIX, compile_all

pytestmark = pytest.mark.unit

PATTERNS = [
    r"\bbrænder\b(?! (?:mig|sig) selv\b)|\bflammer(?:ne)?\b",
    r"(?P<v>\d{2}\s?\d{2})-(?P=v)",  # named group and a backreference
    r"(?i)\bhjælp\b",  # flags inside the pattern
    r"[a-zæøå]{2,}(?=[\s\S]*\bnu\b)",
    "(unclosed",  # refused by re.compile
    "",
]


def _same(got: list[re.Pattern[str] | None], patterns: list[str], flags: int = 0) -> None:
    assert len(got) == len(patterns)
    for pattern, p in zip(patterns, got, strict=True):
        try:
            want = re.compile(pattern, flags)
        except re.error:
            assert p is None, pattern
            continue
        assert p is not None and p == want, pattern  # equal: the same text, flags and engine code
        assert (p.groups, dict(p.groupindex), p.flags) == (want.groups, dict(want.groupindex), want.flags)


def _files(cache: Path) -> list[Path]:
    return sorted(cache.glob(f"*{SUFFIX}"))


def test_compiled_once_then_read_back(tmp_path: Path) -> None:
    first = compile_all(PATTERNS, tmp_path, "t")
    assert len(_files(tmp_path)) == 1
    _same(first, PATTERNS)
    again = compile_all(PATTERNS, tmp_path, "t")
    _same(again, PATTERNS)
    text = "det brænder 12 34-12 34 HJÆLP flammerne nu"
    assert [p and [m.group(0) for m in p.finditer(text)] for p in again] == [
        p and [m.group(0) for m in p.finditer(text)] for p in first
    ]


def test_flags_and_other_sets_get_their_own_file(tmp_path: Path) -> None:
    _same(compile_all(PATTERNS, tmp_path, "t", flags=re.IGNORECASE), PATTERNS, re.IGNORECASE)
    _same(compile_all(PATTERNS[:2], tmp_path, "u"), PATTERNS[:2])
    assert len(_files(tmp_path)) == 2


def test_a_changed_set_replaces_its_old_file(tmp_path: Path) -> None:
    compile_all(PATTERNS, tmp_path, "t")
    old = _files(tmp_path)
    changed = [*PATTERNS[:-1], r"\bkniv\b"]
    _same(compile_all(changed, tmp_path, "t"), changed)
    assert len(_files(tmp_path)) == 1 and _files(tmp_path) != old


@pytest.mark.parametrize("damage", [b"", b"not marshal", None])
def test_a_damaged_or_foreign_file_is_compiled_again(tmp_path: Path, damage: bytes | None) -> None:
    compile_all(PATTERNS, tmp_path, "t")
    (path,) = _files(tmp_path)
    if damage is None:  # well-formed, but code the engine refuses
        import marshal

        key, entries = marshal.loads(path.read_bytes())
        entries[0] = (entries[0][0], entries[0][1], [999, 1, 2], *entries[0][3:])
        path.write_bytes(marshal.dumps((key, entries)))
    else:
        path.write_bytes(damage)
    _same(compile_all(PATTERNS, tmp_path, "t"), PATTERNS)


def test_a_file_of_other_patterns_under_the_same_name_is_not_used(tmp_path: Path) -> None:
    compile_all(PATTERNS, tmp_path, "t")
    (path,) = _files(tmp_path)
    other = [r"\bx\b"] * len(PATTERNS)
    compile_all(other, tmp_path / "o", "t")
    (other_path,) = _files(tmp_path / "o")
    path.write_bytes(other_path.read_bytes())  # right name, another set's key inside
    _same(compile_all(PATTERNS, tmp_path, "t"), PATTERNS)


def test_without_a_writable_cache_it_compiles_every_time(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    _same(compile_all(PATTERNS, blocked / "cache", "t"), PATTERNS)
    _same(compile_all(PATTERNS, None, "t"), PATTERNS)


def test_the_interpreter_is_part_of_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    key = regex_cache._key(PATTERNS, 0)
    monkeypatch.setattr(regex_cache, "_ENGINE", regex_cache._ENGINE + " other")
    assert regex_cache._key(PATTERNS, 0) != key


def test_the_safety_lexicon_is_what_re_compile_gives() -> None:
    from bot.safety import default_lexicon

    lex = default_lexicon()
    lists = [*lex.patterns.values(), lex.not_now, lex.now, lex.figurative, lex.safe]
    patterns = [p for ps in lists for p in ps]
    _same(list(patterns), [p.pattern for p in patterns])
    gates = [lex._not_now_any, lex._now_any, lex._figurative_any, *lex._gates.values()]
    joined = [ps for ps in [lex.not_now, lex.now, lex.figurative, *lex.patterns.values()]]
    assert [g.pattern if g else None for g in gates] == ["|".join(f"(?:{p.pattern})" for p in ps) for ps in joined]
    _same(gates, [g.pattern for g in gates if g])
