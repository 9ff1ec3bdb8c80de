"""The shuffled-references control of `evaluate_generation`."""

from mmlm.evaluation.text_metrics import exact_match
from mmlm.experiments.evaluate_generation import shuffled_references, text_scores


def test_shuffled_references_score_every_output_against_another_reference():
    references = [f"a {colour} circle" for colour in ("red", "green", "blue", "white", "black")]
    control = shuffled_references(references, references, seed=3)
    # Perfect outputs score 1 against their own references and 0 against the others'.
    assert exact_match(references, references) == 1.0
    assert control["exact_match"] == 0.0
    assert control["from"] == "model"
    assert set(text_scores(references, references)) <= set(control)
    # Where references repeat, the control is above 0: two equal references swap places.
    assert shuffled_references(["a red circle"] * 2, ["a red circle"] * 2)["exact_match"] == 1.0
