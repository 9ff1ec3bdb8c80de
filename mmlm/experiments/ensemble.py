"""Ensembles: bagged members trained by the one trainer, evaluated and exported together.

    members = train_ensemble(config, workdir, num_members=3)     # workdir/members/K
    metrics = evaluate_ensemble(config, workdir, num_members=3)  # each member vs the ensemble
    export_ensemble_model(config, workdir, 3, out)               # one SavedModel

Member K trains the config with `trainer.seed + K` and, with bagging, on the bootstrap
resample `data.bootstrap_seed = K` of the training split (`mmlm.data.bootstrap`): a
pretraining config makes an embedding ensemble (retrieval), a classification config a
classifier ensemble (mean logits, and a logistic-regression stacker fitted on the validation
split, which no member trained on).
"""

import dataclasses
import os

import numpy as np

from mmlm.config import ConfigError, TaskKind
from mmlm.evaluation import ensemble as combine
from mmlm.evaluation.classification import classification_report
from mmlm.evaluation.evaluator import EmbeddingCollector
from mmlm.evaluation.retrieval import retrieval_report
from mmlm.experiments.artifacts import load_backbone, write_json
from mmlm.experiments.data import ExperimentData
from mmlm.experiments.export import serving_module
from mmlm.experiments.finetune import classify, finetune, load_task
from mmlm.experiments.pretrain import pretrain
from mmlm.serving.ensemble import EnsembleModule, export_ensemble


def member_dir(workdir, index):
    return os.path.join(workdir, "members", f"{index}")


def member_config(config, index, bagging=True):
    """The config member `index` trains: its own seed and, with bagging, its own resample."""
    data = config.data
    if bagging:
        data = dataclasses.replace(data, bootstrap_seed=index)
    trainer = dataclasses.replace(config.trainer, seed=config.trainer.seed + index)
    return dataclasses.replace(config, data=data, trainer=trainer)


def _check(config, num_members):
    if num_members < 2:
        raise ConfigError(f"an ensemble needs at least 2 members, got {num_members}")
    if config.task.kind is TaskKind.GENERATION:
        raise ConfigError(
            "ensembles combine embeddings (pretraining configs) or class logits "
            "(classification configs); generation tasks are not supported"
        )


def train_ensemble(config, workdir, num_members, init_from=None, bagging=True, log=print):
    """Trains (or resumes) each member in `workdir/members/K`; returns their directories."""
    _check(config, num_members)
    directories = []
    for index in range(num_members):
        directory = member_dir(workdir, index)
        log(f"member {index + 1} of {num_members}: {directory}")
        run_config = member_config(config, index, bagging)
        if config.task.kind is TaskKind.PRETRAINING:
            pretrain(run_config, directory, log=log)
        else:
            finetune(run_config, directory, init_from, log=log)
        directories.append(directory)
    return directories


def evaluate_ensemble(config, workdir, num_members, split="test", json_path=None, log=print):
    """Each member and the ensemble on `split`: retrieval R@K for a pretraining config,
    accuracy and macro-F1 (mean logits, stacked) for a classification config."""
    _check(config, num_members)
    directories = [member_dir(workdir, k) for k in range(num_members)]
    if config.task.kind is TaskKind.CLASSIFICATION:
        metrics = _evaluate_classifiers(config, directories, split, log)
    else:
        metrics = _evaluate_embeddings(config, directories, split, log)
    metrics = {"split": split, "num_members": num_members, **metrics}
    write_json(metrics, json_path or os.path.join(workdir, "ensemble_metrics.json"), log)
    return metrics


def _member_outputs(config, directory, split):
    data = ExperimentData(config, directory)
    task = load_task(config, directory)
    return classify(task, data.dataset(split, masks=False, training=False))


def _classification_metrics(logits, outputs, num_classes):
    keep = outputs["weights"] > 0
    report = classification_report(
        list(outputs["labels"][keep]), list(np.argmax(logits, -1)[keep]), num_classes
    )
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}


def _split_outputs(config, directories, split):
    """Each member's `classify` outputs on `split` (the same rows in the same order)."""
    outputs = [_member_outputs(config, d, split) for d in directories]
    for other in outputs[1:]:
        if not np.array_equal(other["labels"], outputs[0]["labels"]):
            raise ValueError(f"members read different rows of the {split} split")
    return outputs


def _fit_stacker(config, directories):
    """A `Stacker` fitted on the members' validation outputs (no member trained on them)."""
    validation = _split_outputs(config, directories, "validation")
    keep = validation[0]["weights"] > 0
    stacker = combine.Stacker(config.task.num_classes)
    return stacker.fit([o["logits"][keep] for o in validation], validation[0]["labels"][keep])


def _evaluate_classifiers(config, directories, split, log):
    num_classes = config.task.num_classes
    test = _split_outputs(config, directories, split)
    members = [_classification_metrics(o["logits"], o, num_classes) for o in test]
    averaged = combine.average_logits([o["logits"] for o in test])
    stacker = _fit_stacker(config, directories)
    stacked = np.log(stacker.probabilities([o["logits"] for o in test]) + 1e-12)
    metrics = {
        "members": members,
        "best_member": max(members, key=lambda m: m["accuracy"]),
        "mean_logits": _classification_metrics(averaged, test[0], num_classes),
        "stacked": _classification_metrics(stacked, test[0], num_classes),
    }
    for name in ("best_member", "mean_logits", "stacked"):
        log(f"{name:12s} accuracy {metrics[name]['accuracy']:.4f} "
            f"macro F1 {metrics[name]['macro_f1']:.4f}")  # fmt: skip
    return metrics


def _embeddings(config, directory, split):
    data = ExperimentData(config, directory)
    collected = EmbeddingCollector(load_backbone(directory)).collect(
        data.dataset(split, masks=False, training=False)
    )
    return collected["embeddings"], collected["present"]


def _recalls(report):
    return {d: {k: v for k, v in m.items() if k.startswith("R@")} for d, m in report.items()}


def _evaluate_embeddings(config, directories, split, log):
    outputs = [_embeddings(config, d, split) for d in directories]
    present = outputs[0][1]
    modalities = sorted(present)
    members = [_recalls(retrieval_report(e, present)) for e, _ in outputs]

    def combined(function):
        return {m: function([e[m] for e, _ in outputs]) for m in modalities}

    ensemble = _recalls(retrieval_report(combined(combine.similarity_embeddings), present))
    naive = _recalls(retrieval_report(combined(combine.mean_embeddings), present))
    best = {
        direction: max((m[direction] for m in members), key=lambda r: r["R@1"])
        for direction in ensemble
    }
    for name, recalls in ensemble.items():
        log(
            f"{name}: best member R@1 {best[name]['R@1']:.4f}, ensemble (mean cosine) "
            f"{recalls['R@1']:.4f}, mean vector {naive[name]['R@1']:.4f}"
        )
    return {
        "members": members,
        "best_member": best,
        "mean_cosine": ensemble,
        "mean_vector_control": naive,
    }


def ensemble_module(config, workdir, num_members, stack=True):
    """The `EnsembleModule` of the trained members (a stacker fitted on validation)."""
    _check(config, num_members)
    directories = [member_dir(workdir, k) for k in range(num_members)]
    members, classifiers, stacker = [], None, None
    for directory in directories:
        data = ExperimentData(config, directory)
        members.append(serving_module(config, data, load_backbone(directory)))
    if config.task.kind is TaskKind.CLASSIFICATION:
        classifiers = [load_task(config, d) for d in directories]
        if stack:
            fitted = _fit_stacker(config, directories)
            stacker = (fitted.weights, fitted.bias)
    return EnsembleModule(members, classifiers, config.task.modality, stacker)


def export_ensemble_model(config, workdir, num_members, path, stack=True, log=print):
    """Exports the ensemble of `workdir`'s members as one SavedModel at `path`."""
    module = ensemble_module(config, workdir, num_members, stack)
    export_ensemble(module, path)
    log(f"exported the {num_members}-member ensemble to {path}")
    return module
