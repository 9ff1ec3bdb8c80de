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


def test_control_and_duplicate_rows_under_each_direction():
    retrieval = {
        "text_to_image": {
            "R@1": 0.3,
            "R@5": 0.6,
            "num_queries": 50,
            "subsets": {"seen": {"R@1": 0.4, "R@5": 0.7, "num_queries": 30}},
            "duplicate_aware": {"R@1": 0.5, "R@5": 0.8, "median_rank": 2.0},
            "strict_R@1_ceiling": 0.61,
            "control": {
                "shuffled": {"R@1": 0.02, "R@5": 0.1, "median_rank": 25.0},
                "chance": {"R@1": 0.02, "R@5": 0.1, "median_rank": 25.5},
            },
        },
        "image_to_text": {"R@1": 0.2, "R@5": 0.5, "num_queries": 50},
    }
    metrics = {"captions": {"num_with_caption": 50, "num_distinct": 20}, "retrieval": retrieval}
    lines = format_table(metrics).splitlines()
    assert lines[0] == "captions: 20 distinct of 50"
    rows = [line.replace("|", " ").split() for line in lines[3:]]
    assert rows[0] == ["text_to_image", "50", "0.300", "0.600", "30", "0.400", "0.700"]
    assert rows[1] == ["duplicate-aware", "50", "0.500", "0.800"]
    assert rows[2] == ["strict", "R@1", "ceiling", "50", "0.610"]
    assert rows[3] == ["shuffled", "pairs", "50", "0.020", "0.100"]
    assert rows[4] == ["chance", "50", "0.020", "0.100"]
    assert rows[5][0] == "image_to_text" and len(rows) == 6
    assert lines[4].startswith("  duplicate-aware ")
    assert all(line == line.rstrip() for line in lines)


def test_label_zero_shot_lines_per_class_and_warnings():
    metrics = {
        "zero_shot": {
            "label_from_image": {
                "accuracy": 0.5,
                "chance": 0.5,
                "majority_baseline": 0.75,
                "macro_f1": 0.4,
                "num_examples": 8,
                "per_class_accuracy": {"cat": 0.5, "dog": 0.5},
                "per_class": {"cat": {"support": 6}, "dog": {"support": 2}},
            }
        },
        "warnings": ["Not scored: 2 examples without a label."],
    }
    assert format_table(metrics).splitlines() == [
        "zero-shot label_from_image: accuracy 0.500 (chance 0.500, majority 0.750, "
        "macro-F1 0.400, n=8)",
        "  cat 0.500 (n=6)",
        "  dog 0.500 (n=2)",
        "warning: Not scored: 2 examples without a label.",
    ]
