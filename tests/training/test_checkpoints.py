"""Damaged backups: a corrupted or truncated newest checkpoint falls back to the previous one
with a warning naming its files; a full disk while backing up fails clearly, earlier intact."""

import glob
import os

import pytest

from mmlm import atomic_files
from mmlm.backend import keras, tf
from mmlm.testing import faults
from mmlm.training import checkpoints, restored_step
from tests.training import toy
from tests.training.test_trainer import _CrashAt, iterations, run_toy

TRAINER = toy.trainer_config(steps=8, eval_every=8, checkpoint_every=2)


def _crashed_run(workdir, at=7):
    """A run interrupted after step `at` (backups every 2 steps); returns the backup dir."""
    with pytest.raises(KeyboardInterrupt):
        run_toy(workdir, TRAINER, callbacks=[_CrashAt(at)])
    return os.path.join(workdir, "backup", "chief")


class _FillDiskAt(keras.callbacks.Callback):
    """Fills the filesystem of `folder` once global step `step` is done."""

    def __init__(self, step, folder):
        super().__init__()
        self.step, self.folder, self.filler = step, folder, None

    def on_train_batch_end(self, batch, logs=None):
        if self.filler is None and iterations(self.model) >= self.step:
            self.filler = faults.fill(self.folder)


def _data_file(prefix):
    (path,) = glob.glob(prefix + ".data-*")
    return path


def _flip_a_byte(path):
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))


def _truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def test_two_backups_are_kept(tmp_path):
    chief = _crashed_run(str(tmp_path))
    state = tf.train.get_checkpoint_state(chief)
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["ckpt-2", "ckpt-3"]
    assert restored_step(os.path.dirname(chief)) == 6


@pytest.mark.parametrize("damage", ["flipped byte in data", "truncated data", "truncated index"])
def test_damaged_newest_backup_resumes_from_the_previous_one(tmp_path, damage):
    workdir = str(tmp_path)
    chief = _crashed_run(workdir)
    newest = os.path.join(chief, "ckpt-3")
    if damage == "flipped byte in data":
        _flip_a_byte(_data_file(newest))
    elif damage == "truncated data":
        _truncate(_data_file(newest))
    else:
        _truncate(newest + ".index")

    task, _, lines = run_toy(workdir, TRAINER)
    warning = next(line for line in lines if line.startswith("warning:"))
    assert f"checkpoint {newest} cannot be read back" in warning
    assert f"{newest}.index.corrupt" in warning
    assert f"resumes from the previous checkpoint {os.path.join(chief, 'ckpt-2')}" in warning
    assert any("Resuming from step 4 of 8" in line for line in lines), lines
    assert iterations(task) == 8
    assert restored_step(os.path.dirname(chief)) == 8
    assert os.path.isfile(newest + ".index.corrupt")  # kept for inspection, never read again


def test_a_run_in_a_relative_directory_resumes(tmp_path, monkeypatch):
    # `mmlm compress --workdir runs/scenes`: the backups' state file names them relative to
    # a relative directory, which recovery once joined twice ("no checkpoint reads back").
    monkeypatch.chdir(tmp_path)
    chief = _crashed_run("run")
    assert checkpoints.recover_backups(chief) == os.path.join("run", "backup", "chief", "ckpt-3")
    task, _, lines = run_toy("run", TRAINER)
    assert any("Resuming from step 6 of 8" in line for line in lines), lines
    assert iterations(task) == 8


def test_no_readable_backup_is_an_error_naming_each(tmp_path):
    workdir = str(tmp_path)
    chief = _crashed_run(workdir)
    for prefix in ("ckpt-2", "ckpt-3"):
        _truncate(os.path.join(chief, prefix + ".index"))
    with pytest.raises(checkpoints.CorruptBackupError, match=r"ckpt-3: .*; .*ckpt-2: .*Move"):
        run_toy(workdir, TRAINER)


def test_full_disk_while_backing_up_fails_clearly_and_keeps_the_earlier_backups(
    tmp_path, monkeypatch
):
    with faults.small_filesystem(4 * 1024 * 1024) as mount:
        if mount is None:
            pytest.fail("this test needs a small tmpfs (root); the atomic writer tests inject")
        workdir = os.path.join(mount, "run")
        chief = _crashed_run(workdir, at=3)  # a backup at step 2
        fill = _FillDiskAt(5, mount)  # full before the backup of step 6
        with pytest.raises(atomic_files.DiskFullError) as raised:
            run_toy(workdir, TRAINER, callbacks=[fill])
        message = str(raised.value)
        assert "disk full" in message and workdir in message, message
        assert "No space left on device" in message or "ResourceExhaustedError" in message
        assert restored_step(os.path.dirname(chief)) == 4
        checkpoints.verify_checkpoint(tf.train.latest_checkpoint(chief))
        os.remove(fill.filler)
        task, _, lines = run_toy(workdir, TRAINER)
        assert any("Resuming from step 4 of 8" in line for line in lines), lines
        assert iterations(task) == 8
