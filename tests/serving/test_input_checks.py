"""Exports without mmlm's in-graph input size checks are found when loaded, and the server
says so naming the model directory. (A real export has every check: test_export.py.)"""

import base64
import os

import requests

from mmlm.serving.input_checks import MissingCheck
from mmlm.serving.model import load_version
from mmlm.serving.model_manager import ModelManager
from mmlm.testing import TestCase
from mmlm.testing.media import bomb_png
from mmlm.testing.serving import build_toy_saved_model, running_server

_TEXT = "tokenizes text rows of any size"


class MissingInputChecksTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        directory = cls.class_directory()
        cls.checked = build_toy_saved_model(os.path.join(directory, "checked"))
        cls.old = build_toy_saved_model(os.path.join(directory, "old"), input_checks=False)

    def test_found_per_signature_input(self):
        self.assertEqual((), load_version(self.checked, "toy", 1).missing_checks)
        missing = load_version(self.old, "toy", 1).missing_checks
        image = "decodes images of any size"
        self.assertEqual(
            [
                ("embed_image_bytes", "image_bytes", "image_too_large"),
                ("embed_text", "text", "text_too_long"),
                ("serving_default", "text", "text_too_long"),
            ],
            [(m.signature, m.input, m.reason) for m in missing],
        )
        self.assertIsInstance(missing[0], MissingCheck)
        self.assertIn(image, missing[0].consequence)
        self.assertEqual(_TEXT, missing[1].consequence)

    def test_the_server_warns_naming_the_directory(self):
        for path, warned in ((self.checked, False), (self.old, True)):
            lines = []
            manager = ModelManager(path, "toy", log=lines.append).start()
            manager.stop()
            log = "\n".join(lines)
            self.assertEqual(warned, "without mmlm's in-graph input size checks" in log, log)
        self.assertIn(f"warning: model 'toy' version 1 ({self.old}) was exported without", log)
        self.assertIn("signature 'embed_image_bytes', input 'image_bytes': no image_too_large", log)
        self.assertIn("signature 'serving_default', input 'text': no text_too_long check", log)
        self.assertIn("export the model again with this mmlm (mmlm export", log)

    def test_what_the_warning_is_about(self):
        # A 6400 x 6400 PNG (41 Mpixels, just over the limit; 123 MB decoded, 30 KB sent): the
        # old toy decodes it and answers, the checked one refuses it.
        bomb = base64.b64encode(bomb_png(6400, 6400)).decode("ascii")
        body = {"signature_name": "embed_image_bytes", "instances": [{"b64": bomb}]}
        for path, status in ((self.old, 200), (self.checked, 400)):
            with running_server(path, name="toy", max_batch_size=1) as server:
                url = f"{server.url}/v1/models/toy:predict"
                self.assertEqual(status, requests.post(url, json=body, timeout=120).status_code)
