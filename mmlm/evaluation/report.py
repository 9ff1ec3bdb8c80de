"""Plain-text table of an evaluation's metrics JSON, for logs and the terminal.

The metrics dict has this shape (every part optional):

    {"num_examples": int,
     "captions": {"num_with_caption", "num_distinct"},
     "retrieval": {direction: {"R@1", "R@5", "R@10", "num_queries",
                               "subsets": {name: {"R@1", ..., "num_queries"}},
                               "duplicate_aware": {"R@1", ...}, "strict_R@1_ceiling": float,
                               "control": {"shuffled": {"R@1", ...}, "chance": {"R@1", ...}}}},
     "zero_shot": {name: {"accuracy", "chance", "num_examples", ["majority_baseline",
                          "macro_f1", "per_class_accuracy": {class: float}, "per_class"]}},
     "perplexity": float,
     "warnings": [str]}
"""

import re

_RECALL_KEY = re.compile(r"^R@(\d+)$")
_MISSING = "-"
_MAX_CLASS_LINES = 20  # more classes: per-class accuracy only in the JSON


def format_table(metrics):
    """Formats `metrics` (shape above) as a compact table; missing parts are left out.

    Retrieval rows are directions; column groups are "all" queries, then each subset ("seen",
    "heldout", ...) in order of first appearance, each with the query count and R@K as fractions.
    Under each direction, indented rows give its duplicate-aware R@K and strict R@1 ceiling
    (when captions are known; with unique captions they equal the strict ones and 1.0) and the
    control rows: shuffled pairs and chance.

    Example output:

        examples: 500
        captions: 120 distinct of 500
        retrieval            |           all            |           seen
        direction            |      n   R@1   R@5  R@10 |      n   R@1   R@5  R@10
        text_to_image        |    500 0.412 0.700 0.810 |    400 0.450 0.740 0.850
          duplicate-aware    |    500 0.520 0.800 0.880 |
          strict R@1 ceiling |    500 0.610             |
          shuffled pairs     |    500 0.002 0.012 0.018 |
          chance             |    500 0.002 0.010 0.020 |
        audio_to_image       |     80 0.100 0.200 0.300 |      -     -     -     -
        zero-shot scenes: accuracy 0.620 (chance 0.100, n=500)
        perplexity: 12.346
    """
    lines = []
    if "num_examples" in metrics:
        lines.append(f"examples: {metrics['num_examples']}")
    if metrics.get("captions"):
        captions = metrics["captions"]
        distinct, total = captions["num_distinct"], captions["num_with_caption"]
        lines.append(f"captions: {distinct} distinct of {total}")
    if metrics.get("retrieval"):
        lines.extend(_retrieval_lines(metrics["retrieval"]))
    for name, result in (metrics.get("zero_shot") or {}).items():
        lines.extend(_zero_shot_lines(name, result))
    if metrics.get("perplexity") is not None:
        lines.append(f"perplexity: {_number(metrics['perplexity'])}")
    lines.extend(f"warning: {warning}" for warning in metrics.get("warnings", ()))
    return "\n".join(lines)


def _zero_shot_lines(name, result):
    extra = "".join(
        f"{label} {_number(result[key])}, "
        for key, label in (("majority_baseline", "majority"), ("macro_f1", "macro-F1"))
        if key in result
    )
    lines = [
        f"zero-shot {name}: accuracy {_number(result.get('accuracy'))} "
        f"(chance {_number(result.get('chance'))}, {extra}n={result.get('num_examples', _MISSING)})"
    ]
    per_class = result.get("per_class_accuracy") or {}
    if 0 < len(per_class) <= _MAX_CLASS_LINES:
        support = result.get("per_class", {})
        width = max(len(str(c)) for c in per_class)
        for class_name, accuracy in per_class.items():
            count = support.get(class_name, {}).get("support", _MISSING)
            lines.append(f"  {class_name:<{width}} {_number(accuracy)} (n={count})")
    return lines


def _sub_rows(result):
    """(label, values of the "all" group) of the indented rows under a direction."""
    rows = []
    count = result.get("num_queries")
    if "duplicate_aware" in result:
        rows.append(("  duplicate-aware", {**result["duplicate_aware"], "num_queries": count}))
    if "strict_R@1_ceiling" in result:
        ceiling = {"R@1": result["strict_R@1_ceiling"], "num_queries": count}
        rows.append(("  strict R@1 ceiling", ceiling))
    control = result.get("control", {})
    for key, label in (("shuffled", "  shuffled pairs"), ("chance", "  chance")):
        if key in control:
            rows.append((label, {**control[key], "num_queries": count}))
    return rows


def _retrieval_lines(retrieval):
    groups = ["all"]
    for result in retrieval.values():
        groups.extend(name for name in result.get("subsets", {}) if name not in groups)
    keys = {key for result in retrieval.values() for key in result}
    ks = sorted(int(match.group(1)) for match in map(_RECALL_KEY.match, keys) if match)
    columns = ["n"] + [f"R@{k}" for k in ks]
    column_width = 6
    group_width = len(columns) * column_width
    sub_rows = {direction: _sub_rows(result) for direction, result in retrieval.items()}
    labels = [label for rows in sub_rows.values() for label, _ in rows]
    name_width = max(len("direction"), *(len(name) for name in [*retrieval, *labels]))

    def row(first, cells):
        return (f"{first:<{name_width}} | " + " | ".join(cells)).rstrip()

    def cell(values, blank_missing=False):
        count = values.get("num_queries")
        numbers = [_MISSING if count is None else str(count)]
        numbers += [_number(values.get(f"R@{k}"), blank_missing) for k in ks]
        return "".join(f"{n:>{column_width}}" for n in numbers)

    lines = [
        row("retrieval", [f"{group:^{group_width}}" for group in groups]),
        row("direction", ["".join(f"{c:>{column_width}}" for c in columns)] * len(groups)),
    ]
    for direction, result in retrieval.items():
        cells = [
            cell(result if group == "all" else result.get("subsets", {}).get(group, {}))
            for group in groups
        ]
        lines.append(row(direction, cells))
        for label, values in sub_rows[direction]:
            lines.append(row(label, [cell(values, blank_missing=True)]))
    return lines


def _number(value, blank_missing=False):
    if value is None:
        return "" if blank_missing else _MISSING
    return f"{value:.3f}"
