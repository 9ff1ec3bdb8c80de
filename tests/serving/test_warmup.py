"""SavedModel warmup records (`assets.extra/tf_serving_warmup_requests`): written, read with
TF Serving's protos, replayed before a version is served, and a bad file failing the load."""

import os
import shutil

import numpy as np

from mmlm.serving.model import load_version
from mmlm.serving.model_manager import ModelManager
from mmlm.serving.warmup import (
    MAX_WARMUP_RECORDS,
    read_warmup_requests,
    replay_warmup,
    warmup_path,
    write_warmup_requests,
)
from mmlm.testing import TestCase
from mmlm.testing.serving import add_version, build_toy_saved_model, toy_warmup_requests


class WarmupTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.model = build_toy_saved_model(os.path.join(cls.class_directory(), "toy"), warmup=True)

    def copy(self, name):
        return shutil.copytree(self.model, os.path.join(self.get_temp_dir(), name))

    def test_records_round_trip_and_replay(self):
        requests = read_warmup_requests(self.model)
        written = toy_warmup_requests()
        self.assertEqual([n for n, _ in written], [r.model_spec.signature_name for r in requests])
        self.assertEqual(sorted(written[0][1]), sorted(requests[0].inputs))
        model = load_version(self.model, "toy", 1)
        self.assertEqual(0, int(model.loaded.echo_rows.numpy()))
        self.assertEqual(len(written), replay_warmup(model, iterations=2))
        self.assertEqual(2, int(model.loaded.echo_rows.numpy()))  # the echo record ran twice

    def test_no_file_is_no_warmup(self):
        plain = build_toy_saved_model(os.path.join(self.get_temp_dir(), "plain"))
        self.assertFalse(os.path.exists(warmup_path(plain)))
        self.assertEqual(0, replay_warmup(load_version(plain, "plain", 1)))

    def test_bad_warmup_fails_the_load_and_the_old_version_stays(self):
        base = os.path.join(self.get_temp_dir(), "toy")
        add_version(self.model, base, 1)
        manager = ModelManager(base, poll_seconds=0).start()
        self.assertEqual(7, manager.get().warmup_requests)
        bad = self.copy("bad")
        write_warmup_requests(bad, [("nope", {"text": np.array([b"x"], object)})])
        os.rename(bad, os.path.join(base, "2"))
        manager.poll()
        (status,) = manager.status(2)
        self.assertEqual("END", status.state.value)
        self.assertIn("warmup record 0 (signature 'nope')", status.error)
        self.assertIn("there is no signature 'nope'", status.error)
        self.assertEqual("1", manager.get().version)

    def test_unreadable_files(self):
        corrupt = self.copy("corrupt")
        with open(warmup_path(corrupt), "r+b") as f:
            f.seek(20)
            f.write(b"\xff" * 8)
        with self.assertRaisesRegex(ValueError, "corrupt warmup file"):
            read_warmup_requests(corrupt)
        wrong_input = self.copy("wrong_input")
        write_warmup_requests(wrong_input, [("embed_audio", {"audio": np.zeros(3, np.float32)})])
        with self.assertRaisesRegex(ValueError, "expected shape \\[-1, -1\\]"):
            replay_warmup(load_version(wrong_input, "toy", 1))
        with self.assertRaisesRegex(ValueError, f"over the {MAX_WARMUP_RECORDS} allowed"):
            write_warmup_requests(self.get_temp_dir(), toy_warmup_requests() * 200)

    def test_only_predict_logs_are_replayed(self):
        from tensorflow_serving.apis import prediction_log_pb2

        from mmlm.backend import tf

        classify = self.copy("classify")
        log = prediction_log_pb2.PredictionLog(
            classify_log=prediction_log_pb2.ClassifyLog()
        ).SerializeToString()
        with tf.io.TFRecordWriter(warmup_path(classify)) as writer:
            writer.write(log)
        with self.assertRaisesRegex(ValueError, "is a classify_log; this server replays only"):
            read_warmup_requests(classify)
