"""Cross-modal attention maps read from a backbone without changing it."""

import numpy as np

from mmlm.backend import keras
from mmlm.experiments.explain import model_inputs
from mmlm.models import CrossModalFusionEncoder
from mmlm.models.attention_maps import fusion_attention_model
from mmlm.testing import TestCase
from mmlm.testing.models import SEQUENCE_LENGTH, tiny_backbone, tiny_batch


def _key_mask(backbone, batch, modality, segments):
    """(B, Lk) validity of modality `modality`'s keys: the null token, then each other
    modality's tokens where its flag is set (text: the padding mask; image: all patches;
    audio: the patches its encoder marks as audio rather than padding)."""
    audio = backbone.audio_encoder({k: batch[k] for k in ("audio", "audio_padding_mask")})[
        "padding_mask"
    ]
    valid = {
        "text": batch["padding_mask"],
        "image": np.ones((len(batch["images"]), backbone.image_encoder.num_patches), bool),
        "audio": np.asarray(audio, bool),
    }
    columns = [np.ones((len(batch["images"]), 1), bool)]  # the null token
    for other, part in segments[modality].items():
        if other != "null":
            columns.append(valid[other] & batch[f"{other}_present"][:, None])
            assert columns[-1].shape[1] == part.stop - part.start
    return np.concatenate(columns, axis=1)


class AttentionMapsTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backbone = tiny_backbone()
        present = {"image": [True, False, True], "audio": [True, True, False]}
        cls.batch = tiny_batch(3, seed=1, present=present)
        cls.maps = cls.backbone.attention_model()(model_inputs(cls.backbone, cls.batch))

    def test_rows_sum_to_one_over_unmasked_keys_and_masked_keys_get_zero(self):
        segments = self.backbone.attention_key_segments(SEQUENCE_LENGTH)
        keys = {m: _key_mask(self.backbone, self.batch, m, segments) for m in segments}
        query_masks = {  # a modality's valid tokens, as another modality's keys
            "text": keys["image"][:, segments["image"]["text"]],
            "image": keys["text"][:, segments["text"]["image"]],
            "audio": keys["text"][:, segments["text"]["audio"]],
        }
        self.assertEqual(sorted(self.maps), ["layer_0/audio", "layer_0/image", "layer_0/text"])
        for m in ("text", "image", "audio"):
            maps = self.maps[f"layer_0/{m}"].numpy()  # (B, heads, Lq, Lk)
            queries = query_masks[m]
            self.assertEqual(maps.shape, (3, 2, queries.shape[1], keys[m].shape[1]))
            masked = ~np.broadcast_to(keys[m][:, None, None], maps.shape)
            self.assertGreater(masked.sum(), 0)
            np.testing.assert_array_equal(maps[masked], 0)
            sums = maps.sum(axis=-1)  # (B, heads, Lq)
            real = np.broadcast_to(queries[:, None], sums.shape)
            np.testing.assert_allclose(sums[real], 1.0, atol=1e-5)
            np.testing.assert_array_equal(sums[~real], 0.0)
            self.assertTrue(np.all(maps >= 0))

    def test_maps_are_the_probabilities_of_the_real_forward_pass(self):
        # Capture what the block's own cross-attention softmax returns in a real call.
        fusion = self.backbone.fusion_encoder
        block = fusion.get_layer("fusion_0_text")
        node = block.inbound_nodes[0]
        from mmlm.backend import keras

        probe = keras.Model(
            fusion.input,
            [node.call_args[0], *(node.call_kwargs[k] for k in (
                "encoder_sequence", "decoder_padding_mask", "encoder_padding_mask"))],
        )  # fmt: skip
        from mmlm.models.multimodal_backbone import _encoder_graph

        inputs, _, fused = _encoder_graph(self.backbone.encoders)
        query, context, query_mask, context_mask = keras.Model(inputs, probe(fused))(
            model_inputs(self.backbone, self.batch)
        )
        attention = block._cross_attention_layer
        captured = []
        softmax = attention._masked_softmax
        attention._masked_softmax = lambda *a, **k: (
            captured.append(softmax(*a, **k)) or captured[-1]
        )
        try:
            block(
                query, context, decoder_padding_mask=query_mask, encoder_padding_mask=context_mask
            )
        finally:
            attention._masked_softmax = softmax
        (expected,) = captured
        mask = np.asarray(context_mask)[:, None, None, :] & np.asarray(query_mask)[:, None, :, None]
        np.testing.assert_allclose(
            self.maps["layer_0/text"].numpy(), np.where(mask, expected, 0.0), atol=1e-6
        )

    def test_the_backbone_and_its_config_do_not_change(self):
        config = self.backbone.get_config()
        weights = len(self.backbone.weights)
        self.backbone.attention_model()
        self.assertEqual(config, self.backbone.get_config())
        self.assertEqual(weights, len(self.backbone.weights))
        # A saved and reloaded backbone gives its maps too: tests/experiments/test_explain.py.

    def test_a_mixed_precision_backbone_read_under_float32(self):
        # Trained under mixed_bfloat16, inspected later with the default float32 policy.
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        try:
            backbone = tiny_backbone(modalities=("text", "image"))
        finally:
            keras.mixed_precision.set_global_policy("float32")
        maps = backbone.attention_model()(model_inputs(backbone, self.batch))["layer_0/text"]
        self.assertEqual(maps.dtype, "float32")
        sums = maps.numpy().sum(-1)[self.batch["padding_mask"][:, None].repeat(2, 1)]
        np.testing.assert_allclose(sums, 1.0, atol=2e-2)  # bfloat16 probabilities

    def test_one_modality_has_no_cross_attention(self):
        fusion = CrossModalFusionEncoder(("text",), 16, 1, 2, 32)
        with self.assertRaisesRegex(ValueError, "no cross-modal attention"):
            fusion_attention_model(fusion)
