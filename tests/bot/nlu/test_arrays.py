"""bot.nlu.arrays: the served models' .npz, aligned for mapping, read back exactly, still readable
by numpy and from files numpy wrote, and safe to replace under a server that maps the old one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.nlu.arrays import load_arrays, save_arrays

pytestmark = pytest.mark.unit


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {
        "coef": rng.standard_normal((5000, 7)).astype(np.float32),  # mapped: larger than a page or two
        "intercept": rng.standard_normal(7),
        "hashes": rng.integers(0, 2**63, 20000, dtype=np.int64).astype(np.uint64),
        "empty": np.zeros((0, 3), np.float32),
        "scalar": np.array(2.5),
    }


def test_arrays_round_trip_mapped_and_readable_by_numpy(tmp_path: Path) -> None:
    arrays = _arrays()
    save_arrays(tmp_path / "m.npz", arrays)
    back = load_arrays(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        plain = {k: z[k] for k in z.files}
    for name, value in arrays.items():
        assert back[name].dtype == value.dtype and back[name].shape == value.shape
        assert np.array_equal(back[name], value) and np.array_equal(plain[name], value)
    for name in ("coef", "hashes"):
        assert not back[name].flags.writeable and back[name].ctypes.data % 64 == 0
        assert isinstance(back[name].base, np.memmap)


def test_arrays_read_files_numpy_wrote(tmp_path: Path) -> None:
    arrays = _arrays()
    np.savez(tmp_path / "old.npz", **arrays)
    np.savez_compressed(tmp_path / "zipped.npz", **arrays)
    for path in (tmp_path / "old.npz", tmp_path / "zipped.npz"):
        back = load_arrays(path)
        assert all(np.array_equal(back[k], v) and back[k].dtype == v.dtype for k, v in arrays.items())


def test_arrays_saving_again_leaves_a_mapped_model_intact(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    first = _arrays()
    save_arrays(path, first)
    served = load_arrays(path)
    save_arrays(path, {k: v * 0 for k, v in first.items()})  # a new model replaces the file
    assert np.array_equal(served["coef"], first["coef"])  # the old mapping still reads the old model
    assert not load_arrays(path)["coef"].any()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]  # no temporary file left behind
