"""Chunked attention against a NumPy reference and against the dense path it replaces."""

import numpy as np
import pytest

from mmlm.backend import keras, tf
from mmlm.layers import CrossModalFusionBlock, TransformerDecoderBlock, TransformerEncoderBlock
from mmlm.layers.chunked_attention import chunked_attention, use_chunked_attention
from mmlm.testing import TestCase

TOLERANCE = {"atol": 1e-5, "rtol": 1e-5}


def numpy_attention(query, key, value, mask):
    """Softmax(q kᵀ / √d) v per head in float64; masked keys get no weight (NumPy reference)."""
    q, k, v = (np.asarray(t, np.float64) for t in (query, key, value))
    scores = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(q.shape[-1])
    scores = np.where(mask[:, None].astype(bool), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return np.einsum("bnts,bsnh->btnh", weights, v)


def padding_and_causal_masks(batch, length):
    lengths = np.array([length, length - 5][:batch])
    padding = np.arange(length)[None, None, :] < lengths[:, None, None]  # (B, 1, S)
    causal = np.tril(np.ones((length, length), bool))[None] & padding  # (B, T, S)
    return {"none": None, "padding": padding, "causal": causal}


def block_pair(block_class, chunk_size, inputs, **call_kwargs):
    """A dense and a chunked block with the same weights."""
    dense = block_class(intermediate_dim=32, num_heads=2)
    chunked = block_class(
        intermediate_dim=32,
        num_heads=2,
        attention_implementation="chunked",
        attention_chunk_size=chunk_size,
    )
    dense(*inputs, **call_kwargs)
    chunked(*inputs, **call_kwargs)
    chunked.set_weights(dense.get_weights())
    return dense, chunked


def output_and_gradients(layer, inputs, function=None, **call_kwargs):
    def run(*inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            output = layer(*inputs, **call_kwargs)
            loss = tf.reduce_mean(tf.sin(output) * output)
        return output, tape.gradient(loss, list(inputs) + layer.trainable_variables)

    return (function(run) if function else run)(*inputs)


class ChunkedAttentionTest(TestCase):
    def test_core_matches_numpy_with_every_mask(self):
        query, key, value = (tf.random.normal((2, 19, 2, 4)) for _ in range(3))
        for name, mask in padding_and_causal_masks(2, 19).items():
            for chunk in (4, 19, 64):
                layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
                layer(tf.zeros((2, 19, 8)), tf.zeros((2, 19, 8)))
                use_chunked_attention(layer, chunk)
                mask_tensor = None if mask is None else tf.constant(mask)
                output = layer._chunked_attention(query, key, value, mask_tensor)
                full = np.ones((2, 1, 19), bool) if mask is None else mask
                expected = numpy_attention(query, key, value, full)
                self.assertAllClose(expected, output, **TOLERANCE, msg=f"{name} {chunk}")

    def check_encoder_block(self, function):
        x = tf.random.normal((2, 21, 16))
        for name, mask in padding_and_causal_masks(2, 21).items():
            kwargs = {}
            if mask is not None:
                kwargs = {"padding_mask": tf.constant(mask[:, 0])}
                if name == "causal":
                    kwargs = {"attention_mask": tf.constant(mask)}
            dense, chunked = block_pair(TransformerEncoderBlock, 4, (x,), **kwargs)
            expected = output_and_gradients(dense, (x,), **kwargs)
            actual = output_and_gradients(chunked, (x,), function, **kwargs)
            self.assertAllCloseNested(expected, actual, **TOLERANCE)

    def test_encoder_block_equals_dense_forward_and_gradients(self):
        self.check_encoder_block(tf.function)

    @pytest.mark.slow  # eager and XLA compiles of three blocks: ~1-3 min on 2 shared cores
    def test_encoder_block_equals_dense_eager_and_xla(self):
        self.check_encoder_block(None)
        self.check_encoder_block(lambda f: tf.function(f, jit_compile=True))

    def test_decoder_block_causal_and_cross_attention_equal_dense(self):
        x, context = tf.random.normal((2, 11, 16)), tf.random.normal((2, 7, 16))
        kwargs = {
            "decoder_padding_mask": tf.constant(np.arange(11) < np.array([[11], [6]])),
            "encoder_padding_mask": tf.constant(np.arange(7) < np.array([[7], [3]])),
        }
        dense, chunked = block_pair(TransformerDecoderBlock, 3, (x, context), **kwargs)
        expected = output_and_gradients(dense, (x, context), **kwargs)
        actual = output_and_gradients(chunked, (x, context), tf.function, **kwargs)
        self.assertAllCloseNested(expected, actual, **TOLERANCE)
        # Decoding with a key/value cache attends densely, as before.
        caches = {
            "self_attention_cache": tf.zeros((2, 2, 11, 2, 8)),
            "self_attention_cache_update_index": 0,
            "cross_attention_cache": tf.zeros((2, 2, 7, 2, 8)),
            "cross_attention_cache_update_index": 0,
        }
        step = chunked(x[:, :1], context, **caches)
        self.assertAllCloseNested(dense(x[:, :1], context, **caches), step, **TOLERANCE)
        self.assertEqual(step[0].shape, (2, 1, 16))

    def test_dropout_is_recomputed_identically(self):
        """The recomputed backward drops the same weights as the forward pass."""
        layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5)
        layer(tf.zeros((1, 12, 8)), tf.zeros((1, 12, 8)))
        use_chunked_attention(layer, 4)
        query, key, value = (tf.random.normal((1, 12, 2, 4)) for _ in range(3))
        seed, on = tf.constant([3, 5]), tf.constant(True)

        def plain(q, k, v):  # the same (full) chunks and seeds, without recomputation
            q = q * 0.5  # 1 / √key_dim
            mask = tf.ones((1, 1, 12), tf.int32)
            parts = [
                layer._attend_chunk(q[:, i : i + 4], k, v, mask, seed + [i // 4, 0], on)
                for i in range(0, 12, 4)
            ]
            return tf.concat(parts, axis=1)

        def chunked(q, k, v):
            q = q * 0.5
            return chunked_attention(layer._attend_chunk, q, k, v, None, seed, on, 4)

        results = []
        for function in (plain, chunked):
            with tf.GradientTape() as tape:
                tape.watch([query, key, value])
                output = function(query, key, value)
                loss = tf.reduce_sum(output * tf.cos(output))
            results.append((output, tape.gradient(loss, [query, key, value])))
        self.assertAllCloseNested(results[0], results[1], **TOLERANCE)
        undropped = chunked_attention(
            layer._attend_chunk, query * 0.5, key, value, None, seed, tf.constant(False), 4
        )
        self.assertGreater(float(tf.reduce_max(tf.abs(results[1][0] - undropped))), 1e-3)

    def test_mixed_bfloat16_softmax_in_float32(self):
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        try:
            x = tf.random.normal((2, 13, 16))
            dense, chunked = block_pair(TransformerEncoderBlock, 4, (x,))
            out = tf.function(lambda x: chunked(x, training=True))(x)
            self.assertEqual(out.dtype, tf.bfloat16)
            self.assertEqual(
                chunked._self_attention_layer._float32_softmax.compute_dtype, "float32"
            )
            # bf16 keeps ~3 digits: both paths agree to bf16 rounding.
            self.assertAllClose(dense(x), out, atol=0.1, rtol=0.05)
        finally:
            keras.mixed_precision.set_global_policy(previous)

    def test_config_round_trip_and_bad_arguments(self):
        block = TransformerEncoderBlock(
            intermediate_dim=32, num_heads=2, attention_implementation="chunked",
            attention_chunk_size=4,
        )  # fmt: skip
        self.run_layer_test(block, tf.random.normal((2, 9, 16)), expected_output_shape=(2, 9, 16))
        config = block.get_config()
        self.assertEqual(config["attention_implementation"], "chunked")
        self.assertEqual(config["attention_chunk_size"], 4)
        dense = TransformerEncoderBlock(intermediate_dim=32, num_heads=2)
        self.assertEqual(dense.get_config()["attention_implementation"], "dense")
        with self.assertRaisesRegex(ValueError, "attention_implementation.*'flash'"):
            TransformerEncoderBlock(32, 2, attention_implementation="flash")
        with self.assertRaisesRegex(ValueError, "attention_chunk_size.*0"):
            TransformerEncoderBlock(
                32, 2, attention_implementation="chunked", attention_chunk_size=0
            )

    def test_attention_maps_of_a_chunked_fusion_block(self):
        """`cross_attention_scores` (attention maps) still reads dense probabilities."""
        query, context = tf.random.normal((2, 9, 16)), tf.random.normal((2, 5, 16))
        mask = {"encoder_padding_mask": tf.constant(np.arange(5) < np.array([[5], [2]]))}
        dense, chunked = block_pair(CrossModalFusionBlock, 4, (query, context), **mask)
        self.assertAllClose(
            dense.cross_attention_scores(query, context, **mask),
            chunked.cross_attention_scores(query, context, **mask),
            **TOLERANCE,
        )
        self.assertAllClose(
            dense(query, context, **mask), chunked(query, context, **mask), **TOLERANCE
        )
