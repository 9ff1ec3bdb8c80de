"""`mmlm tune` killed (SIGKILL) in the middle of a trial and rerun: the finished trials are
kept as they were, the interrupted one is marked failed and rerun from its backup."""

import os
import signal
import time

import optuna
import pytest

from mmlm.testing import processes
from mmlm.testing.data import prepared_tiny_idx
from tests.experiments.test_tune import CONFIG, SMALL


def _arguments(workdir):
    data_config, _ = prepared_tiny_idx()
    overrides = [
        f"data.data_dir={data_config.data.data_dir}",
        f"data.idx.directory={data_config.data.idx.directory}",
        f"data.idx.validation_size={data_config.data.idx.validation_size}",
        *SMALL,
        # The kill comes after the first backup (step 2), well before the end (step 12).
        "trainer.steps=12",
        "trainer.eval_every=6",
        "trainer.checkpoint_every=2",
        "tuning.num_trials=2",
        "tuning.prune=false",
    ]
    args = ["tune", "--config", CONFIG + ":smoke", "--workdir", workdir]
    for override in overrides:
        args += ["--set", override]
    return processes.mmlm_command(*args)


def _trials(workdir):
    storage = f"sqlite:///{workdir}/study.db"
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage).trials


@pytest.mark.slow
def test_tune_killed_during_a_trial_resumes(tmp_path):
    workdir = str(tmp_path / "study")
    command = _arguments(workdir)
    # Files, not pipes: nothing reads this process's output until it is killed.
    with open(tmp_path / "first.out", "w") as out, open(tmp_path / "first.err", "w") as err:
        process = processes.start(command, stdout=out, stderr=err)
    backup = os.path.join(workdir, "trials", "0001", "backup", "chief")
    deadline = time.monotonic() + 1800
    # Kill once trial 1 has backed up a step (trial 0 is finished by then).
    while not (os.path.isdir(backup) and any(n.endswith(".index") for n in os.listdir(backup))):
        assert process.poll() is None, (tmp_path / "first.out").read_text()[-3000:]
        assert time.monotonic() < deadline, "trial 1 never backed up"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = _trials(workdir)
    assert [t.state.name for t in before] == ["COMPLETE", "RUNNING"]

    output = processes.run(command, timeout=1800, what="the rerun of mmlm tune")

    after = _trials(workdir)
    assert [t.state.name for t in after] == ["COMPLETE", "FAIL", "COMPLETE"]
    # Trial 0 is untouched; trial 1 failed, rerun as trial 2 with its values in its directory.
    assert (after[0].value, after[0].params, after[0].datetime_complete) == (
        before[0].value,
        before[0].params,
        before[0].datetime_complete,
    )
    assert after[1].user_attrs["interrupted"] and after[1].params == before[1].params
    assert after[2].user_attrs["retry_of"] == 1 and after[2].params == before[1].params
    assert "trial 1 was interrupted: marked failed, rerun from its backup" in output
    assert "Resuming from step" in output and "trials/0001" in output
    assert sorted(os.listdir(os.path.join(workdir, "trials"))) == ["0000", "0001"]
