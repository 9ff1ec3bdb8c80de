"""Presets: the backbone and tasks round-trip; incomplete or foreign presets fail clearly."""

import json
import os

import numpy as np

import mmlm
from mmlm import preset_files
from mmlm.tasks.classification_task import ClassificationTask
from mmlm.testing import TestCase
from mmlm.testing.models import tiny_backbone, tiny_batch


class PresetTest(TestCase):
    def preset(self):
        return os.path.join(self.get_temp_dir(), "preset")

    def test_backbone_round_trip(self):
        backbone, preset = tiny_backbone(), self.preset()
        backbone.save_to_preset(preset)
        revived = mmlm.MultimodalBackbone.from_preset(preset)
        batch = tiny_batch()
        for m in backbone.modalities:
            self.assertAllClose(backbone.embed(m, batch), revived.embed(m, batch))
        metadata = json.load(open(os.path.join(preset, preset_files.METADATA)))
        self.assertEqual(metadata["modalities"], ["text", "image", "audio"])
        self.assertEqual(metadata["mmlm_version"], mmlm.__version__)

    def test_classification_task_round_trip_and_new_head(self):
        backbone, preset = tiny_backbone(), self.preset()
        task = ClassificationTask(backbone, "image", num_classes=3, label_feature="label")
        batch = tiny_batch()
        logits = task(batch)
        task.save_to_preset(preset)
        revived = ClassificationTask.from_preset(preset)
        self.assertAllClose(logits, revived(batch))
        fresh = ClassificationTask.from_preset(
            preset, modality="text", num_classes=5, label_feature="y"
        )
        self.assertEqual(fresh(batch).shape, (3, 5))
        self.assertAllClose(
            backbone.embed("text", batch), fresh.backbone.embed("text", batch)
        )  # the pretrained backbone, a new head

    def test_task_from_a_backbone_preset_needs_arguments(self):
        preset = self.preset()
        tiny_backbone().save_to_preset(preset)
        with self.assertRaisesRegex(preset_files.PresetError, "holds no task"):
            ClassificationTask.from_preset(preset)

    def test_incomplete_and_foreign_presets(self):
        preset = self.preset()
        with self.assertRaisesRegex(preset_files.PresetError, "no such directory"):
            mmlm.MultimodalBackbone.from_preset(preset)
        tiny_backbone().save_to_preset(preset)
        os.remove(os.path.join(preset, preset_files.BACKBONE))
        with self.assertRaisesRegex(preset_files.PresetError, "missing backbone.keras"):
            mmlm.MultimodalBackbone.from_preset(preset)
        path = os.path.join(preset, preset_files.METADATA)
        metadata = json.load(open(path))
        metadata.update(format_version=99, mmlm_version="9.0.0")
        json.dump(metadata, open(path, "w"))
        with self.assertRaisesRegex(preset_files.PresetError, "format version 99.*mmlm 9.0.0"):
            mmlm.MultimodalBackbone.from_preset(preset)


class PublicApiTest(TestCase):
    def test_every_public_name_resolves(self):
        for name in mmlm.__all__:
            self.assertIsNotNone(getattr(mmlm, name), name)
        self.assertIs(mmlm.Backbone, mmlm.MultimodalBackbone)
        self.assertIs(mmlm.keras.layers.Layer, mmlm.MultimodalPreprocessor.__mro__[1])
        with self.assertRaisesRegex(AttributeError, "no attribute 'Nope'"):
            mmlm.Nope  # noqa: B018

    def test_names_are_documented(self):
        for name in mmlm.__all__:
            if name not in ("keras", "__version__"):
                self.assertTrue(getattr(mmlm, name).__doc__, f"{name} has no docstring")
        self.assertTrue(np.all([name in mmlm.__doc__ for name in mmlm.__all__ if name[0] != "_"]))
