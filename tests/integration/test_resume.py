"""`mmlm pretrain` killed with SIGKILL mid-run resumes from its last backup when rerun."""

import os
import re
import signal
import time

import pytest

from mmlm.backend import tf
from mmlm.testing import processes
from mmlm.testing.data import prepared_smoke_scenes
from mmlm.training import restored_step

STEPS = 12
TIMEOUT = 600


def _backup_step(backup_dir):
    """The step of the last backup, None without one (or while one is being replaced)."""
    try:
        return restored_step(backup_dir)
    except (tf.errors.NotFoundError, tf.errors.DataLossError, ValueError):
        return None  # read between the manager's new checkpoint and its deleting the old one


def _train_steps(workdir, pid):
    """Steps of the per-step `batch_loss` that process `pid` wrote to TensorBoard."""
    steps = []
    for path in processes.event_files(os.path.join(workdir, "tensorboard", "train"), pid):
        for event in tf.compat.v1.train.summary_iterator(path):
            steps += [event.step for value in event.summary.value if value.tag == "batch_loss"]
    return sorted(steps)


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_and_finishes(tmp_path):
    config, _, _ = prepared_smoke_scenes()
    workdir = str(tmp_path / "run")
    backup = os.path.join(workdir, "backup")
    command = processes.mmlm_command(
        "pretrain",
        "--config",
        processes.SMOKE_CONFIG,
        "--set",
        f"data.data_dir={config.data.data_dir}",
        "--set",
        f"trainer.steps={STEPS}",
        "--set",
        "trainer.checkpoint_every=2",
        "--set",
        "trainer.eval_every=6",
        "--workdir",
        workdir,
    )

    errors = tmp_path / "first.err"
    with open(os.devnull, "w") as devnull, open(errors, "w") as stderr:
        first = processes.start(command, stdout=devnull, stderr=stderr)
    deadline = time.monotonic() + TIMEOUT
    try:
        while (_backup_step(backup) or 0) < 4:
            if first.poll() is not None:
                raise AssertionError(
                    f"the first run exited ({first.returncode}) before a backup at step 4:\n"
                    + errors.read_text()[-4000:]
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no backup at step >= 4 after {TIMEOUT} s")
            time.sleep(0.2)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL
    killed_at = restored_step(backup)
    # Steps take seconds: the kill lands long before the last step (and its final backup).
    assert 4 <= killed_at < STEPS, killed_at
    print(f"killed with the last backup at step {killed_at}")

    rerun = processes.start(command)
    stdout = processes.finish(rerun, TIMEOUT, "the rerun")
    resumed = re.search(rf"Resuming from step (\d+) of {STEPS}", stdout)
    assert resumed, stdout[-3000:]
    assert int(resumed.group(1)) == killed_at
    assert restored_step(backup) == STEPS  # the final backup: the run is finished
    # The rerun trained exactly the steps after the backup: none repeated, none skipped.
    assert _train_steps(workdir, rerun.pid) == list(range(killed_at + 1, STEPS + 1))
    assert os.path.isfile(os.path.join(workdir, "model", "backbone.keras"))
