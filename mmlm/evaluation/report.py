"""Plain-text table of an evaluation's metrics JSON, for logs and the terminal.

The metrics dict has this shape (every part optional):

    {"num_examples": int,
     "retrieval": {direction: {"R@1", "R@5", "R@10", "num_queries",
                               "subsets": {name: {"R@1", ..., "num_queries"}}}},
     "zero_shot": {name: {"accuracy", "chance", "num_examples"}},
     "perplexity": float}
"""

import re

_RECALL_KEY = re.compile(r"^R@(\d+)$")
_MISSING = "-"


def format_table(metrics):
    """Formats `metrics` (shape above) as a compact table; missing parts are left out.

    Retrieval rows are directions; column groups are "all" queries, then each subset ("seen",
    "heldout", ...) in order of first appearance, each with the query count and R@K as fractions.

    Example output:

        examples: 500
        retrieval      |           all            |           seen
        direction      |      n   R@1   R@5  R@10 |      n   R@1   R@5  R@10
        text_to_image  |    500 0.412 0.700 0.810 |    400 0.450 0.740 0.850
        audio_to_image |     80 0.100 0.200 0.300 |      -     -     -     -
        zero-shot scenes: accuracy 0.620 (chance 0.100, n=500)
        perplexity: 12.346
    """
    lines = []
    if "num_examples" in metrics:
        lines.append(f"examples: {metrics['num_examples']}")
    if metrics.get("retrieval"):
        lines.extend(_retrieval_lines(metrics["retrieval"]))
    for name, result in (metrics.get("zero_shot") or {}).items():
        lines.append(
            f"zero-shot {name}: accuracy {_number(result.get('accuracy'))} "
            f"(chance {_number(result.get('chance'))}, n={result.get('num_examples', _MISSING)})"
        )
    if metrics.get("perplexity") is not None:
        lines.append(f"perplexity: {_number(metrics['perplexity'])}")
    return "\n".join(lines)


def _retrieval_lines(retrieval):
    groups = ["all"]
    for result in retrieval.values():
        groups.extend(name for name in result.get("subsets", {}) if name not in groups)
    keys = {key for result in retrieval.values() for key in result}
    ks = sorted(int(match.group(1)) for match in map(_RECALL_KEY.match, keys) if match)
    columns = ["n"] + [f"R@{k}" for k in ks]
    column_width = 6
    group_width = len(columns) * column_width
    name_width = max(len("direction"), *(len(name) for name in retrieval))

    def row(first, cells):
        return (f"{first:<{name_width}} | " + " | ".join(cells)).rstrip()

    lines = [
        row("retrieval", [f"{group:^{group_width}}" for group in groups]),
        row("direction", ["".join(f"{c:>{column_width}}" for c in columns)] * len(groups)),
    ]
    for direction, result in retrieval.items():
        cells = []
        for group in groups:
            values = result if group == "all" else result.get("subsets", {}).get(group, {})
            count = values.get("num_queries")
            numbers = [_MISSING if count is None else str(count)]
            numbers += [_number(values.get(f"R@{k}")) for k in ks]
            cells.append("".join(f"{n:>{column_width}}" for n in numbers))
        lines.append(row(direction, cells))
    return lines


def _number(value):
    return _MISSING if value is None else f"{value:.3f}"
