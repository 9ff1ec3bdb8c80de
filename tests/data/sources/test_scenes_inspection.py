"""What the scenes source tells `mmlm data inspect` and the pipeline (scene-specific hooks)."""

import numpy as np

from mmlm.data.sources.source import Source
from mmlm.testing.data import prepared_smoke_scenes

PROBLEM = "held-out colour-shape pair outside the test split"


def _example(source, colour, shape):
    features = source.builder.info.features["objects"]
    colours, shapes = features["color"].names, features["shape"].names
    return {
        "object_color": np.array([colours.index(colour), -1]),
        "object_shape": np.array([shapes.index(shape), -1]),
        "num_objects": np.int32(1),
        "heldout": np.bool_(True),
    }


def test_heldout_pair_outside_the_test_split_is_a_problem():
    _, source, _ = prepared_smoke_scenes()
    colour, shape = source.heldout_combos()[0]
    heldout = _example(source, colour, shape)
    assert source.example_problems(heldout, "train") == (PROBLEM,)
    assert source.example_problems(heldout, "validation") == (PROBLEM,)
    assert source.example_problems(heldout, "test") == ()
    seen = next(
        (c, s)
        for c in ("red", "green", "blue")
        for s in ("circle", "rectangle", "triangle")
        if (c, s) not in source.heldout_combos()
    )
    assert source.example_problems(_example(source, *seen), "train") == ()
    assert source.describe_example(heldout) == {"heldout": True}


def test_inspection_and_unbatched_features():
    _, source, _ = prepared_smoke_scenes()
    entries, notes = source.inspection()
    combos = [" ".join(c) for c in source.heldout_combos()]
    assert entries == {"heldout_combos": combos}
    assert notes == [f"held out of train/validation (test only): {', '.join(combos)}"]
    assert source.unbatched_features == ("text_es", "audio_es")
    # A generic source adds nothing.
    assert Source.inspection(source) == ({}, [])
    assert Source.example_problems(source, {}, "train") == ()
    assert Source.data_report_entries(source) == {}


def test_data_report_names_the_heldout_pairs():
    from mmlm.experiments.data import data_report

    config, source, _ = prepared_smoke_scenes()
    combos = [list(c) for c in source.heldout_combos()]
    assert combos  # the smoke config holds pairs out
    assert source.data_report_entries() == {"heldout_combinations": combos}
    report = data_report(config, source)
    assert report["source"] == "scenes" and report["heldout_combinations"] == combos
    assert "ingestion" not in report
