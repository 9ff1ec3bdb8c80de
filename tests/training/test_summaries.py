"""TensorBoard media, projector and hparams summaries, read back from the written files."""

import enum
import os

import numpy as np
from google.protobuf import text_format
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins import base_plugin, projector
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import summary_v2 as hp  # `api` would import Keras 3 first
from tensorboard.plugins.projector.projector_plugin import ProjectorPlugin

from mmlm.backend import keras, tf
from mmlm.testing import TestCase
from mmlm.training.summaries import (
    MediaSummary,
    attention_images,
    flatten_hparams,
    spectrogram_images,
    write_attention_maps,
    write_hparams,
    write_media,
    write_projector,
)


def _read(log_dir):
    accumulator = EventAccumulator(log_dir, size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def _media(accumulator, tag):
    """(plugin name, decoded examples) of the one event of `tag`."""
    (event,) = accumulator.Tensors(tag)
    values = tf.make_ndarray(event.tensor_proto)
    plugin = accumulator.SummaryMetadata(tag).plugin_data.plugin_name
    if plugin == "images":  # [width, height, png, png, ...]
        return plugin, [tf.io.decode_png(png).numpy() for png in values[2:]]
    return plugin, [tf.audio.decode_wav(wav) for wav in values[:, 0]]  # [[wav, label], ...]


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


class SummariesTest(TestCase):
    def test_attention_maps_are_images_of_one_tag_per_layer_modality_and_head(self):
        rng = np.random.default_rng(0)
        maps = {"layer_0/text": rng.uniform(size=(4, 2, 5, 9)).astype(np.float32)}
        maps["layer_0/text"][1] = 0.0  # a padded row: black, not NaN
        tags = write_attention_maps(self.get_temp_dir(), maps, step=7, max_outputs=3)
        self.assertEqual(tags, ["attention/layer_0/text/head_0", "attention/layer_0/text/head_1"])
        accumulator = _read(self.get_temp_dir())
        self.assertEqual(sorted(accumulator.Tags()["tensors"]), tags)
        for head, tag in enumerate(tags):
            plugin, images = _media(accumulator, tag)
            self.assertEqual(plugin, "images")
            self.assertEqual(accumulator.Tensors(tag)[0].step, 7)
            self.assertEqual(len(images), 3)
            for example, image in enumerate(images):
                values = maps["layer_0/text"][example, head]
                scale = -(-64 // 9)  # the longer side (9 keys) reaches 64 pixels
                self.assertEqual(image.shape, (5 * scale, 9 * scale, 1))
                top = values.max() or 1.0
                expected = np.kron(values / top, np.ones((scale, scale)))
                self.assertAllClose(image[..., 0] / 255.0, expected, atol=1 / 255)
        self.assertAllClose(attention_images(maps["layer_0/text"][:, 0]).shape, (4, 40, 72, 1))

    def test_spectrogram_images_put_low_frequencies_at_the_bottom(self):
        rng = np.random.default_rng(0)
        spectrograms = rng.normal(size=(3, 7, 5)).astype(np.float32)  # (B, T, M)
        spectrograms[2] = 100.0 * spectrograms[1] - 40.0  # min-max is per example
        low = spectrograms.min(axis=(1, 2), keepdims=True)
        high = spectrograms.max(axis=(1, 2), keepdims=True)
        expected = ((spectrograms - low) / (high - low)).transpose(0, 2, 1)[:, ::-1, :, None]
        images = spectrogram_images(spectrograms).numpy()
        self.assertEqual(images.shape, (3, 5, 7, 1))
        self.assertAllClose(expected, images, atol=1e-6)
        self.assertAllClose(images[1], images[2], atol=1e-5)
        # Mel bin 0 (lowest frequency) of frame 3 lands in the bottom row, column 3.
        self.assertAllClose(expected[0, -1, 3, 0], images[0, -1, 3, 0])
        self.assertAllEqual(spectrogram_images(np.ones((1, 4, 3))), np.zeros((1, 3, 4, 1)))

    def test_write_media_round_trip(self):
        log_dir = self.get_temp_dir()
        rng = np.random.default_rng(1)
        images = rng.uniform(size=(6, 8, 10, 3)).astype(np.float32)
        mel_rising = np.tile(np.arange(5, dtype=np.float32), (2, 12, 1))  # (B=2, T=12, M=5)
        audio = (0.5 * np.sin(np.linspace(0, 60, 400)))[None].repeat(3, 0).astype(np.float32)
        write_media(
            log_dir, images=images, spectrograms=mel_rising, audio=audio, step=7, max_outputs=4
        )
        accumulator = _read(log_dir)
        self.assertCountEqual(
            ["inputs/images", "inputs/spectrograms", "inputs/audio"],
            accumulator.Tags()["tensors"],
        )
        self.assertEqual(7, accumulator.Tensors("inputs/images")[0].step)

        plugin, decoded = _media(accumulator, "inputs/images")
        self.assertEqual("images", plugin)
        self.assertLen(decoded, 4)  # max_outputs
        self.assertEqual((8, 10, 3), decoded[0].shape)
        self.assertAllClose(images[0] * 255, decoded[0], atol=1)

        plugin, decoded = _media(accumulator, "inputs/spectrograms")
        self.assertEqual("images", plugin)
        self.assertLen(decoded, 2)
        self.assertEqual((5, 12, 1), decoded[0].shape)  # (M, T, 1)
        # Mel bins 4 (top row) down to 0 (bottom row); PNG encoding rounds down.
        self.assertAllClose([255, 191.25, 127.5, 63.75, 0], decoded[0][:, 0, 0], atol=1)

        plugin, decoded = _media(accumulator, "inputs/audio")
        self.assertEqual("audio", plugin)
        self.assertLen(decoded, 3)
        self.assertEqual(16000, int(decoded[0].sample_rate))
        self.assertAllClose(audio[0], decoded[0].audio[:, 0], atol=1e-4)

    def test_write_projector(self):
        log_dir = os.path.join(self.get_temp_dir(), "projector")
        rng = np.random.default_rng(2)
        embeddings = {m: rng.normal(size=(4, 3)) for m in ("text", "image", "audio")}
        labels = ["a red\tcircle", "two\nlines\r\n", b"bytes caption", ""]
        write_projector(log_dir, embeddings, labels)

        with open(os.path.join(log_dir, "metadata.tsv")) as f:
            self.assertEqual("a red circle\ntwo lines\nbytes caption\n<empty>\n", f.read())
        config = projector.ProjectorConfig()
        with open(os.path.join(log_dir, "projector_config.pbtxt")) as f:
            text_format.Parse(f.read(), config)
        names = [embedding.tensor_name for embedding in config.embeddings]
        self.assertEqual(
            [f"{m}_embeddings/.ATTRIBUTES/VARIABLE_VALUE" for m in ("text", "image", "audio")],
            names,
        )
        self.assertEqual({"metadata.tsv"}, {e.metadata_path for e in config.embeddings})
        # The projector finds the checkpoint through the `checkpoint` index file.
        reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(log_dir))
        for modality, name in zip(embeddings, names):
            self.assertAllClose(embeddings[modality], reader.get_tensor(name))
        self.assertIn("projector", _read(log_dir).Tags()["tensors"])  # a TensorBoard run

        with self.assertRaisesRegex(ValueError, "4 labels"):
            write_projector(log_dir, {"text": np.zeros((3, 2))}, labels)

    def test_projector_plugin_finds_a_subdirectory_run(self):
        root = self.get_temp_dir()
        embeddings = {"text": np.ones((2, 3)), "image": np.zeros((2, 3))}
        write_projector(os.path.join(root, "projector"), embeddings, ["a", "b"])
        multiplexer = plugin_event_multiplexer.EventMultiplexer()
        multiplexer.AddRunsFromDirectory(root)
        multiplexer.Reload()
        plugin = ProjectorPlugin(
            base_plugin.TBContext(
                logdir=root,
                multiplexer=multiplexer,
                data_provider=data_provider.MultiplexerDataProvider(multiplexer, root),
            )
        )
        plugin._update_configs()  # what the plugin's HTTP handlers call first
        config = plugin._configs["projector"]
        self.assertEqual(
            [[2, 3], [2, 3]], [list(e.tensor_shape) for e in config.embeddings]
        )  # shapes read from the checkpoint it found
        reader = plugin._get_reader_for_run("projector")
        self.assertAllEqual(np.ones((2, 3)), reader.get_tensor(config.embeddings[0].tensor_name))

    def test_flatten_hparams(self):
        flat = flatten_hparams(
            {
                "data": {"modalities": (Color.RED, Color.BLUE), "image": {"size": np.int64(64)}},
                "lr": 1e-3,
                "mixed": True,
                "seed": None,
            }
        )
        self.assertEqual(
            {
                "data.modalities": "red,BLUE",
                "data.image.size": 64,
                "lr": 1e-3,
                "mixed": True,
                "seed": "None",
            },
            flat,
        )
        self.assertIsInstance(flat["data.image.size"], int)

    def test_write_hparams(self):
        log_dir = self.get_temp_dir()
        metrics = [
            "epoch_val_loss",
            "retrieval/text_to_image/R@1",
            hp.Metric("epoch_loss", group="validation"),
        ]
        write_hparams(log_dir, {"trainer": {"steps": 10, "decay": Color.RED}}, metrics)
        content = _read(log_dir).PluginTagToContent(hparams_metadata.PLUGIN_NAME)

        experiment = hparams_metadata.parse_experiment_plugin_data(
            content[hparams_metadata.EXPERIMENT_TAG]
        )
        self.assertEqual(
            ["trainer.steps", "trainer.decay"], [h.name for h in experiment.hparam_infos]
        )
        self.assertEqual(
            [
                ("", "epoch_val_loss"),
                ("", "retrieval/text_to_image/R@1"),
                ("validation", "epoch_loss"),
            ],
            [(m.name.group, m.name.tag) for m in experiment.metric_infos],
        )
        session = hparams_metadata.parse_session_start_info_plugin_data(
            content[hparams_metadata.SESSION_START_INFO_TAG]
        )
        self.assertEqual(10, session.hparams["trainer.steps"].number_value)
        self.assertEqual("red", session.hparams["trainer.decay"].string_value)

    def test_media_summary_callback_skips_absent_examples(self):
        log_dir = self.get_temp_dir()
        batch = {
            "images": np.random.uniform(size=(3, 6, 6, 3)).astype(np.float32),
            "image_present": np.array([True, False, True]),
            "audio": np.random.uniform(-0.5, 0.5, size=(3, 320)).astype(np.float32),
            "audio_present": np.array([False, True, True]),
        }

        def spectrogram_fn(audio):  # (B, samples) → (B, T=10, M=32)
            return tf.math.log(tf.abs(tf.reshape(audio, (-1, 10, 32))) + 1e-6)

        callback = MediaSummary(log_dir, (batch, None), spectrogram_fn=spectrogram_fn)
        model = keras.Sequential([keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(np.zeros((2, 3)), np.zeros((2, 1)), epochs=1, verbose=0, callbacks=[callback])

        accumulator = _read(log_dir)
        self.assertLen(_media(accumulator, "inputs/images")[1], 2)
        _, spectrograms = _media(accumulator, "inputs/spectrograms")
        self.assertLen(spectrograms, 2)
        self.assertEqual((32, 10, 1), spectrograms[0].shape)
        self.assertLen(_media(accumulator, "inputs/audio")[1], 2)
