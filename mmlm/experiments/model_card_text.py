"""A model card's words: intended use, limitations and failure modes drawn from its numbers,
and the Markdown rendering of the whole card (`model_card.py` gathers the numbers)."""

# Keys of a metrics file that hold no number worth a card row (matrices, paths, examples).
_SKIPPED = {"confusion_matrix", "confusion_matrix_png", "examples", "workdir"}
# Metric names whose value is a quality (higher is better) that a subgroup can fall short on.
_QUALITIES = ("R@1", "accuracy", "f1", "recall")


def metric_rows(metrics, prefix=()):
    """[(path tuple, number)] of every number in a metrics dict, in file order.

    Booleans, strings, lists (matrices, examples) and the keys of `_SKIPPED` are left out.
    """
    rows = []
    for key, value in metrics.items():
        path = (*prefix, str(key))
        if key in _SKIPPED or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            rows.append((path, value))
        elif isinstance(value, dict):
            rows.extend(metric_rows(value, path))
    return rows


def format_number(value):
    """How a card prints a number: integers as they are, other numbers to 4 decimals."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def metric_name(path):
    return " / ".join(path)


def _intended_use(model):
    task, modalities = model["task"], ", ".join(model["modalities"])
    if task == "classification":
        return (
            f"Classifying examples of the training data's domain from {modalities}, into "
            "the classes it was fine-tuned on."
        )
    if task == "generation":
        return (
            f"Generating text from {modalities} in the training data's domain (captions, "
            "answers or translations, as fine-tuned)."
        )
    use = (
        f"Embedding {modalities} into one space for retrieval and zero-shot classification "
        "within the training data's domain"
    )
    return use + (", and captioning with its decoder." if model.get("has_decoder") else ".")


def _limitations(card):
    data, evaluation, model = card["training_data"], card["evaluation"], card["model"]
    notes = []
    if data.get("status") == "reported":
        splits = data.get("splits", {})
        notes.append(
            f"Trained on {splits.get('train', 'an unknown number of')} examples of one source "
            f"({data.get('source')}: {data.get('name')}); inputs unlike them are outside what "
            "was measured."
        )
        languages = sorted(set(data.get("languages", {}).values()))
        if languages:
            notes.append(
                f"Languages in the data: {', '.join(languages)}; no other language was "
                "trained on or measured."
            )
        else:
            notes.append(
                "The data declares no language: which languages the model reads was "
                "neither recorded nor measured."
            )
    else:
        notes.append(f"Training data {data['status']}.")
    if evaluation["status"] != "evaluated":
        notes.append(
            "Not evaluated: the run has no metrics.json (`mmlm evaluate --workdir RUN "
            "--json RUN/metrics.json`, then export again)."
        )
    notes += _input_limits(card.get("inputs", {}))
    if model.get("parameters"):
        notes.append(
            f"Size: {model['parameters']:,} parameters; what it does well is only what the "
            "evaluation above measured."
        )
    return notes


def _input_limits(inputs):
    """The limitation notes of the input section: what is cut, what is refused."""
    notes = []
    text, image, audio = (inputs.get(m) for m in ("text", "image", "audio"))
    if text:
        notes.append(
            f"Text: only the first {text['tokens'] - 2} tokens are read (longer text is "
            f"truncated); text over {text['max_bytes']:,} UTF-8 bytes is refused."
        )
    if image:
        notes.append(
            f"Images are resized to {image['side']}x{image['side']} pixels, so fine detail is "
            f"lost; images over {image['max_pixels']:,} pixels are refused before decoding."
        )
    if audio:
        notes.append(
            f"Audio: only the first {audio['window_seconds']:g} s at {audio['sample_rate']:,} Hz "
            f"are heard; files over {audio['max_seconds']:g} s are refused before decoding."
        )
    return notes


def _subgroup_gaps(rows):
    """Held-out subsets that score below the seen ones, from the card's subgroup rows."""
    values = {tuple(row["name"]): row["value"] for row in rows}
    notes = []
    for name, value in values.items():
        if "heldout" not in name or name[-1] not in _QUALITIES:
            continue
        seen = values.get(tuple("seen" if part == "heldout" else part for part in name))
        if seen is not None and value < seen:
            where = metric_name(name[: name.index("subsets")])
            notes.append(
                f"Held-out combinations score lower: {where} {name[-1]} "
                f"{format_number(value)} vs {format_number(seen)} on seen ones."
            )
    return notes


def _language_gaps(card):
    """Languages whose text queries retrieve worse than the training text's, by R@1."""
    evaluation = card["evaluation"]
    overall = {tuple(row["name"]): row["value"] for row in evaluation.get("metrics", [])}
    primary = (card["training_data"].get("languages") or {}).get("text", "the training text")
    notes = []
    for row in evaluation.get("subgroups", {}).get("per language", []):
        name = tuple(row["name"])  # ("per_language", language, direction, metric)
        if len(name) != 4 or name[3] != "R@1":
            continue
        reference = overall.get(("retrieval", name[2], "R@1"))
        if reference is not None and row["value"] < reference:
            notes.append(
                f"Text in {name[1]} retrieves worse: {name[2]} R@1 "
                f"{format_number(row['value'])} vs {format_number(reference)} in {primary}."
            )
    return notes


def _weakest_classes(rows, count=3):
    """The lowest per-class qualities of each metric, from the card's per-class rows."""
    groups = {}
    for row in rows:
        name = row["name"]
        if name[-2] == "per_class_accuracy":  # {class: accuracy}
            groups.setdefault(tuple(name[:-1]), []).append((row["value"], name[-1]))
        elif name[-1] in _QUALITIES:  # {class: {quality: value}}
            groups.setdefault((*name[:-2], name[-1]), []).append((row["value"], name[-2]))
    notes = []
    for key, values in groups.items():
        if len(values) < 2:
            continue
        worst = ", ".join(f"{c} {format_number(v)}" for v, c in sorted(values)[:count])
        notes.append(f"Weakest classes by {metric_name(key)}: {worst}.")
    return notes


def usage_notes(card):
    """{"intended_use", "limitations", "failure_modes"} of a card's numbers."""
    subgroups = card["evaluation"].get("subgroups", {})
    failures = _subgroup_gaps(subgroups.get("seen vs held-out", []))
    failures += _language_gaps(card)
    failures += _weakest_classes(subgroups.get("per class", []))
    failures += [f"Evaluation warning: {w}" for w in card["evaluation"].get("warnings", [])]
    if not failures:
        failures.append(
            "None measured: the evaluation has no subgroups that fall short"
            if card["evaluation"]["status"] == "evaluated"
            else "Unknown: not evaluated."
        )
    return {
        "intended_use": _intended_use(card["model"]),
        "limitations": _limitations(card),
        "failure_modes": failures,
    }


def _table(header, rows):
    lines = [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}"]
    lines += [f"| {' | '.join(str(cell) for cell in row)} |" for row in rows]
    return lines


def _data_lines(data):
    if data.get("status") != "reported":
        return [f"Training data {data['status']}.", ""]
    lines = [
        f"Source: `{data.get('source')}` ({data.get('name')}); modalities used: "
        f"{', '.join(data.get('modalities', []))}. From `{data['file']}`.",
        "",
    ]
    if data.get("manifest"):
        lines += [f"Manifest: `{data['manifest']}`.", ""]
    lines += _table(("split", "examples"), data.get("splits", {}).items()) + [""]
    languages = data.get("languages") or {}
    if languages:
        lines += _table(("feature", "language"), languages.items()) + [""]
    else:
        lines += ["Languages: not declared by the data.", ""]
    if data.get("heldout_combinations"):
        combos = ", ".join(" ".join(c) for c in data["heldout_combinations"])
        lines += [f"Held out of training (test only): {combos}.", ""]
    if data.get("ingestion"):
        ingestion = {k: v for k, v in data["ingestion"].items() if v is not None}
        lines += _table(("ingestion", "value"), ingestion.items()) + [""]
    return lines


def _evaluation_lines(evaluation):
    if evaluation["status"] != "evaluated":
        return ["Not evaluated: the run has no `metrics.json`.", ""]
    lines = [f"From `{evaluation['file']}` (split `{evaluation.get('split')}`).", ""]
    rows = [(metric_name(r["name"]), format_number(r["value"])) for r in evaluation["metrics"]]
    lines += _table(("metric", "value"), rows) + ["", "## Metrics per subgroup", ""]
    for kind, group in evaluation["subgroups"].items():
        lines += [f"### {kind}", ""]
        if group:
            rows = [(metric_name(r["name"]), format_number(r["value"])) for r in group]
            lines += _table(("metric", "value"), rows)
        else:
            lines.append(f"Not measured: the evaluation wrote no {kind} metrics.")
        lines.append("")
    return lines


def render_markdown(card):
    """The card as Markdown: every number printed by `format_number` from the card's JSON."""
    model, artifact = card["model"], card["artifact"]
    lines = [
        f"# Model card: {model['name']}",
        "",
        f"Written by mmlm {model['mmlm_version']} from the files of the run "
        f"`{model['run']}`; every number below is read from the file its section names.",
        "",
        "## Model",
        "",
    ]
    facts = [
        ("artifact", f"`{artifact['path']}` ({artifact['format']})"),
        ("task", model["task"]),
        ("modalities", ", ".join(model["modalities"])),
        ("parameters", format_number(model["parameters"])),
        ("embedding dim", format_number(model["embedding_dim"])),
        ("text decoder", model["has_decoder"]),
    ]
    if artifact.get("sha256"):
        facts.insert(1, ("artifact SHA-256", f"`{artifact['sha256']}`"))
    lines += _table(("property", "value"), facts) + [""]
    measurements = artifact.get("measurements") or {}
    if measurements:
        rows = [(key, value) for key, value in measurements.items() if isinstance(value, str)]
        rows += [(metric_name(n), format_number(v)) for n, v in metric_rows(measurements)]
        lines += ["## Measured on this file", ""] + _table(("measurement", "value"), rows) + [""]
    if card.get("inputs"):
        rows = [(m, k, v) for m, limits in card["inputs"].items() for k, v in limits.items()]
        lines += ["## Inputs", ""] + _table(("input", "setting", "value"), rows) + [""]
    lines += ["## Training data", ""] + _data_lines(card["training_data"])
    lines += ["## Evaluation", ""] + _evaluation_lines(card["evaluation"])
    lines += ["## Intended use", "", card["intended_use"], "", "## Limitations", ""]
    lines += [f"- {note}" for note in card["limitations"]]
    lines += ["", "## Known failure modes", ""] + [f"- {note}" for note in card["failure_modes"]]
    return "\n".join(lines) + "\n"
