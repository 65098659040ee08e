"""The start-up stamp (bot/model_stamp.py): it says "fresh" only while every input is as it was
when the exact check or a training run last said so, and the exact check renews it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from bot.config import Settings
from bot.model_stamp import STAMP_FILE, input_state, inputs_stamp, stamp_matches, write_stamp
from bot.train import MANIFEST_FILE, is_fresh


def _inputs(tmp_path: Path) -> Settings:
    """Stand-in inputs and a manifest: the stamp reads file names, sizes and times, not content."""
    for name in ("nlu_data/a.yml", "nlu_data/safety/b.safety", "knowledge/articles/c.md", "knowledge/local/kbh/d.md",
                 "knowledge/topics.yaml", "knowledge/tenants.yaml"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name, encoding="utf-8")
    model = tmp_path / "model"
    model.mkdir()
    (model / MANIFEST_FILE).write_text(json.dumps({"format": {"version": "v"}, "data_hash": "h",
                                                   "embedder_spec": "e"}), encoding="utf-8")
    return Settings(nlu_data_dir=tmp_path / "nlu_data", articles_dir=tmp_path / "knowledge/articles",
                    topics_file=tmp_path / "knowledge/topics.yaml", tenants_file=tmp_path / "knowledge/tenants.yaml",
                    model_dir=model, database_url=f"sqlite:///{tmp_path / 'none.sqlite3'}")


def test_stamp_matches_only_after_it_was_written(tmp_path: Path) -> None:
    settings = _inputs(tmp_path)
    assert not stamp_matches(settings)
    write_stamp(settings, inputs_stamp(settings))
    assert stamp_matches(settings)
    assert not list(settings.model_dir.glob(".*tmp"))  # written aside and renamed


@pytest.mark.parametrize("change", ["edit", "touch", "add", "remove", "local", "manifest", "embedder"])
def test_any_change_of_the_inputs_or_model_sends_the_start_to_the_exact_check(tmp_path: Path, change: str) -> None:
    settings = _inputs(tmp_path)
    write_stamp(settings, inputs_stamp(settings))
    a = settings.nlu_data_dir / "a.yml"
    if change == "edit":
        a.write_text("nlu_data/a.yml and one more line", encoding="utf-8")
    elif change == "touch":  # same size and content, another time: a checkout
        st = a.stat()
        os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    elif change == "add":
        (settings.nlu_data_dir / "new.yml").write_text("x", encoding="utf-8")
    elif change == "remove":
        (settings.articles_dir / "c.md").unlink()
    elif change == "local":
        (tmp_path / "knowledge/local/kbh/d.md").write_text("changed", encoding="utf-8")
    elif change == "manifest":  # another model put in place
        m = settings.model_dir / MANIFEST_FILE
        m.write_text(m.read_text(encoding="utf-8").replace('"h"', '"other"'), encoding="utf-8")
    else:
        settings = settings.model_copy(update={"embedder": "lexical"})
    assert not stamp_matches(settings)


def test_a_state_taken_before_an_edit_never_vouches_for_the_edit(tmp_path: Path) -> None:
    settings = _inputs(tmp_path)
    state = input_state(settings)  # as training does before reading the inputs
    (settings.nlu_data_dir / "a.yml").write_text("edited while training", encoding="utf-8")
    write_stamp(settings, inputs_stamp(settings, state))
    assert not stamp_matches(settings)


def test_the_exact_check_renews_the_stamp_and_refuses_a_stale_model(understanding, settings, tmp_path) -> None:
    # `understanding` trains the real model if needed; a copy of its manifest stands for it.
    model = tmp_path / "model"
    model.mkdir()
    shutil.copy(settings.model_dir / MANIFEST_FILE, model / MANIFEST_FILE)
    mine = settings.model_copy(update={"model_dir": model})
    assert not (model / STAMP_FILE).exists()
    assert is_fresh(mine)  # the exact check
    assert stamp_matches(mine)  # ... wrote the stamp
    m = json.loads((model / MANIFEST_FILE).read_text(encoding="utf-8"))
    (model / MANIFEST_FILE).write_text(json.dumps({**m, "data_hash": "0" * 16}), encoding="utf-8")
    assert not stamp_matches(mine)
    assert not is_fresh(mine)
