"""The plain-text metrics table."""

from mmlm.evaluation.report import format_table

METRICS = {
    "num_examples": 500,
    "retrieval": {
        "text_to_image": {
            "R@1": 0.4123,
            "R@5": 0.7,
            "R@10": 0.81,
            "num_queries": 500,
            "subsets": {
                "seen": {"R@1": 0.45, "R@5": 0.74, "R@10": 0.85, "num_queries": 400},
                "heldout": {"R@1": 0.25, "R@5": 0.54, "R@10": 0.65, "num_queries": 100},
            },
        },
        "audio_to_image": {"R@1": 0.1, "R@5": 0.2, "R@10": 0.3, "num_queries": 80},
    },
    "zero_shot": {"scenes": {"accuracy": 0.62, "chance": 0.1, "num_examples": 500}},
    "perplexity": 12.3456,
}


def test_table_rows_columns_and_numbers():
    lines = format_table(METRICS).splitlines()
    assert lines[0] == "examples: 500"
    assert [group.strip() for group in lines[1].split("|")] == [
        "retrieval",
        "all",
        "seen",
        "heldout",
    ]
    assert lines[2].split() == ["direction", "|"] + (["n", "R@1", "R@5", "R@10", "|"] * 3)[:-1]
    text_row = lines[3].replace("|", " ").split()
    expected = "text_to_image 500 0.412 0.700 0.810 400 0.450 0.740 0.850 100 0.250 0.540 0.650"
    assert text_row == expected.split()
    audio_row = lines[4].replace("|", " ").split()
    assert audio_row == ["audio_to_image", "80", "0.100", "0.200", "0.300"] + ["-"] * 8
    assert lines[5] == "zero-shot scenes: accuracy 0.620 (chance 0.100, n=500)"
    assert lines[6] == "perplexity: 12.346"
    assert all(line == line.rstrip() for line in lines)


def test_missing_parts_are_left_out():
    assert format_table({}) == ""
    assert format_table({"perplexity": 3.0}) == "perplexity: 3.000"
    table = format_table({"retrieval": {"text_to_audio": {"R@1": 1.0, "num_queries": 2}}})
    assert table.splitlines()[-1].replace("|", " ").split() == ["text_to_audio", "2", "1.000"]
    assert "seen" not in table
