"""End to end: translation of gettext catalog messages, trained from scratch, with baselines."""

import json
import os

from mmlm.cli.main import main
from mmlm.testing.data import write_mo_file

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "catalog_translation.py")
WORDS = {"open": "abrir", "close": "cerrar", "save": "guardar", "print": "imprimir",
         "file": "archivo", "folder": "carpeta", "the": "el", "a": "un"}  # fmt: skip


def _catalog(verbs, nouns):
    return {
        f"{v} {d} {n}": f"{WORDS[v]} {WORDS[d]} {WORDS[n]}"
        for v in verbs
        for d in ("the", "a")
        for n in nouns
    }


def test_finetune_from_scratch_and_evaluate_with_baselines(tmp_path, capsys):
    directory = tmp_path / "locale" / "es" / "LC_MESSAGES"
    write_mo_file(str(directory / "train1.mo"), _catalog(["open", "close"], ["file", "folder"]))
    write_mo_file(str(directory / "train2.mo"), _catalog(["save"], ["file", "folder"]))
    write_mo_file(str(directory / "valid.mo"), _catalog(["print"], ["file"]))
    write_mo_file(str(directory / "test.mo"), _catalog(["print"], ["folder"]))
    args = ["--config", CONFIG + ":smoke"]
    for override in (
        f"data.data_dir={tmp_path / 'data'}",
        f"data.catalogs.locale_dir={tmp_path / 'locale'}",
        "data.catalogs.train_catalogs=train1,train2",
        "data.catalogs.validation_catalogs=valid",
        "data.catalogs.test_catalogs=test",
        "data.text.vocabulary_size=200",
        "model.hidden_dim=32",
        "model.intermediate_dim=64",
    ):
        args += ["--set", override]
    assert main(["data", "generate", *args]) == 0
    workdir = str(tmp_path / "run")
    assert main(["finetune", *args, "--workdir", workdir]) == 0  # no --init-from: from scratch
    assert "Training 3 steps from step 0" in capsys.readouterr().out
    metrics_path = str(tmp_path / "metrics.json")
    assert main(["evaluate", *args, "--workdir", workdir, "--json", metrics_path]) == 0
    with open(metrics_path) as f:
        metrics = json.load(f)
    assert metrics["num_examples"] == 2 and metrics["task"]["target_text"] == "text_es"
    # References are scored as the tokenizer can write them: no training text has an "m", so
    # "imprimir" is out of vocabulary.
    assert {e["reference"] for e in metrics["examples"]} == {"[UNK] el carpeta", "[UNK] un carpeta"}
    memory = metrics["baselines"]["translation_memory"]
    # The most similar training sources ("close the folder", ...) share two of three words.
    assert memory["from"] == "text" and 0.0 < memory["sacrebleu"]["chrf"] < 100.0
    assert metrics["sacrebleu"]["chrf_signature"].startswith("nrefs:1")
    assert "TM (text)" in capsys.readouterr().out
