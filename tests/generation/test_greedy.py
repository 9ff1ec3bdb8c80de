"""Greedy decoding over a fixed buffer equals the step-by-step reference over the prefix."""

import numpy as np

from mmlm.backend import tf
from mmlm.generation import GreedyCaptioner, greedy_decode
from mmlm.testing import TestCase
from mmlm.testing.models import SEQUENCE_LENGTH, tiny_backbone, tiny_batch

START, END, PAD = 2, 3, 0


def reference_greedy(backbone, batch, max_length):
    """Python loop: run the whole backbone on the growing prefix, append the argmax."""
    rows = []
    for row in range(len(batch["images"])):
        inputs = {key: value[row : row + 1] for key, value in batch.items()}
        inputs["text_present"] = np.zeros((1,), bool)
        tokens = [START]
        while len(tokens) < max_length:
            inputs["decoder_token_ids"] = np.array([tokens], "int32")
            inputs["decoder_padding_mask"] = np.ones((1, len(tokens)), bool)
            logits = backbone(inputs)["decoder_logits"].numpy()[0, -1]
            tokens.append(int(np.argmax(logits)))
            if tokens[-1] == END:
                break
        rows.append(tokens + [PAD] * (max_length - len(tokens)))
    return np.array(rows)


class GreedyDecodeTest(TestCase):
    def test_stops_at_end_token_and_pads(self):
        vocabulary_size = 6

        def next_logits(token_ids):  # always predicts (previous token + 1) mod V
            return tf.one_hot((token_ids + 1) % vocabulary_size, vocabulary_size)

        ids = greedy_decode(next_logits, 2, 6, start_id=1, end_id=3, pad_id=0).numpy()
        self.assertAllEqual(ids, [[1, 2, 3, 0, 0, 0]] * 2)

    def test_captioner_matches_reference_loop(self):
        backbone = tiny_backbone()
        batch = tiny_batch(batch_size=3, present={"image": [True, False, True]})
        batch["audio_present"] = np.array([True, True, False])
        captioner = GreedyCaptioner(backbone, SEQUENCE_LENGTH, START, END, PAD)
        inputs = {
            key: batch[key]
            for key in ("images", "audio", "audio_padding_mask", "image_present", "audio_present")
        }
        expected = reference_greedy(
            backbone,
            {**inputs, "token_ids": batch["token_ids"], "padding_mask": batch["padding_mask"]},
            SEQUENCE_LENGTH,
        )
        self.assertAllEqual(captioner(inputs).numpy(), expected)
        compiled = tf.function(captioner)
        self.assertAllEqual(compiled(inputs).numpy(), expected)
