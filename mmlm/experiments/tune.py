"""`tune(config, workdir)`: hyperparameter search over the one trainer with Optuna.

Each trial sets its values on the config (`config.tuning.parameters`) and trains in its own
run directory `workdir/trials/NNNN` through `pretrain` or `finetune`: there is no other loop.
The study lives in `workdir/study.db` (SQLite): rerunning the same command continues it. The
finished trials are kept; a trial that was running when the process died is marked failed
and rerun with the same values in the same directory (so it resumes from its last backup),
at most `tuning.max_retries` times. One process tunes a study at a time (a lock file).

TensorBoard: `workdir/tensorboard` holds the HParams plugin's experiment, one session per
finished trial (its values and `tuning/<metric>`); each trial's own logs are in its run
directory.
"""

import contextlib
import fcntl
import json
import math
import os

import optuna

from mmlm.backend import keras
from mmlm.config import ConfigError, SearchAlgorithm, TaskKind, write_config
from mmlm.experiments import search_space
from mmlm.experiments.finetune import finetune
from mmlm.experiments.pretrain import pretrain
from mmlm.training import summaries
from mmlm.training.callbacks import NonFiniteLossError

STUDY_FILE = "study.db"
TRIALS_FILE = "trials.json"
_LOCK_FILE = "study.lock"
_FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


class ReportToTrial(keras.callbacks.Callback):
    """Reports `metric` to an Optuna trial at every evaluation; stops the run when pruned.

    The pruner is asked after every evaluation but the run's last (stopping then saves
    nothing, and the trial's value is complete).

    The last reported value is also written to `path`, so a trial resumed after its run had
    finished (nothing left to train) still has its value.

    Args:
        trial: the `optuna.Trial` (anything with `report` and `should_prune`).
        metric: the key of the evaluation logs (e.g. "val_loss").
        prune: ask the trial's pruner after each report.
        path: JSON file of the last (step, value).
    """

    def __init__(self, trial, metric, prune, path):
        super().__init__()
        self.trial = trial
        self.metric = metric
        self.prune = prune
        self.path = path
        self.pruned = False

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.metric not in logs:
            raise ConfigError(
                f"tuning.metric={self.metric!r} is not among the evaluation logs: {sorted(logs)}"
            )
        value = float(logs[self.metric])
        step = int(self.model.optimizer.iterations.numpy())
        self.trial.report(value, step)
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump({"step": step, "value": value}, f)
        last_epoch = epoch + 1 >= self.params.get("epochs", epoch + 1)
        if self.prune and not last_epoch and self.trial.should_prune():
            self.pruned = True
            self.model.stop_training = True

    def last(self):
        """(step, value) of the last evaluation of the trial's run, or None."""
        if not os.path.isfile(self.path):
            return None
        with open(self.path, encoding="utf-8") as f:
            report = json.load(f)
        return report["step"], report["value"]


def tune(config, workdir, init_from=None, log=print):
    """Runs (or continues) the search of `config.tuning` in `workdir`.

    Args:
        config: an `ExperimentConfig` with a `tuning` section; pretraining configs train
            with `pretrain`, task configs with `finetune` (from `init_from`, if given).
        workdir: the study directory (`study.db`, `trials/`, `tensorboard/`, `trials.json`).
        init_from: the pretraining run every trial of a task fine-tunes from.
        log: line printer.

    Returns:
        The trials table (also in `workdir/trials.json`): {"trials": [...], "best": {...}}.
    """
    search_space.check_search_space(config)
    if config.task.kind is TaskKind.PRETRAINING and init_from:
        raise ConfigError("--init-from is for tasks; a pretraining config trains from scratch")
    tuning = config.tuning
    os.makedirs(workdir, exist_ok=True)
    write_config(config, workdir)
    with _exclusive(workdir):
        study = _load_study(config, workdir)
        _retry_interrupted(study, tuning.max_retries, log)
        target = tuning.num_trials
        if tuning.algorithm is SearchAlgorithm.GRID:
            target = min(target, search_space.grid_size(tuning))
        remaining = target - len(study.get_trials(deepcopy=False, states=_FINISHED))
        log(f"study {os.path.join(workdir, STUDY_FILE)}: {remaining} of {target} trials to run")
        summaries.write_hparams_config(
            _log_dir(workdir), [p.key for p in tuning.parameters], [_metric_tag(tuning)]
        )
        if remaining > 0:
            study.optimize(
                lambda trial: _objective(trial, config, workdir, init_from, log),
                n_trials=remaining,
                catch=(NonFiniteLossError,),  # a diverging trial fails; the search goes on
            )
        table = trials_table(study, tuning)
    with open(os.path.join(workdir, TRIALS_FILE), "w", encoding="utf-8") as f:
        json.dump(table, f, indent=2)
    log(format_trials(table))
    return table


@contextlib.contextmanager
def _exclusive(workdir):
    """Holds the study's lock file (released by the OS if the process dies)."""
    path = os.path.join(workdir, _LOCK_FILE)
    with open(path, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another mmlm tune is running on {workdir} ({path})") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load_study(config, workdir):
    tuning = config.tuning
    storage = f"sqlite:///{os.path.abspath(os.path.join(workdir, STUDY_FILE))}"
    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=tuning.pruning_startup_trials,
        n_warmup_steps=_warmup_steps(config),
    )
    study = optuna.create_study(
        storage=storage,
        study_name=config.name,
        pruner=pruner if tuning.prune else optuna.pruners.NopPruner(),
        direction=tuning.direction.value,
        load_if_exists=True,
    )
    # A rerun seeded as the first run would draw the first run's values again: the seed moves
    # on by the trials the study holds (still reproducible from the same history).
    seed = tuning.seed + len(study.get_trials(deepcopy=False))
    if tuning.algorithm is SearchAlgorithm.GRID:
        study.sampler = optuna.samplers.GridSampler(search_space.grid(tuning), seed=seed)
    elif tuning.algorithm is SearchAlgorithm.RANDOM:
        study.sampler = optuna.samplers.RandomSampler(seed=seed)
    else:
        study.sampler = optuna.samplers.TPESampler(
            n_startup_trials=tuning.startup_trials, seed=seed
        )
    return study


def _warmup_steps(config):
    """MedianPruner's `n_warmup_steps`: reports at steps below it are never pruned, so the
    first `pruning_warmup_evaluations` evaluations (at multiples of `eval_every`) are exempt."""
    evaluations = config.tuning.pruning_warmup_evaluations
    return evaluations * config.trainer.eval_every + 1 if evaluations > 0 else 0


def _retry_interrupted(study, max_retries, log):
    """Marks the trials left running by a dead process failed; queues their reruns."""
    trials = study.get_trials(deepcopy=False)
    for trial in trials:
        if trial.state is not optuna.trial.TrialState.RUNNING:
            continue
        study._storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        origin = trial.user_attrs.get("retry_of", trial.number)
        retries = sum(t.user_attrs.get("retry_of") == origin for t in trials)
        if retries < max_retries:
            study.enqueue_trial(trial.params, user_attrs={"retry_of": origin})
            log(f"trial {trial.number} was interrupted: marked failed, rerun from its backup")
        else:
            log(f"trial {trial.number} was interrupted: marked failed (not rerun: {retries} of "
                f"tuning.max_retries={max_retries} reruns done)")  # fmt: skip


def _objective(trial, config, workdir, init_from, log):
    tuning = config.tuning
    values = search_space.suggest(trial, tuning)
    run_config = search_space.trial_config(config, values)
    origin = trial.user_attrs.get("retry_of", trial.number)
    run_dir = os.path.join(workdir, "trials", f"{origin:04d}")
    os.makedirs(run_dir, exist_ok=True)
    again = f" (rerun of trial {origin})" if origin != trial.number else ""
    log(f"trial {trial.number}{again}: {values} in {run_dir}")
    reporter = ReportToTrial(
        trial, tuning.metric, tuning.prune, os.path.join(run_dir, "tuning_metric.json")
    )
    keras.backend.clear_session()  # trials share the process: drop the last one's graph
    if config.task.kind is TaskKind.PRETRAINING:
        pretrain(run_config, run_dir, log=log, callbacks=[reporter])
    else:
        finetune(run_config, run_dir, init_from, log=log, callbacks=[reporter])
    last = reporter.last()
    if last is None:
        raise ConfigError(f"trial {trial.number} ended without an evaluation ({run_dir})")
    step, value = last
    trial.set_user_attr("steps", step)
    summaries.write_session(
        os.path.join(_log_dir(workdir), f"trial_{trial.number:04d}"),
        search_space.resolved_values(run_config, values),
        {_metric_tag(tuning): value},
        session_id=f"trial {trial.number}",
        step=step,
    )
    if reporter.pruned:
        raise optuna.TrialPruned(f"{tuning.metric}={value:.4g} at step {step}")
    return value


def _log_dir(workdir):
    return os.path.join(workdir, "tensorboard")


def _metric_tag(tuning):
    return f"tuning/{tuning.metric}"


def trials_table(study, tuning):
    """Every trial of `study` (number, state, values, metric, steps) and the best one."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        value = trial.value
        if value is None and trial.intermediate_values:  # pruned: its last report
            value = trial.intermediate_values[max(trial.intermediate_values)]
        rows.append(
            {
                "number": trial.number,
                "state": trial.state.name.lower(),
                "params": dict(trial.params),
                tuning.metric: value,
                "steps": trial.user_attrs.get("steps"),
                "retry_of": trial.user_attrs.get("retry_of"),
                "interrupted": bool(trial.user_attrs.get("interrupted")),
            }
        )
    complete = [t for t in study.get_trials(deepcopy=False, states=_FINISHED[:1])]
    best = None
    if complete:
        best_trial = study.best_trial
        best = {"number": best_trial.number, "params": best_trial.params, "value": best_trial.value}
    return {"metric": tuning.metric, "direction": tuning.direction.value, "trials": rows,
            "best": best}  # fmt: skip


def format_trials(table):
    """The trials table as Markdown (what docs/tasks.md shows)."""
    keys = sorted({k for row in table["trials"] for k in row["params"]})
    metric = table["metric"]
    lines = [
        "| trial | state | " + " | ".join(keys) + f" | {metric} | steps |",
        "|---|---|" + "---|" * len(keys) + "---|---|",
    ]
    for row in table["trials"]:
        cells = [_cell(row["params"].get(k)) for k in keys]
        state = row["state"] + (" (interrupted)" if row["interrupted"] else "")
        if row["retry_of"] is not None:
            state += f" (rerun of {row['retry_of']})"
        lines.append(
            f"| {row['number']} | {state} | " + " | ".join(cells)
            + f" | {_cell(row[metric])} | {_cell(row['steps'])} |"
        )  # fmt: skip
    if table["best"]:
        lines.append(
            f"\nbest: trial {table['best']['number']}, {metric}={table['best']['value']:.4g}"
        )
    return "\n".join(lines)


def _cell(value):
    if value is None:
        return "–"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)
