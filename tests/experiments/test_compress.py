"""The compression report's per-tower error and its printed tables (no conversion here)."""

import numpy as np

from mmlm.experiments.compress import add_ratios, format_report, tower_error


def test_tower_error_against_numpy():
    reference = {"a": np.array([[1.0, 0.0], [0.0, 2.0]])}
    got = {"a": np.array([[1.0, 1.0], [0.0, 2.0]])}
    error = tower_error(reference, got)["a"]
    np.testing.assert_allclose(error["cosine_mean"], (1 / np.sqrt(2) + 1) / 2)
    np.testing.assert_allclose(error["cosine_min"], 1 / np.sqrt(2))
    np.testing.assert_allclose(error["snr_db"], 10 * np.log10(5.0))  # 5 / 1
    assert tower_error(reference, reference)["a"]["snr_db"] is None  # infinite: no error


def _row(name, size, recall, error):
    return {
        "variant": name,
        "size_bytes": size,
        "gzip_bytes": size // 2,
        "latency_ms": {"total": 2.0},
        "R@1": recall,
        "tower_error": {
            m: {"cosine_mean": c, "cosine_min": c - 0.1, "snr_db": s} for m, (c, s) in error.items()
        },
    }


def test_report_prints_the_per_tower_error_of_each_variant():
    reference = {"text_to_image": 0.5, "text_to_audio": 0.4}
    rows = [
        _row("float32", 4000, reference, {"text": (1.0, None), "audio": (1.0, 60.0)}),
        _row(
            "selective_int8",
            1000,
            {"text_to_image": 0.5, "text_to_audio": 0.41},
            {"text": (0.998, 23.7), "audio": (0.9944, 19.5)},
        ),
    ]
    add_ratios(rows, reference)
    report = {
        "num_examples": 3,
        "latency": "batch 1",
        "reference": {"R@1": reference},
        "variants": rows,
    }
    text = format_report(report)
    assert "per-tower error against the float32 .tflite" in text
    (line,) = [line for line in text.splitlines() if line.startswith("selective_int8")][1:]
    cells = ["0.9980", "/", "0.8980", "23.7", "0.9944", "/", "0.8944", "19.5"]
    assert line.split() == ["selective_int8", *cells]
    assert "inf" in [line for line in text.splitlines() if line.startswith("float32")][1]
