"""`inspect_data`: what a prepared data set holds, and what looks wrong in it."""

import numpy as np

from mmlm.data import factory
from mmlm.data.prepare import load_prepared


def _split_stats(config, source, split, text_pre, num_examples):
    """Counts, durations, token lengths, problems and a few decoded examples of one split."""
    max_samples = int(round(config.audio.sample_rate * config.audio.duration_seconds))
    stats = {"count": 0, "present": {m: 0 for m in source.modalities}, "examples": []}
    durations, token_lengths, problems = [], [], {}

    def problem(kind):
        problems[kind] = problems.get(kind, 0) + 1

    for example in source.load(split).as_numpy_iterator():
        stats["count"] += 1
        for modality in source.modalities:
            stats["present"][modality] += int(example[f"{modality}_present"])
        if "audio" in source.modalities and example["audio_present"]:
            durations.append(len(example["audio"]) / config.audio.sample_rate)
            if len(example["audio"]) > max_samples:
                problem(f"audio longer than {config.audio.duration_seconds} s (cropped)")
        if text_pre is not None and example["text_present"]:
            length = len(text_pre.tokenizer(example["text"]).numpy()) + 2  # + start and end
            token_lengths.append(length)
            if length > config.text.sequence_length:
                problem(f"text longer than {config.text.sequence_length} tokens (truncated)")
        for kind in source.example_problems(example, split):
            problem(kind)
        if len(stats["examples"]) < num_examples:
            stats["examples"].append(_describe(example, source, config))
    if durations:
        stats["audio_seconds"] = {
            "min": float(np.min(durations)),
            "mean": float(np.mean(durations)),
            "max": float(np.max(durations)),
        }
    if token_lengths:
        stats["text_tokens"] = {
            "mean": float(np.mean(token_lengths)),
            "max": int(np.max(token_lengths)),
        }
    stats["problems"] = problems
    return stats


def _describe(example, source, config):
    out = {}
    for key in dict.fromkeys(
        ("text", *(source.vocabulary_features or source.text_features), "label")
    ):
        if key in example and len(example[key]):
            out[key] = example[key].decode("utf-8")
    if "image" in source.modalities and example["image_present"]:
        out["image"] = f"{example['image'].shape[1]}x{example['image'].shape[0]} RGB"
    if "audio" in source.modalities and example["audio_present"]:
        out["audio"] = f"{len(example['audio']) / config.audio.sample_rate:.2f} s"
    out.update(source.describe_example(example))
    return out


def inspect_data(config, num_examples=3):
    """A report (dict) on the prepared data of `config` (a `DataConfig`)."""
    source, vocabulary = load_prepared(config)
    text_pre = factory.text_preprocessor(config, vocabulary) if vocabulary else None
    report = {
        "source": source.name,
        "data_dir": source.builder.data_dir,
        "modalities": list(source.modalities),
        "vocabulary_size": len(vocabulary) if vocabulary else 0,
        "splits": {
            split: _split_stats(config, source, split, text_pre, num_examples)
            for split in source.available_splits()
        },
    }
    entries, notes = source.inspection()
    report.update(entries, notes=notes)
    if hasattr(source, "validation_report"):
        report["invalid_records"] = source.validation_report()
    return report


def format_report(report):
    """Human-readable text of an `inspect_data` report."""
    lines = [
        f"data set:   {report['source']}",
        f"stored in:  {report['data_dir']}",
        f"modalities: {', '.join(report['modalities'])}",
        f"vocabulary: {report['vocabulary_size']} WordPiece tokens",
    ]
    lines += report["notes"]
    lines.append("")
    lines.append(
        f"{'split':<12}{'examples':>10}  " + "  ".join(f"{m:>7}" for m in report["modalities"])
    )
    for split, stats in report["splits"].items():
        present = "  ".join(f"{stats['present'][m]:>7}" for m in report["modalities"])
        lines.append(f"{split:<12}{stats['count']:>10}  {present}")
    for split, stats in report["splits"].items():
        lines.append("")
        lines.append(f"[{split}]")
        if "audio_seconds" in stats:
            a = stats["audio_seconds"]
            lines.append(
                f"  audio duration: min {a['min']:.2f} s, mean {a['mean']:.2f} s, "
                f"max {a['max']:.2f} s"
            )
        if "text_tokens" in stats:
            t = stats["text_tokens"]
            lines.append(f"  text length: mean {t['mean']:.1f} tokens, max {t['max']}")
        for example in stats["examples"]:
            lines.append("  - " + "; ".join(f"{k}: {v}" for k, v in example.items()))
    problems = {(s, k): v for s, st in report["splits"].items() for k, v in st["problems"].items()}
    invalid = report.get("invalid_records")
    lines.append("")
    if not problems and not (invalid and invalid.get("num_invalid")):
        lines.append("validation: no problems found")
    else:
        lines.append("validation problems:")
        for (split, kind), count in sorted(problems.items()):
            lines.append(f"  {split}: {count} × {kind}")
        if invalid and invalid.get("num_invalid"):
            lines.append(f"  invalid manifest records skipped at ingest: {invalid['num_invalid']}")
            for reason, count in sorted(invalid.get("counts_by_reason", {}).items()):
                lines.append(f"    {count} × {reason}")
    return "\n".join(lines)
