"""End to end: `mmlm distill` on the smoke scenes, its saved student and its resume."""

import argparse
import dataclasses
import os

import pytest

from mmlm.cli import distill as distill_command
from mmlm.config import load_config
from mmlm.experiments.artifacts import load_backbone, save_backbone
from mmlm.tasks.builders import build_backbone
from mmlm.testing.data import prepared_smoke_scenes

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "scenes.py") + ":smoke"
TERMS = ("embedding_distillation", "similarity_distillation", "logit_distillation")


def _run_distill(argv):
    """`mmlm distill ARGV` through the subcommand's own parser (main.py wires it in)."""
    parser = argparse.ArgumentParser(prog="mmlm")
    distill_command.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["distill", *argv])
    return args.run(args)


def _save_teacher(config, vocabulary, workdir):
    """A small untrained teacher whose embedding width differs (the task learns a map)."""
    model = dataclasses.replace(config.model, hidden_dim=64, num_layers=1, embedding_dim=32)
    teacher = build_backbone(dataclasses.replace(config, model=model), len(vocabulary))
    save_backbone(teacher, workdir)
    return teacher


@pytest.mark.slow  # 100 s; the objective and task are unit-tested in tests/objectives, tests/tasks
def test_distill_saves_the_student_and_resumes(tmp_path, capsys):
    config, _, vocabulary = prepared_smoke_scenes()
    teacher_dir, workdir = str(tmp_path / "teacher"), str(tmp_path / "student")
    common = ["--config", CONFIG, "--set", f"data.data_dir={config.data.data_dir}"]
    argv = [*common, "--set", "compression.distill_steps=2", "--workdir", workdir]

    with pytest.raises(FileNotFoundError, match="mmlm pretrain .*--workdir .*teacher"):
        _run_distill([*argv, "--teacher", teacher_dir])
    teacher = _save_teacher(config, vocabulary, teacher_dir)
    assert _run_distill([*argv, "--teacher", teacher_dir]) == 0
    out = capsys.readouterr().out
    assert "Training 2 steps from step 0" in out and "teacher from" in out
    for term in TERMS:  # each term is logged (Keras's epoch lines)
        assert f"{term}_loss" in out, term

    resolved = load_config(os.path.join(workdir, "config.yaml"))
    assert resolved.trainer.steps == 2
    assert resolved.compression.distill_teacher_workdir == teacher_dir
    # What `mmlm evaluate --workdir` loads (tests/integration/test_pretrain_cli.py runs it on a
    # backbone saved the same way): the student alone, not the teacher.
    student = load_backbone(workdir)
    assert student.embedding_dim == config.model.embedding_dim != teacher.embedding_dim
    assert student.text_encoder.hidden_dim != teacher.text_encoder.hidden_dim

    # The backup (teacher included) restores: a rerun of the finished run trains nothing.
    capsys.readouterr()
    assert _run_distill([*argv, "--teacher", teacher_dir]) == 0
    assert "Already finished at step 2" in capsys.readouterr().out
