"""The cached `Generator`: every strategy equals its uncached run, seeds, beam vs greedy."""

import numpy as np

from mmlm.backend import tf
from mmlm.generation import STRATEGIES, Generator, GreedyCaptioner
from mmlm.testing import TestCase
from mmlm.testing.models import SEQUENCE_LENGTH, tiny_backbone, tiny_batch

START, END, PAD = 2, 3, 0
CONDITIONING = ("images", "audio", "audio_padding_mask", "image_present", "audio_present")


def sequence_log_probability(backbone, inputs, token_ids, generator):
    """Teacher-forced log p of each row's generated tokens (up to its end token)."""
    from mmlm.generation.generator import conditioning_inputs

    batch_size = token_ids.shape[0]
    fused = generator.conditioning_model(conditioning_inputs(backbone, inputs, batch_size, START))
    logits = backbone.text_decoder(
        {
            "decoder_token_ids": token_ids,
            "decoder_padding_mask": np.ones_like(token_ids, bool),
            "encoder_sequence": fused["sequence_output"],
            "encoder_padding_mask": fused["padding_mask"],
        }
    )["logits"].numpy()
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    totals = []
    for row in range(batch_size):
        total = 0.0
        for position in range(1, token_ids.shape[1]):
            token = token_ids[row, position]
            total += logp[row, position - 1, token]
            if token == END:
                break
        totals.append(total)
    return np.array(totals)


class GeneratorTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backbone = tiny_backbone()
        batch = tiny_batch(batch_size=3, present={"image": [True, False, True]})
        batch["audio_present"] = np.array([True, True, False])
        cls.batch = batch
        cls.inputs = {key: batch[key] for key in CONDITIONING}

    def generate(self, inputs=None, prompt=None, **kwargs):
        kwargs.setdefault("seed", 7)
        generator = Generator(self.backbone, SEQUENCE_LENGTH, START, END, PAD, **kwargs)
        lengths = None if prompt is None else np.array([len(p) for p in prompt], "int32")
        if prompt is not None:
            prompt = np.array([p + [PAD] * (SEQUENCE_LENGTH - len(p)) for p in prompt], "int32")
        return generator(inputs or self.inputs, prompt, lengths)

    def test_cached_equals_uncached_for_every_strategy(self):
        prompt = [[START, 5, 6], [START], [START, 9]]
        for strategy in STRATEGIES:
            cached = self.generate(prompt=prompt, strategy=strategy, num_beams=3)
            uncached = self.generate(prompt=prompt, strategy=strategy, num_beams=3, use_cache=False)
            self.assertAllEqual(cached["token_ids"], uncached["token_ids"], msg=strategy)
            ids = cached["token_ids"].numpy()
            self.assertEqual(ids.shape, (3, SEQUENCE_LENGTH))
            self.assertAllEqual(ids[0, :3], prompt[0], msg=strategy)
            self.assertAllEqual(ids[2, :2], prompt[2], msg=strategy)

    def test_greedy_equals_the_fixed_buffer_captioner(self):
        expected = GreedyCaptioner(self.backbone, SEQUENCE_LENGTH, START, END, PAD)(self.inputs)
        self.assertAllEqual(self.generate(strategy="greedy")["token_ids"], expected)
        generator = Generator(self.backbone, SEQUENCE_LENGTH, START, END, PAD)
        self.assertAllEqual(tf.function(generator)(self.inputs)["token_ids"], expected)

    def test_xla_compiled_decoding_equals_the_graph(self):
        prompt = np.array([[START, 5, 6] + [PAD] * (SEQUENCE_LENGTH - 3)] * 3, "int32")
        lengths = np.array([3, 1, 2], "int32")
        for strategy in ("greedy", "beam"):
            generator = Generator(
                self.backbone, SEQUENCE_LENGTH, START, END, PAD, strategy=strategy, num_beams=3
            )
            graph = tf.function(generator)(self.inputs, prompt, lengths)
            xla = tf.function(generator, jit_compile=True)(self.inputs, prompt, lengths)
            self.assertAllEqual(xla["token_ids"], graph["token_ids"], msg=strategy)

    def test_sampling_is_seeded(self):
        for strategy in ("temperature", "top_k", "top_p"):
            first = self.generate(strategy=strategy, seed=1, temperature=2.0)["token_ids"]
            again = self.generate(strategy=strategy, seed=1, temperature=2.0)["token_ids"]
            other = self.generate(strategy=strategy, seed=2, temperature=2.0)["token_ids"]
            self.assertAllEqual(first, again, msg=strategy)
            self.assertNotAllEqual(first, other, msg=strategy)
        top1 = self.generate(strategy="top_k", top_k=1)["token_ids"]
        self.assertAllEqual(top1, self.generate(strategy="greedy")["token_ids"])

    def test_beam_log_probability_is_at_least_greedy(self):
        generator = Generator(self.backbone, SEQUENCE_LENGTH, START, END, PAD)
        greedy = self.generate(strategy="greedy")["token_ids"].numpy()
        beam = self.generate(strategy="beam", num_beams=4, length_penalty=0.0)
        beam_ids = beam["token_ids"].numpy()
        greedy_logp = sequence_log_probability(self.backbone, self.inputs, greedy, generator)
        beam_logp = sequence_log_probability(self.backbone, self.inputs, beam_ids, generator)
        self.assertAllClose(beam["scores"], beam_logp, atol=1e-4)
        self.assertTrue(np.all(beam_logp >= greedy_logp - 1e-4), (beam_logp, greedy_logp))

    def test_conditions_on_any_subset(self):
        text = {"token_ids": self.batch["token_ids"], "padding_mask": self.batch["padding_mask"]}
        for inputs in (text, {"images": self.batch["images"]}, {**text, **self.inputs}):
            ids = self.generate(inputs=inputs)["token_ids"].numpy()
            self.assertEqual(ids.shape, (3, SEQUENCE_LENGTH))
            self.assertTrue(np.all(ids[:, 0] == START))
        with_text = self.generate(inputs={**text, **self.inputs})["token_ids"]
        self.assertNotAllEqual(with_text, self.generate()["token_ids"])

    def test_tokens_after_the_end_token_are_padding(self):
        generator = Generator(self.backbone, 6, START, END, PAD)
        ids = np.array([[START, 4, END, 5, END, 6], [START, END, 4, 4, 4, 4]], "int32")
        padded = generator._pad_after_end(ids, np.array([1, 2])).numpy()
        self.assertAllEqual(padded, [[START, 4, END, PAD, PAD, PAD], [START, END, 4, 4, 4, 4]])

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "strategy must be one of"):
            Generator(self.backbone, SEQUENCE_LENGTH, START, END, PAD, strategy="sample")
        with self.assertRaisesRegex(ValueError, "sequence_length"):
            Generator(self.backbone, SEQUENCE_LENGTH + 1, START, END, PAD)
