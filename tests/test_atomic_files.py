"""Atomic outputs: a kill at every write point leaves the old output or the new, never a mix;
a full disk raises `DiskFullError` naming the path and leaves the old output intact."""

import json
import os
import subprocess
import sys
import time

import pytest

from mmlm import atomic_files
from mmlm.testing import faults

# The writer runs in a fresh process that loads atomic_files.py alone (no TensorFlow): fast.
_WRITER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("atomic_files", {module!r})
atomic = importlib.util.module_from_spec(spec)
spec.loader.exec_module(atomic)
kind, path, text = sys.argv[1:4]
if kind == "file":
    atomic.write_text(path, text)
else:
    with atomic.replaced_directory(path) as partial:
        for name in ("a.txt", "b/c.txt"):
            atomic.write_text(f"{{partial}}/{{name}}", text + name)
"""


def _write_in_process(kind, path, text, kill_at=None):
    env = dict(os.environ)
    env.pop(atomic_files.KILL_AT, None)
    if kill_at:
        env[atomic_files.KILL_AT] = kill_at
    code = _WRITER.format(module=atomic_files.__file__)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return subprocess.run(
        [sys.executable, "-c", code, kind, path, text], env=env, capture_output=True, text=True
    )


def _leftovers(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


@pytest.mark.parametrize("point", ["write:out.txt", "replace:out.txt"])
def test_killed_file_write_keeps_the_old_file_and_a_rerun_finishes(tmp_path, point):
    path = str(tmp_path / "out.txt")
    assert _write_in_process("file", path, "old").returncode == 0
    result = _write_in_process("file", path, "new" * 1000, kill_at=point)
    assert result.returncode == -9, result.stderr
    assert _read(path) == "old"  # never a half-written file under the final name
    assert len(_leftovers(tmp_path)) == 1  # the dead writer's partial sibling
    assert _write_in_process("file", path, "new").returncode == 0
    assert _read(path) == "new"
    assert _leftovers(tmp_path) == []  # the rerun removed it


@pytest.mark.parametrize("point", ["write:c.txt", "directory_filled:out", "directory_aside:out"])
def test_killed_directory_write_keeps_the_old_directory_and_a_rerun_finishes(tmp_path, point):
    path = str(tmp_path / "out")
    assert _write_in_process("dir", path, "old").returncode == 0
    result = _write_in_process("dir", path, "new", kill_at=point)
    assert result.returncode == -9, result.stderr
    if point == "directory_aside:out":
        assert not os.path.exists(path)  # killed between the two renames: moved aside
    else:
        assert _read(os.path.join(path, "b", "c.txt")) == "oldb/c.txt"
        atomic_files.check_complete(path)
    assert _write_in_process("dir", path, "new").returncode == 0
    assert _read(os.path.join(path, "b", "c.txt")) == "newb/c.txt"
    atomic_files.check_complete(path)
    assert _leftovers(tmp_path) == []


def test_a_moved_aside_directory_is_put_back_by_the_next_writer(tmp_path):
    path = str(tmp_path / "out")
    assert _write_in_process("dir", path, "old").returncode == 0
    assert _write_in_process("dir", path, "new", kill_at="directory_aside:out").returncode == -9
    atomic_files.remove_stale_partials(path)
    assert _read(os.path.join(path, "a.txt")) == "olda.txt"
    atomic_files.check_complete(path)


def test_error_inside_a_directory_write_leaves_nothing(tmp_path):
    path = str(tmp_path / "out")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_files.replaced_directory(path) as partial:
            atomic_files.write_text(os.path.join(partial, "a.txt"), "x")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_check_complete_names_missing_and_truncated_files(tmp_path):
    path = str(tmp_path / "out")
    with atomic_files.replaced_directory(path) as partial:
        atomic_files.write_text(os.path.join(partial, "a.txt"), "abcdef")
        atomic_files.write_text(os.path.join(partial, "b.txt"), "abc")
    manifest = json.loads(_read(os.path.join(path, atomic_files.COMPLETE_MANIFEST)))
    assert manifest == {"files": {"a.txt": 6, "b.txt": 3}}
    with open(os.path.join(path, "a.txt"), "w") as f:
        f.write("abc")  # truncated
    os.remove(os.path.join(path, "b.txt"))
    with pytest.raises(atomic_files.IncompleteOutputError, match=r"a.txt \(3 bytes, expected 6\)"):
        atomic_files.check_complete(path)
    os.remove(os.path.join(path, atomic_files.COMPLETE_MANIFEST))
    with pytest.raises(atomic_files.IncompleteOutputError, match="not a finished output"):
        atomic_files.check_complete(path)


def test_kill_point_counts_and_ignores_other_points(monkeypatch):
    kills = []
    monkeypatch.setattr(atomic_files.os, "kill", lambda pid, sig: kills.append((pid, sig)))
    monkeypatch.setattr(atomic_files, "_kill_counts", {})
    monkeypatch.setenv(atomic_files.KILL_AT, "here@2")
    atomic_files.kill_point("elsewhere")
    atomic_files.kill_point("here")
    assert kills == []
    atomic_files.kill_point("here")
    assert kills == [(os.getpid(), 9)]


def test_a_delayed_kill_point_kills_later_from_a_timer(monkeypatch):
    kills = []
    monkeypatch.setattr(atomic_files.os, "kill", lambda pid, sig: kills.append((pid, sig)))
    monkeypatch.setattr(atomic_files, "_kill_counts", {})
    monkeypatch.setenv(atomic_files.KILL_AT, "backup")
    monkeypatch.setenv(atomic_files.KILL_DELAY, "0.2")
    started = time.monotonic()
    atomic_files.kill_point("backup")
    assert kills == []  # this thread goes on (into the code the kill is meant to land in)
    while not kills and time.monotonic() - started < 10:
        time.sleep(0.01)
    assert kills == [(os.getpid(), 9)]
    assert time.monotonic() - started >= 0.2


def test_full_disk_raises_naming_the_path_and_keeps_the_old_output(tmp_path, monkeypatch):
    with faults.small_filesystem(256 * 1024) as mount:
        if mount is None:
            print("no tmpfs can be mounted here: ENOSPC injected at the write layer instead")
            folder = str(tmp_path)
            faults.inject_disk_full(monkeypatch)
        else:
            folder = mount
        path = os.path.join(folder, "out.bin")
        directory = os.path.join(folder, "outdir")
        if mount is None:
            with open(path, "wb") as f:
                f.write(b"old")
            os.makedirs(directory)
        else:
            atomic_files.write_bytes(path, b"old")
            with atomic_files.replaced_directory(directory) as partial:
                atomic_files.write_bytes(os.path.join(partial, "x"), b"old")
        with pytest.raises(atomic_files.DiskFullError) as raised:
            atomic_files.write_bytes(path, b"n" * 1024 * 1024)
        message = str(raised.value)
        assert path in message and "disk full" in message and "intact" in message
        with pytest.raises(atomic_files.DiskFullError, match="outdir"):
            with atomic_files.replaced_directory(directory) as partial:
                atomic_files.write_bytes(os.path.join(partial, "x"), b"n" * 1024 * 1024)
        assert _read(path) == "old"
        assert sorted(os.listdir(folder)) == ["out.bin", "outdir"]  # no partial left


def test_tensorflow_disk_full_error_is_recognised():
    class ResourceExhaustedError(Exception):  # what TF's writers raise for ENOSPC
        pass

    with pytest.raises(atomic_files.DiskFullError, match="model_dir"):
        with atomic_files.disk_full_errors("/x/model_dir"):
            raise ResourceExhaustedError()
    with pytest.raises(ValueError):
        with atomic_files.disk_full_errors("/x/model_dir"):
            raise ValueError("other errors pass through")
