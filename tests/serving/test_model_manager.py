"""Model versions as TF Serving serves them: a policy over a base directory, polling for new and
removed versions, no answer from a half-loaded version, failed loads, labels, and status and
metadata per version over REST."""

import os
import shutil
import tempfile
import threading

import requests

from mmlm.serving.model_manager import ModelManager, VersionState, load_and_warm_up
from mmlm.serving.version_policy import VersionPolicy
from mmlm.testing import TestCase
from mmlm.testing.serving import add_version, build_toy_saved_model, running_server, wait_until


def _states(manager):
    return {status.version: status.state.value for status in manager.status()}


class VersionTestCase(TestCase):
    """A toy SavedModel per scale (version V's text embedding is V times version 1's)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.directory = cls.class_directory()
        cls.models = {
            v: build_toy_saved_model(os.path.join(cls.directory, f"toy{v}"), scale=float(v))
            for v in (1, 2, 3)
        }

    def setUp(self):
        super().setUp()
        self.base = tempfile.mkdtemp(dir=self.directory, prefix="base")
        self.base = os.path.join(self.base, "toy")
        os.makedirs(self.base)

    def add(self, version, scale=None):
        return add_version(self.models[scale or version], self.base, version)

    def predict(self, server, suffix=""):
        """`POST /v1/models/toy{suffix}:predict` of one `echo` row."""
        response = requests.post(
            f"{server.url}/v1/models/toy{suffix}:predict",
            json={"signature_name": "echo", "instances": ["x"]},
            timeout=30,
        )
        return response

    def scale_of(self, server, suffix=""):
        """Which version answered a text embedding (its scale is its version number)."""
        response = requests.post(
            f"{server.url}/v1/models/toy{suffix}:predict", json={"instances": ["a"]}, timeout=30
        )
        self.assertEqual(200, response.status_code, response.text)
        return max(response.json()["predictions"][0]) or None

    def get(self, server, suffix):
        return requests.get(f"{server.url}/v1/models/toy{suffix}", timeout=30)


class VersionPolicyManagerTest(VersionTestCase):
    def test_policies_pick_versions(self):
        for version in (1, 2, 3):
            self.add(version)
        for policy, expected in (
            ("latest", [3]),
            ("latest:2", [2, 3]),
            ("all", [1, 2, 3]),
            ("specific:1,3,7", [1, 3]),
        ):
            with self.subTest(policy=policy):
                manager = ModelManager(self.base, policy=VersionPolicy.parse(policy)).start()
                self.assertEqual(expected, sorted(manager.served))
                self.assertEqual(max(expected), int(manager.get().version))
                self.assertEqual("toy", manager.name)

    def test_plain_saved_model_is_one_version(self):
        manager = ModelManager(self.models[2], name="m").start()
        self.assertFalse(manager.polls_directory)
        self.assertEqual({1: "AVAILABLE"}, _states(manager))
        numbered = ModelManager(self.add(7, scale=1)).start()  # base/7: version 7 of "toy"
        self.assertEqual(("toy", "7"), (numbered.name, numbered.get().version))

    def test_empty_base_directory_is_an_error(self):
        with self.assertRaisesRegex(FileNotFoundError, "numeric version subdirectories"):
            ModelManager(self.base).start()
        os.makedirs(os.path.join(self.base, "1"))  # no saved_model.pb yet: not a version
        with self.assertRaisesRegex(FileNotFoundError, "numeric version subdirectories"):
            ModelManager(self.base).start()

    def test_failed_load_keeps_the_old_version_and_retries_once_the_directory_changes(self):
        self.add(1)
        manager = ModelManager(self.base).start()
        broken = os.path.join(self.base, "2")
        os.makedirs(broken)
        with open(os.path.join(broken, "saved_model.pb"), "wb") as f:
            f.write(b"not a SavedModel")
        manager.poll()
        self.assertEqual({1: "AVAILABLE", 2: "END"}, _states(manager))
        self.assertTrue(manager.status(2)[0].error)
        self.assertEqual("1", manager.get().version)  # latest:1, yet 1 stays: 2 failed
        with self.assertRaisesRegex(LookupError, "version 2 .* not available \\(state END: "):
            manager.get(2)
        calls = []
        manager._loader = lambda *args: calls.append(args) or load_and_warm_up(*args)
        manager.poll()
        self.assertEqual([], calls)  # unchanged since it failed: not tried again
        shutil.rmtree(broken)
        self.add(2)
        manager.poll()
        self.assertEqual({1: "END", 2: "AVAILABLE"}, _states(manager))
        self.assertEqual(1, len(calls))

    def test_policy_naming_no_present_version_is_an_error(self):
        self.add(1)
        policy = VersionPolicy.parse("specific:7")
        with self.assertRaisesRegex(RuntimeError, "specific:7 names none of those present \\(1\\)"):
            ModelManager(self.base, policy=policy).start()

    def test_no_version_loads_is_an_error(self):
        os.makedirs(os.path.join(self.base, "1"))
        with open(os.path.join(self.base, "1", "saved_model.pb"), "wb") as f:
            f.write(b"garbage")
        with self.assertRaisesRegex(RuntimeError, "no version of model 'toy' could be loaded"):
            ModelManager(self.base).start()


class VersionServingTest(VersionTestCase):
    def test_new_versions_are_polled_and_removed_ones_unloaded(self):
        self.add(1)
        with running_server(self.base, poll_seconds=0.05) as server:
            self.assertEqual(1, self.scale_of(server))
            self.add(2)
            wait_until(lambda: server.manager.served.keys() == {2}, what="version 2 alone")
            self.assertEqual(2, self.scale_of(server))
            self.assertEqual(2, self.scale_of(server, "/versions/2"))
            old = self.predict(server, "/versions/1")
            self.assertEqual(404, old.status_code)
            self.assertIn("version 1 of model 'toy' is not available (state END)", old.text)
            status = self.get(server, "").json()["model_version_status"]
            self.assertEqual(
                [("1", "END", "OK"), ("2", "AVAILABLE", "OK")],
                [(s["version"], s["state"], s["status"]["error_code"]) for s in status],
            )

    def test_policy_all_unloads_deleted_versions(self):
        for version in (1, 2):
            self.add(version)
        config = {"poll_seconds": 0.05, "version_policy": VersionPolicy.parse("all")}
        with running_server(self.base, **config) as server:
            self.assertEqual((1, 2), (self.scale_of(server, "/versions/1"), self.scale_of(server)))
            shutil.rmtree(os.path.join(self.base, "2"))
            wait_until(lambda: server.manager.served.keys() == {1}, what="version 2 unloaded")
            self.assertEqual(1, self.scale_of(server))

    def test_never_answers_from_a_half_loaded_version(self):
        self.add(1)
        release = threading.Event()

        def slow_loader(directory, name, version):
            if version == 2:
                release.wait(60)  # loading takes as long as the test wants
            return load_and_warm_up(directory, name, version)

        answered, stop = [], threading.Event()

        def client(server):
            while not stop.is_set():
                answered.append(self.scale_of(server))

        with running_server(self.base, loader=slow_loader, poll_seconds=0.05) as server:
            thread = threading.Thread(target=client, args=(server,))
            thread.start()
            try:
                self.add(2)
                wait_until(lambda: _states(server.manager).get(2) == "LOADING")
                loading = self.predict(server, "/versions/2")
                self.assertEqual(404, loading.status_code)
                self.assertIn("is not available (state LOADING)", loading.json()["error"])
                status = self.get(server, "/versions/2").json()["model_version_status"]
                self.assertEqual("LOADING", status[0]["state"])
                self.assertEqual(1, self.scale_of(server))
                release.set()
                wait_until(lambda: server.manager.get().version == "2")
                wait_until(lambda: answered[-1] == 2)
            finally:
                release.set()
                stop.set()
                thread.join()
        self.assertEqual({1, 2}, set(answered))  # every request answered, by 1 then by 2
        first_two = answered.index(2)
        self.assertEqual({2}, set(answered[first_two:]))

    def test_status_metadata_and_labels_per_version(self):
        for version in (1, 2, 3):
            self.add(version)
        config = {
            "version_policy": VersionPolicy.parse("specific:1,2"),
            "version_labels": {"stable": 1, "canary": 2, "gone": 3},
            "poll_seconds": 0,
        }
        with running_server(self.base, **config) as server:
            self.assertEqual(2, self.scale_of(server))  # 3 is not in the policy
            self.assertEqual(1, self.scale_of(server, "/labels/stable"))
            self.assertEqual(2, self.scale_of(server, "/labels/canary"))
            for suffix, version in (("/versions/1", "1"), ("/labels/canary", "2"), ("", "2")):
                with self.subTest(suffix=suffix):
                    metadata = self.get(server, suffix + "/metadata").json()
                    self.assertEqual(version, metadata["model_spec"]["version"])
                    self.assertIn("echo", metadata["metadata"]["signature_def"]["signature_def"])
            one = self.get(server, "/versions/1").json()["model_version_status"]
            self.assertEqual([{"version": "1", "state": "AVAILABLE"}], _short(one))
            both = self.get(server, "").json()["model_version_status"]
            self.assertEqual(["1", "2"], [s["version"] for s in both])
            for suffix, message in (
                ("/labels/nope", "label 'nope' of model 'toy' not found; its labels are: canary"),
                ("/labels/gone", "version 3 of model 'toy' not found; available versions: 1, 2"),
                ("/versions/3/metadata", "version 3 of model 'toy' not found"),
                ("/versions/3", "version 3 of model 'toy' not found; known versions: 1, 2"),
            ):
                with self.subTest(suffix=suffix):
                    response = self.get(server, suffix)
                    self.assertEqual(404, response.status_code, response.text)
                    self.assertIn(message, response.json()["error"])


def _short(statuses):
    return [{"version": s["version"], "state": s["state"]} for s in statuses]


class LoadModelManagerStateTest(TestCase):
    def test_version_state_names_match_tf_serving(self):
        from tensorflow_serving.apis import get_model_status_pb2

        names = get_model_status_pb2.ModelVersionStatus.State.keys()
        self.assertTrue({state.value for state in VersionState} <= set(names))
