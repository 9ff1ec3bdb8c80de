"""Analytic FLOPs against TF's profiler and against a count of the traced graph's matmuls."""

import math

from mmlm.backend import keras, tf
from mmlm.layers import (
    LogMelSpectrogram,
    PatchEmbedding,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)
from mmlm.models import flops
from mmlm.models.summary import format_model_summary
from mmlm.tasks.pretraining_task import LOSS_TERMS, PretrainingTask
from mmlm.testing import TestCase
from mmlm.testing.models import tiny_backbone, tiny_batch

BATCH = 2


def _einsum_flops(op):
    inputs = op.get_attr("equation").decode().split("->")[0].split(",")
    sizes = {}
    for labels, tensor in zip(inputs, op.inputs):
        sizes.update(zip(labels, tensor.shape))
    return 2 * math.prod(sizes.values())


def graph_matmul_flops(concrete_function):
    """2 × multiply-adds of every MatMul, BatchMatMul, Einsum and Conv2D of a traced graph.

    The independent count: it reads each op's static shapes, knowing nothing of the models.
    """
    total = 0
    for op in concrete_function.graph.get_operations():
        if op.type == "Einsum":
            total += _einsum_flops(op)
        elif op.type in ("MatMul", "BatchMatMulV2"):
            transposed = op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x")
            inner = op.inputs[0].shape[-2 if transposed else -1]
            total += 2 * math.prod(op.outputs[0].shape) * inner
        elif op.type == "Conv2D":
            height, width, channels, _ = op.inputs[1].shape
            total += 2 * math.prod(op.outputs[0].shape) * height * width * channels
        else:
            assert op.type not in ("Conv1D", "Conv3D", "BatchMatMul", "BatchMatMulV3"), op.type
    return total


def trace(fn, inputs):
    spec = tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), inputs)
    return tf.function(fn).get_concrete_function(spec)


def backbone_inputs(backbone, batch):
    inputs = {name: tf.constant(batch[name]) for name in backbone.input if name in batch}
    inputs["decoder_token_ids"] = tf.constant(batch["token_ids"][:, :-1])
    inputs["decoder_padding_mask"] = tf.constant(batch["padding_mask"][:, :-1])
    return inputs


def fft_estimate(backbone):
    """The RFFT and sparse mel estimates inside `audio_frontend` (the graph count has neither:
    no FFT op, and the mel product is a gather, a multiply and a segment sum)."""
    log_mel = backbone.audio_encoder.frontend.log_mel_spectrogram
    n, num_samples = log_mel.fft_length, backbone.audio_encoder.num_samples
    fft = log_mel.num_frames(num_samples) * 2.5 * n * math.log2(n)
    return fft + flops.mel_projection_flops(log_mel, num_samples)


class FlopsTest(TestCase):
    def test_dense_flops_match_tf_profiler(self):
        # The profiler counts MatMul exactly (not Einsum): a Dense-only model, 2-D and 3-D.
        # (Imported here: TensorFlow must not be imported before mmlm picks tf_keras.)
        from tensorflow.python.framework.convert_to_constants import (
            convert_variables_to_constants_v2,
        )

        model = keras.Sequential(
            [keras.layers.Dense(24, use_bias=False), keras.layers.Dense(40, use_bias=False)]
        )
        for shape in ((4, 16), (3, 5, 16)):
            function = trace(model, tf.zeros(shape))
            options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
            options["output"] = "none"
            profile = tf.compat.v1.profiler.profile(
                graph=convert_variables_to_constants_v2(function).graph, options=options
            )
            tokens = math.prod(shape[:-1])
            expected = flops.dense_flops(tokens, 16, 24) + flops.dense_flops(tokens, 24, 40)
            self.assertEqual(profile.total_float_ops, expected)

    def test_layer_formulas_match_graph_count(self):
        # hidden 18 with 4 heads: keras-nlp's heads are 4 wide, the projections 16.
        hidden, heads, intermediate, length, context = 18, 4, 20, 6, 9
        encoder = TransformerEncoderBlock(intermediate, heads)
        sequence, other = tf.zeros((BATCH, length, hidden)), tf.zeros((BATCH, context, hidden))
        counted = graph_matmul_flops(trace(encoder, sequence))
        expected = flops.encoder_layer_flops(length, hidden, heads, intermediate)
        self.assertEqual(counted, BATCH * expected)
        decoder = TransformerDecoderBlock(intermediate, heads)
        counted = graph_matmul_flops(trace(lambda pair: decoder(*pair), (sequence, other)))
        expected = flops.decoder_layer_flops(length, context, hidden, heads, intermediate)
        self.assertEqual(counted, BATCH * expected)

    def test_patch_embedding_with_stem_matches_graph_count(self):
        for stem in ((), (4,), (4, 6, 8)):
            layer = PatchEmbedding(8, 12, stem_channels=stem)
            counted = graph_matmul_flops(trace(layer, tf.zeros((BATCH, 32, 24, 3))))
            self.assertEqual(counted, BATCH * flops.patch_embedding_flops(12, 8, 3, 12, stem))

    def test_log_mel_dft_matmuls_match_graph_count(self):
        layer = LogMelSpectrogram(
            sample_rate=8000, fft_length=200, frame_length=200, frame_step=80, num_mel_bins=16
        )
        counted = graph_matmul_flops(trace(layer, tf.zeros((BATCH, 4000))))
        mel = flops.mel_projection_flops(layer, 4000)
        self.assertEqual(counted, BATCH * (flops.log_mel_flops(layer, 4000) - mel))

    def test_backbone_flops_match_graph_count(self):
        # Class tokens lengthen the patch sequences (mean pooling: the pretraining test).
        backbone = tiny_backbone(pooling="class_token")
        inputs = backbone_inputs(backbone, tiny_batch(BATCH))
        counted = graph_matmul_flops(trace(backbone, inputs))
        analytic = flops.backbone_flops(backbone)
        self.assertEqual(counted, BATCH * (analytic["total"] - fft_estimate(backbone)))
        self.assertEqual(analytic["total"], sum(v for k, v in analytic.items() if k != "total"))

    def test_one_modality_has_no_fusion_layers(self):
        analytic = flops.backbone_flops(tiny_backbone(modalities=("image",)))
        self.assertEqual(analytic["fusion_encoder"], 0.0)
        self.assertNotIn("text_decoder", analytic)

    def test_pretraining_passes_match_graph_count(self):
        backbone = tiny_backbone()
        weights = {term: 1.0 for term in LOSS_TERMS}
        # A training step captions half of the batch, without the text in the fusion.
        task = PretrainingTask(backbone, loss_weights=weights, captioning_batch_fraction=0.5)
        batch = {k: tf.constant(v) for k, v in tiny_batch(BATCH).items()}
        counted = graph_matmul_flops(trace(lambda b: task.compute_losses(b, training=True), batch))
        selections = batch["mask_positions"].shape[1]
        passes = flops.pretraining_passes(task, mask_selections=selections)
        self.assertEqual(set(passes), {"backbone", "masked_lm", "masked_image", "masked_audio"})
        forward = sum(sum(components.values()) for components in passes.values())
        # Each of the 3 contrastive pairs multiplies (B, E) × (E, B) logits both ways.
        contrastive = 3 * 2 * 2 * BATCH * BATCH * backbone.embedding_dim
        analytic = BATCH * (forward - 2 * fft_estimate(backbone)) + contrastive
        self.assertEqual(counted, analytic)
        full = flops.backbone_flops(backbone, hidden=("text",))
        for component in ("fusion_encoder", "text_decoder"):
            self.assertEqual(passes["backbone"][component], full[component] / 2)
        self.assertLess(full["fusion_encoder"], flops.backbone_flops(backbone)["fusion_encoder"])

        training = flops.pretraining_flops(task, mask_selections=selections)
        self.assertEqual(training["forward"], forward)
        frontend = 2 * passes["backbone"]["audio_frontend"]
        self.assertEqual(training["audio_frontend"], frontend)
        self.assertAllClose(training["total"], 3 * (forward - frontend) + frontend)

        # Inactive terms run no pass.
        task = PretrainingTask(backbone, loss_weights={"masked_image": 1.0})
        passes = flops.pretraining_passes(task)
        self.assertEqual(list(passes), ["masked_image"])
        self.assertEqual(set(passes["masked_image"]), {"image_encoder", "masked_image_head"})

    def test_parameter_counts(self):
        backbone = tiny_backbone()
        counts = flops.parameter_counts(backbone)
        self.assertEqual(counts["total"], backbone.count_params())
        self.assertEqual(sum(v for k, v in counts.items() if k != "total"), counts["total"])
        task = PretrainingTask(backbone, loss_weights={term: 1.0 for term in LOSS_TERMS})
        before = flops.head_parameter_counts(task)  # the heads are not built yet
        task.compute_losses(tiny_batch(BATCH), training=False)
        self.assertEqual(before, flops.head_parameter_counts(task))
        self.assertEqual(
            sum(before.values()), sum(head.count_params() for head in task.heads.values())
        )

        summary = format_model_summary(backbone, task, mask_selections=2)
        for name in ("text_encoder", "audio_frontend", "masked_lm_head", "total"):
            self.assertIn(name, summary)
        self.assertIn(
            f"{backbone.count_params() + sum(flops.head_parameter_counts(task).values()):,}",
            summary,
        )
        self.assertNotIn("train GFLOPs", format_model_summary(backbone))
