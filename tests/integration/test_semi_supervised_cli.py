"""End to end on IDX images (a tiny Fashion-MNIST stand-in): image-only masked pretraining,
classification fine-tuning, pseudo-labelling and the retraining on the pseudo labels."""

import json
import os

from mmlm.cli.main import main
from mmlm.config import load_config
from mmlm.experiments.data import ExperimentData
from mmlm.testing.data import prepared_tiny_idx

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")
SMALL = ["model.hidden_dim=32", "model.num_layers=1", "model.intermediate_dim=64"]


def _arguments(config_file, data_config, *overrides):
    args = ["--config", os.path.join(CONFIGS, config_file) + ":smoke"]
    for override in (
        f"data.data_dir={data_config.data.data_dir}",
        f"data.idx.directory={data_config.data.idx.directory}",
        f"data.idx.validation_size={data_config.data.idx.validation_size}",
        *SMALL,
        *overrides,
    ):
        args += ["--set", override]
    return args


def test_pretrain_finetune_pseudo_label_and_retrain(tmp_path, capsys):
    data_config, _ = prepared_tiny_idx()
    pretrain_dir = str(tmp_path / "pretrain")
    assert main(["pretrain", *_arguments("fashion_mnist.py", data_config),
                 "--workdir", pretrain_dir]) == 0  # fmt: skip
    assert "masked_image_loss" in capsys.readouterr().out

    # Supervised on the 20 labelled examples (index < 20) of the 40 training ones.
    semi = _arguments("fashion_mnist_semi_supervised.py", data_config, "task.num_labelled=20")
    teacher = str(tmp_path / "teacher")
    assert main(["finetune", *semi, "--workdir", teacher, "--init-from", pretrain_dir]) == 0
    metrics_path = str(tmp_path / "teacher.json")
    assert main(["evaluate", *semi, "--workdir", teacher, "--json", metrics_path]) == 0
    with open(metrics_path) as f:
        metrics = json.load(f)
    assert metrics["num_examples"] == 16 and "ankle boot" in metrics["per_class"]

    pseudo_path = str(tmp_path / "pseudo.json")
    assert main(["pseudo-label", "--workdir", teacher, "--threshold", "0.0",
                 "--out", pseudo_path]) == 0  # fmt: skip
    with open(pseudo_path) as f:
        pseudo = json.load(f)
    # Threshold 0 keeps every unlabelled training example (indices 20..39), once each.
    assert sorted(pseudo["indices"]) == list(range(20, 40))
    assert pseudo["num_unlabelled"] == 20 and pseudo["coverage"] == 1.0
    assert all(0 <= label < 10 for label in pseudo["labels"])
    assert 0.0 <= pseudo["pseudo_label_accuracy"] <= 1.0
    assert "pseudo-labelled 20 of 20" in capsys.readouterr().out
    # Class-balanced: the single most confident example of each predicted class.
    balanced_path = str(tmp_path / "balanced.json")
    assert main(["pseudo-label", "--workdir", teacher, "--threshold", "0.0", "--per-class", "1",
                 "--out", balanced_path]) == 0  # fmt: skip
    with open(balanced_path) as f:
        balanced = json.load(f)
    predicted_classes = set(pseudo["labels"])
    assert sorted(balanced["labels"]) == sorted(predicted_classes)
    for index, label, confidence in zip(
        *(balanced[k] for k in ("indices", "labels", "confidences"))
    ):
        same_class = [c for c, y in zip(pseudo["confidences"], pseudo["labels"]) if y == label]
        assert confidence == max(same_class) and index in pseudo["indices"]

    def training_indices(arguments):
        overrides = arguments[3::2]
        config = load_config(arguments[1], overrides)
        dataset = ExperimentData(config).dataset("train", masks=False)
        return sorted(i for batch in dataset for i in batch["index"].numpy().tolist())

    # Training reads the 20 labelled examples alone, then with the 20 pseudo-labelled ones
    # (batches of 8 drop the remainder).
    assert len(training_indices(semi)) == 16 and max(training_indices(semi)) < 20
    student = str(tmp_path / "student")
    retrain = [*semi, "--set", f"task.pseudo_labels={pseudo_path}"]
    assert len(training_indices(retrain)) == 40
    assert main(["finetune", *retrain, "--workdir", student, "--init-from", pretrain_dir]) == 0
    assert main(["evaluate", *retrain, "--workdir", student]) == 0
    # A pseudo-label file made for another labelled subset is refused.
    wrong = [*semi[:-1], "task.num_labelled=10", "--set", f"task.pseudo_labels={pseudo_path}"]
    assert main(["finetune", *wrong, "--workdir", str(tmp_path / "x"),
                 "--init-from", pretrain_dir]) == 2  # fmt: skip
    assert "made for num_labelled=20" in capsys.readouterr().err
