"""What a trained backbone loses when a modality is missing, on a split of its data.

    python benchmarks/missing_modality.py --config runs/scenes/config.yaml --workdir runs/scenes
        [--split test] [--json PATH] [--no-captioning]

Three tables (issue 23 §4), each beside its controls:

1. Retrieval in every direction with the third modality present and absent (its `{m}_present`
   False and its inputs zeroed, through the whole backbone call). The contrastive embeddings
   come from each tower alone, so the third modality cannot change them: the table measures that
   (largest embedding difference) rather than assuming it.
2. Text ↔ scene retrieval with a late-fused scene embedding (the normalized sum of the image and
   speech embeddings) against the image alone and the speech alone: where the second modality
   does matter for retrieval.
3. Captioning by the pretrained decoder (no fine-tuning) conditioned on the image and the
   speech, on the image alone and on the speech alone (`evaluate_generation`: BLEU-4, CIDEr-D,
   exact match, WER, the nearest-train-example baseline and the shuffled-references control).
"""

import argparse
import dataclasses

import numpy as np

import mmlm  # noqa: F401  (selects tf_keras)
from mmlm.backend import tf
from mmlm.config import TaskConfig, TaskKind, load_config
from mmlm.evaluation.evaluator import EmbeddingCollector
from mmlm.evaluation.retrieval import control_report, recall_at_k, retrieval_report
from mmlm.experiments.artifacts import load_backbone, write_json
from mmlm.experiments.data import ExperimentData
from mmlm.experiments.evaluate_generation import evaluate_generation
from mmlm.models.multimodal_backbone import ENCODER_INPUTS

CAPTIONING = {"image+speech": ("image", "audio"), "image": ("image",), "speech": ("audio",)}


def hidden(modality):
    """A batch map: `modality` absent (present False) and its inputs zeroed."""

    def hide(batch):
        batch = dict(batch)
        for name in ENCODER_INPUTS[modality]:
            batch[name] = tf.zeros_like(batch[name])
        batch[f"{modality}_present"] = tf.zeros_like(batch[f"{modality}_present"])
        return batch

    return hide


def third_modality_table(backbone, dataset):
    """{direction: R@1 with the third modality present / absent, controls, max |Δ embedding|}."""
    collector = EmbeddingCollector(backbone)
    full = collector.collect(dataset)
    report = retrieval_report(full["embeddings"], full["present"])
    rows = {}
    for third in backbone.modalities:
        others = [m for m in backbone.modalities if m != third]
        without = collector.collect(dataset.map(hidden(third)))
        absent = retrieval_report(
            {m: without["embeddings"][m] for m in others}, {m: full["present"][m] for m in others}
        )
        change = max(
            float(np.abs(without["embeddings"][m] - full["embeddings"][m]).max()) for m in others
        )
        for direction, result in absent.items():
            rows[direction] = {
                "third": third,
                "R@1_present": report[direction]["R@1"],
                "R@1_absent": result["R@1"],
                "max_embedding_change": change,
                "shuffled_R@1": report[direction]["control"]["shuffled"]["R@1"],
                "chance_R@1": report[direction]["control"]["chance"]["R@1"],
            }
    return {direction: rows[direction] for direction in report if direction in rows}, full


def scene_table(full):
    """Text ↔ scene R@1 with the scene embedded from image+speech, the image, the speech."""
    embeddings, present = full["embeddings"], full["present"]
    rows = np.flatnonzero(present["text"] & present["image"] & present["audio"])
    text = embeddings["text"][rows]
    image, audio = embeddings["image"][rows], embeddings["audio"][rows]
    fused = image + audio
    fused /= np.linalg.norm(fused, axis=-1, keepdims=True)
    table = {}
    for name, scene in (("image+speech", fused), ("image", image), ("speech", audio)):
        for direction, similarity in (
            ("text_to_scene", text @ scene.T),
            ("scene_to_text", scene @ text.T),
        ):
            controls = control_report(similarity, ks=(1,))
            table[f"{direction} ({name})"] = {
                "R@1": recall_at_k(similarity, ks=(1,))["R@1"],
                "shuffled_R@1": controls["shuffled"]["R@1"],
                "chance_R@1": controls["chance"]["R@1"],
                "num_queries": int(len(rows)),
            }
    return table


def captioning_table(config, workdir, split):
    """{conditioning: scores} of the pretrained decoder captioning from each input set."""
    table = {}
    for name, conditioning in CAPTIONING.items():
        task = TaskConfig(kind=TaskKind.GENERATION, conditioning=conditioning, target_text="text")
        metrics = evaluate_generation(
            dataclasses.replace(config, task=task), workdir, split, log=lambda line: None
        )
        baselines = metrics["baselines"]
        table[name] = {
            **{key: metrics[key] for key in ("bleu4", "cider", "exact_match", "wer")},
            "perplexity": metrics["perplexity"],
            "heldout_cider": metrics.get("subsets", {}).get("heldout", {}).get("cider"),
            "nearest_neighbour_cider": baselines["nearest_neighbour"]["cider"],
            "shuffled_references_cider": baselines["shuffled_references"]["cider"],
            "shuffled_references_exact_match": baselines["shuffled_references"]["exact_match"],
            "examples": metrics["examples"][:3],
        }
    return table


def format_tables(results):
    lines = ["retrieval R@1, third modality present → absent (max |Δ embedding|; controls)"]
    for direction, r in results["third_modality"].items():
        lines.append(
            f"  {direction:15s} without {r['third']:5s} {r['R@1_present']:.3f} → "
            f"{r['R@1_absent']:.3f}  (Δemb {r['max_embedding_change']:.1e}; shuffled "
            f"{r['shuffled_R@1']:.3f}, chance {r['chance_R@1']:.3f})"
        )
    lines.append("text ↔ scene R@1, scene = normalized sum of image and speech embeddings")
    for name, r in results["scene"].items():
        lines.append(
            f"  {name:28s} {r['R@1']:.3f}  (shuffled {r['shuffled_R@1']:.3f}, "
            f"chance {r['chance_R@1']:.3f})"
        )
    if "captioning" in results:
        lines.append("captioning by the pretrained decoder (CIDEr-D, BLEU-4, exact, WER, ppl)")
        for name, r in results["captioning"].items():
            lines.append(
                f"  from {name:13s} CIDEr {r['cider']:.3f} BLEU {r['bleu4']:5.2f} exact "
                f"{r['exact_match']:.3f} WER {r['wer']:.3f} ppl {r['perplexity']:.3f}  "
                f"(NN CIDEr {r['nearest_neighbour_cider']:.3f}, shuffled references "
                f"{r['shuffled_references_cider']:.3f})"
            )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a config file or a run's config.yaml")
    parser.add_argument("--workdir", required=True, help="the trained run directory")
    parser.add_argument("--split", default="test")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--no-captioning", action="store_true", help="retrieval tables only")
    args = parser.parse_args()
    config = load_config(args.config)
    backbone = load_backbone(args.workdir)
    dataset = ExperimentData(config, args.workdir).dataset(args.split, masks=False, training=False)
    third, full = third_modality_table(backbone, dataset)
    results = {"split": args.split, "third_modality": third, "scene": scene_table(full)}
    if not args.no_captioning:
        results["captioning"] = captioning_table(config, args.workdir, args.split)
    print(format_tables(results))
    write_json(results, args.json, print)


if __name__ == "__main__":
    main()
