"""End to end on tiny manual pages: causal and masked LM pretraining through `mmlm pretrain`,
perplexity beside the n-gram baselines, and prompt continuation (greedy, top-k, top-p, beam)
from the command line, the Python API and the exported SavedModel."""

import json
import os

import numpy as np
import pytest

from mmlm.cli.main import main
from mmlm.testing.manpages import write_man_pages

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")
TINY = [
    "data.manpages.packages=",
    "data.manpages.max_words=12",
    "data.text.vocabulary_size=200",
    "data.text.sequence_length=24",
    "model.hidden_dim=32",
    "model.intermediate_dim=64",
    "trainer.steps=2",
    "trainer.eval_every=2",
    "trainer.checkpoint_every=2",
]


def tiny_arguments(tmp_path, config):
    """`--config <config>:smoke --set ...` on tiny pages in `tmp_path/man`."""
    if not (tmp_path / "man").exists():
        write_man_pages(str(tmp_path / "man"), per_section=12)
    args = ["--config", os.path.join(CONFIGS, config) + ":smoke"]
    overrides = TINY + [
        f"data.data_dir={tmp_path / 'data'}",
        f"data.manpages.man_dir={tmp_path / 'man'}",
    ]
    for override in overrides:
        args += ["--set", override]
    return args


@pytest.fixture(scope="module")
def causal_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("manpages")
    args = tiny_arguments(tmp_path, "manpages_causal_lm.py")
    assert main(["data", "generate", *args]) == 0
    workdir = str(tmp_path / "causal")
    assert main(["pretrain", *args, "--workdir", workdir]) == 0
    return tmp_path, args, workdir


def test_causal_lm_perplexity_beside_ngrams(causal_run, capsys):
    tmp_path, args, workdir = causal_run
    path = str(tmp_path / "causal.json")
    assert main(["evaluate", "--workdir", workdir, "--json", path]) == 0
    with open(path) as f:
        metrics = json.load(f)["causal_lm"]
    assert metrics["num_tokens"] > metrics["num_sequences"] > 0
    assert np.isfinite(metrics["perplexity"]) and metrics["perplexity"] > 1
    baselines = metrics["baselines"]
    assert set(baselines) == {f"kneser_ney_{n}gram" for n in (1, 2, 3, 4)}
    # The bigram model sees the page vocabulary's structure: better than the unigram.
    assert baselines["kneser_ney_2gram"] < baselines["kneser_ney_1gram"]
    assert "baseline kneser_ney_4gram" in capsys.readouterr().out


def test_prompt_continuation_from_cli_api_and_saved_model(causal_run, capsys):
    import tensorflow as tf

    from mmlm.config import apply_overrides, load_config
    from mmlm.experiments.artifacts import load_backbone
    from mmlm.experiments.generate import generate

    tmp_path, args, workdir = causal_run
    capsys.readouterr()
    command = ["generate", "--workdir", workdir, "--prompt", "the system", "--max-length", "12"]
    assert main([*command, "--strategy", "top_p", "--seed", "1"]) == 0
    assert capsys.readouterr().out.startswith("the system")
    with pytest.raises(SystemExit, match="--prompt"):
        main(["generate", "--workdir", workdir])
    config = load_config(os.path.join(workdir, "config.yaml"), ["generation.max_length=24"])
    backbone = load_backbone(workdir)
    for strategy in ("top_k", "beam", "greedy"):
        strategy_config = apply_overrides(config, [f"generation.strategy={strategy}"])
        result = generate(strategy_config, workdir, prompt="the system", backbone=backbone)
        assert result.text.startswith("the system") and len(result.token_ids) == 24
        assert (result.score is not None) == (strategy == "beam")
    greedy = result
    out = str(tmp_path / "saved_model")
    assert main(["export", "--workdir", workdir, "--format", "savedmodel", "--out", out]) == 0
    loaded = tf.saved_model.load(out)
    assert {"continue", "continue_beam", "continue_top_k", "continue_top_p"} <= set(
        loaded.signatures
    )
    prompts = tf.constant(["the system", "a network socket"])
    result = loaded.signatures["continue"](prompt=prompts)
    # The SavedModel's greedy continuation is the Python API's, token for token.
    assert result["token_ids"].numpy()[0].tolist() == greedy.token_ids
    assert result["text"].numpy()[1].decode().startswith("a network socket")
    for name in ("continue_beam", "continue_top_k", "continue_top_p"):
        texts = loaded.signatures[name](prompt=prompts)["text"].numpy()
        assert texts[0].decode().startswith("the system"), (name, texts)
        assert texts[1].decode().startswith("a network socket"), (name, texts)


@pytest.fixture(scope="module")
def masked_run(causal_run):
    tmp_path, _, _ = causal_run
    args = tiny_arguments(tmp_path, "manpages_masked_lm.py")
    workdir = str(tmp_path / "masked")
    assert main(["pretrain", *args, "--workdir", workdir]) == 0
    return tmp_path, workdir


def test_masked_lm_pretraining_and_accuracy_beside_unigram(masked_run):
    tmp_path, workdir = masked_run
    assert os.path.isfile(os.path.join(workdir, "model", "task.weights.h5"))  # the MLM head
    path = str(tmp_path / "masked.json")
    assert main(["evaluate", "--workdir", workdir, "--json", path]) == 0
    with open(path) as f:
        metrics = json.load(f)
    assert "causal_lm" not in metrics
    masked = metrics["masked_lm"]
    assert masked["num_masked"] > 0 and 0 <= masked["accuracy"] <= 1
    assert np.isfinite(masked["perplexity"])
    assert set(masked["baselines"]) == {"unigram", "kneser_ney_4gram_left_context"}


def _finetune_and_evaluate(tmp_path, config, init_from, name):
    args = tiny_arguments(tmp_path, config)
    assert main(["data", "generate", *args]) == 0
    workdir = str(tmp_path / name)
    assert main(["finetune", *args, "--init-from", init_from, "--workdir", workdir]) == 0
    path = str(tmp_path / f"{name}.json")
    assert main(["evaluate", "--workdir", workdir, "--json", path]) == 0
    with open(path) as f:
        return json.load(f)


@pytest.mark.slow  # a fine-tune and evaluation end to end; the default suite was at 20 min
def test_summarization_from_the_causal_lm_with_rouge_and_lead_baseline(causal_run):
    tmp_path, _, causal = causal_run
    metrics = _finetune_and_evaluate(tmp_path, "manpages_summarization.py", causal, "summaries")
    assert metrics["task"] == {"source_text": "text", "target_text": "summary"}
    assert set(metrics["rouge"]) == {"rouge1", "rouge2", "rougeL"}
    lead = metrics["baselines"]["lead_sentence"]
    # The lead sentence of a tiny page starts "callN() ..."; its summary shares some words.
    assert 0 <= lead["rouge"]["rougeL"] <= 100 and lead["from"] == "text"


@pytest.mark.slow  # a fine-tune and evaluation end to end; the default suite was at 20 min
def test_section_classification_from_the_masked_lm_beside_tfidf(masked_run):
    tmp_path, masked = masked_run
    metrics = _finetune_and_evaluate(tmp_path, "manpages_sections.py", masked, "sections")
    assert metrics["modality"] == "text" and metrics["num_examples"] > 0
    tfidf = metrics["baselines"]["tfidf_logistic_regression"]
    # The pages' words are section-specific: the bag-of-words baseline separates them.
    assert tfidf["accuracy"] == 1.0 and tfidf["num_examples"] == metrics["num_examples"]
    assert "majority_class" in metrics["baselines"]
