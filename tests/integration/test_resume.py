"""`mmlm pretrain` killed with SIGKILL mid-run resumes from its last backup when rerun."""

import glob
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


def _command(workdir):
    """`mmlm pretrain` of the smoke config, STEPS steps, a backup every 2 steps."""
    config, _, _ = prepared_smoke_scenes()
    sets = [f"data.data_dir={config.data.data_dir}", f"trainer.steps={STEPS}",
            "trainer.checkpoint_every=2", "trainer.eval_every=6"]  # fmt: skip
    args = ["--config", processes.SMOKE_CONFIG, "--workdir", workdir]
    for value in sets:
        args += ["--set", value]
    return processes.mmlm_command("pretrain", *args)


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_and_finishes(tmp_path):
    workdir = str(tmp_path / "run")
    backup = os.path.join(workdir, "backup")
    command = _command(workdir)

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


ATTEMPTS = 8


def _kill_during_second_backup(workdir, delay):
    """Runs the smoke pretraining, SIGKILLed `delay` s after its second backup begins; says
    where the kill landed: "before" TF's checkpoint writer started, "inside" it (its
    `ckpt-N_temp` folder is left: TF writes the shards there and renames them when done), or
    "after" (the second checkpoint is complete; later backups may have deleted it since)."""
    env = processes.environment(MMLM_KILL_AT="backup@2", MMLM_KILL_DELAY=f"{delay:.4f}")
    killed = processes.start(_command(workdir), env=env)
    _, stderr = killed.communicate(timeout=TIMEOUT)
    assert killed.returncode == -signal.SIGKILL, stderr[-3000:]
    chief = os.path.join(workdir, "backup", "chief")
    if glob.glob(os.path.join(chief, "*_temp*")):
        return "inside"
    numbers = [int(re.search(r"ckpt-(\d+)\.index$", path).group(1))
               for path in glob.glob(os.path.join(chief, "ckpt-*.index"))]  # fmt: skip
    return "after" if max(numbers, default=0) >= 2 else "before"


@pytest.mark.slow
def test_sigkill_inside_the_checkpoint_writer_then_rerun_finishes(tmp_path):
    # The delay that lands inside the writer is found by bisection between a kill that came
    # before it and one that came after (the writer takes a few tens of ms of a ~0.3 s backup).
    low, high, tried = 0.0, None, []
    for attempt in range(ATTEMPTS):
        delay = low * 2 + 0.15 if high is None else (low + high) / 2
        workdir = str(tmp_path / f"run_{attempt}")
        landed = _kill_during_second_backup(workdir, delay)
        tried.append((round(delay, 4), landed))
        if landed == "inside":
            break
        low, high = (delay, high) if landed == "before" else (low, delay)
    else:
        raise AssertionError(f"no kill landed inside the checkpoint writer: {tried}")
    print(f"kills (delay s, where): {tried}")
    # The backup before it (step 2) is the newest complete one; the rerun resumes from it and
    # trains exactly the remaining steps (the half-written checkpoint is never read).
    backup = os.path.join(workdir, "backup")
    rerun = processes.start(_command(workdir))
    stdout = processes.finish(rerun, TIMEOUT, "the rerun")
    assert re.search(rf"Resuming from step 2 of {STEPS}", stdout), stdout[-3000:]
    assert restored_step(backup) == STEPS
    assert _train_steps(workdir, rerun.pid) == list(range(3, STEPS + 1))
    assert os.path.isfile(os.path.join(workdir, "model", "backbone.keras"))
