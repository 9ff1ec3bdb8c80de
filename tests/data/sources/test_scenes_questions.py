"""Question/answer pairs of `ScenesSource` agree with each scene's structure."""

import collections

from mmlm.data.sources.scenes import vocabulary
from mmlm.experiments.data import ExperimentData
from mmlm.testing.data import prepared_smoke_scenes

COUNTS = {1: "one", 2: "two"}


def test_answers_follow_the_structure():
    config, _, _ = prepared_smoke_scenes()
    source = ExperimentData(config).source
    colours = source.label_names("object_color")
    shapes = source.label_names("object_shape")
    positions = [p.replace("_", " ") for p in source.label_names("object_position")]
    kinds = collections.Counter()
    for example in source.load("train"):
        question = example["question"].numpy().decode()
        answer = example["answer"].numpy().decode()
        count = int(example["num_objects"])
        kind = source.label_names("question_kind")[int(example["question_kind"])]
        objects = [
            (
                colours[example["object_color"][i]],
                shapes[example["object_shape"][i]],
                positions[example["object_position"][i]],
            )
            for i in range(count)
        ]
        kinds[kind] += 1
        if question == "how many objects are there":
            assert kind == "count"
            assert answer == COUNTS[count]
        elif question.startswith("what colour is the "):
            assert kind == "colour"
            shape, position = question[len("what colour is the ") : -len(" corner")].split(
                " in the "
            )
            assert (answer, shape, position) in objects, (question, answer, objects)
        else:
            assert kind == "position" and question.startswith("where is the ")
            colour, shape = question[len("where is the ") :].split(" ", 1)
            assert (colour, shape, answer) in objects, (question, answer, objects)
            assert answer in vocabulary.POSITIONS
    assert set(kinds) == {"count", "colour", "position"}, kinds
    # The captions alone train the vocabulary.
    assert source.vocabulary_features == ("text", "text_es")
