"""The versions of one model the server answers from, kept in step with a directory.

As TensorFlow Serving does with a model base directory (`models/scenes/1`, `/2`, ...): the
`VersionPolicy` picks versions among the numeric subdirectories holding a SavedModel; a thread
polls the directory every `poll_seconds`, loads new versions (and replays their warmup records)
before answering from them, then unloads the versions the policy no longer names (once one
it names is available: a new version that fails to load leaves the old one serving). A version is
added to the served set only once loaded and warmed up, in one atomic swap, so a request never
meets a half-loaded model; requests already running on an unloaded version finish on it (they
hold a reference). A version that fails to load is reported (state END with its error) and
tried again when its directory changes, e.g. once a writer has finished copying it.

A plain SavedModel directory is served as one fixed version (its own name when numeric, else 1)
and not polled.
"""

import dataclasses
import enum
import logging
import os
import threading

from mmlm.serving.input_checks import describe_missing_checks
from mmlm.serving.model import (
    default_model_name,
    is_version_base,
    list_versions,
    load_version,
    no_model_message,
    resolve_version,
)
from mmlm.serving.version_policy import VersionPolicy
from mmlm.serving.warmup import replay_warmup

logger = logging.getLogger(__name__)


class VersionState(enum.Enum):
    """TF Serving's `ModelVersionStatus.State` names."""

    START = "START"
    LOADING = "LOADING"
    AVAILABLE = "AVAILABLE"
    UNLOADING = "UNLOADING"
    END = "END"


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """Where one version stands.

    Attributes:
        version: the version number.
        state: a `VersionState`.
        error: why loading failed ("" if it did not).
    """

    version: int
    state: VersionState
    error: str = ""

    def to_json(self):
        """One entry of `model_version_status` as TF Serving's REST API writes it."""
        return {
            "version": str(self.version),
            "state": self.state.value,
            "status": {
                "error_code": "UNKNOWN" if self.error else "OK",
                "error_message": self.error,
            },
        }


class VersionNotFoundError(LookupError):
    """The model, version or label a request names is not served; the message says why."""


def load_and_warm_up(directory, name, version):
    """The default loader: `load_version`, then its warmup records replayed."""
    model = load_version(directory, name, version)
    return dataclasses.replace(model, warmup_requests=replay_warmup(model))


class ModelManager:
    """Loads, serves and unloads the versions of one model.

    Args:
        path: a model base directory (numeric version subdirectories) or a SavedModel directory.
        name: the model name in request paths (default: the directory name).
        policy: a `VersionPolicy` (base directories only).
        poll_seconds: how often a base directory is checked for new or removed versions;
            0: only at start.
        labels: {label: version} for `/labels/LABEL` requests (TF Serving's version labels).
        loader: `(directory, name, version) -> ServedModel` (default: load and warm up).
        log: called with a line for each version loaded, unloaded or failed.

    Example:
        manager = ModelManager("models/scenes", policy=VersionPolicy.parse("latest:2"))
        manager.start()          # loads the versions, then polls in a thread
        model = manager.get()    # the highest available version
    """

    def __init__(
        self,
        path,
        name=None,
        policy=VersionPolicy(),
        poll_seconds=1.0,
        labels=None,
        loader=load_and_warm_up,
        log=logger.info,
    ):
        self.path = os.path.abspath(path)
        self.name = name or default_model_name(self.path)
        self.policy = policy
        self.poll_seconds = poll_seconds
        self.labels = dict(labels or {})
        self.polls_directory = is_version_base(self.path)
        self._loader = loader
        self._log = log
        self._serving = {}  # version -> ServedModel; replaced whole, never mutated
        self._status = {}  # version -> VersionStatus
        self._failed = {}  # version -> directory fingerprint of the failed load
        self._lock = threading.Lock()  # guards _serving and _status
        self._poll_lock = threading.Lock()  # one poll at a time
        self._stop = threading.Event()
        self._thread = None

    @classmethod
    def serving(cls, model):
        """A manager answering from one already loaded `ServedModel`, never polling."""
        manager = cls(model.path, model.name, poll_seconds=0)
        manager.polls_directory = False
        version = int(model.version)
        manager._serving = {version: model}
        manager._status = {version: VersionStatus(version, VersionState.AVAILABLE)}
        return manager

    def start(self):
        """Loads the versions to serve, then polls in a daemon thread (base directories).

        Raises:
            FileNotFoundError: if `path` holds no SavedModel.
            RuntimeError: if no version could be loaded (with each version's error).
        """
        self.poll()
        if not self._serving:
            failures = "; ".join(f"version {s.version}: {s.error}" for s in self.status())
            if not failures:
                present = ", ".join(str(v) for v in sorted(list_versions(self.path)))
                failures = (
                    f"the version policy {self.policy} names none of those present ({present})"
                )
            raise RuntimeError(f"no version of model '{self.name}' could be loaded: {failures}")
        if self.polls_directory and self.poll_seconds > 0:
            self._thread = threading.Thread(
                target=self._poll_loop, name="mmlm-versions", daemon=True
            )
            self._thread.start()
        return self

    def stop(self):
        """Stops polling (served versions stay loaded until the manager is dropped)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def poll(self):
        """Loads the versions the policy names that are not served yet, then unloads those it
        no longer names. New versions load first, and nothing is unloaded until one of the
        named versions is available: if a new version fails to load, the old one stays."""
        with self._poll_lock:
            present = self._present_versions()
            aspired = set(self.policy.select(present)) if self.polls_directory else set(present)
            for version in sorted(aspired - set(self._serving)):
                self._load(version, present[version])
            if aspired & set(self._serving):
                for version in sorted(set(self._serving) - aspired):
                    self._unload(version)

    def get(self, version=None, label=None):
        """The `ServedModel` of `version`, of `label`, or the highest available.

        Raises:
            VersionNotFoundError: saying what is served instead.
        """
        serving = self._serving
        if label is not None:
            if label not in self.labels:
                known = ", ".join(sorted(self.labels)) or "none"
                raise VersionNotFoundError(
                    f"label '{label}' of model '{self.name}' not found; its labels are: {known}"
                )
            version = self.labels[label]
        if version is None:
            if not serving:
                raise VersionNotFoundError(f"model '{self.name}' has no version available")
            return serving[max(serving)]
        version = int(version)
        if version in serving:
            return serving[version]
        status = self._status.get(version)
        if status is not None:
            why = f": {status.error}" if status.error else ""
            raise VersionNotFoundError(
                f"version {version} of model '{self.name}' is not available "
                f"(state {status.state.value}{why})"
            )
        raise VersionNotFoundError(
            f"version {version} of model '{self.name}' not found; available versions: "
            + (", ".join(str(v) for v in sorted(serving)) or "none")
        )

    def status(self, version=None):
        """`VersionStatus`es by version (only `version`'s if given; `VersionNotFoundError` if
        it was never seen)."""
        with self._lock:
            statuses = dict(self._status)
        if version is None:
            return [statuses[v] for v in sorted(statuses)]
        if int(version) not in statuses:
            raise VersionNotFoundError(
                f"version {version} of model '{self.name}' not found; known versions: "
                + (", ".join(str(v) for v in sorted(statuses)) or "none")
            )
        return [statuses[int(version)]]

    @property
    def served(self):
        """{version: ServedModel} answering requests now."""
        return dict(self._serving)

    def _present_versions(self):
        if not self.polls_directory:
            directory, version = resolve_version(self.path)
            return {int(version): directory}
        versions = list_versions(self.path)
        if not versions and not self._status:
            raise FileNotFoundError(no_model_message(self.path))
        return versions

    def _load(self, version, directory):
        fingerprint = _fingerprint(directory)
        if self._failed.get(version) == fingerprint:
            return  # failed before and unchanged since: wait for the directory to change
        self._set_status(version, VersionState.LOADING)
        try:
            model = self._loader(directory, self.name, version)
        except Exception as error:  # noqa: BLE001  (reported in the status; others keep serving)
            message = f"{type(error).__name__}: {error}".splitlines()[0]
            self._failed[version] = fingerprint
            self._set_status(version, VersionState.END, message)
            self._log(f"model '{self.name}' version {version} failed to load: {message}")
            return
        self._failed.pop(version, None)
        with self._lock:
            self._serving = {**self._serving, version: model}
            self._status[version] = VersionStatus(version, VersionState.AVAILABLE)
        warmup = (
            f", {model.warmup_requests} warmup requests replayed" if model.warmup_requests else ""
        )
        self._log(f"model '{self.name}' version {version} available from {directory}{warmup}")
        where = f"model '{self.name}' version {version} ({directory})"
        if model.missing_checks:
            self._log(describe_missing_checks(model.missing_checks, where))

    def _unload(self, version):
        self._set_status(version, VersionState.UNLOADING)
        with self._lock:
            self._serving = {v: m for v, m in self._serving.items() if v != version}
            self._status[version] = VersionStatus(version, VersionState.END)
        self._log(f"model '{self.name}' version {version} unloaded")

    def _set_status(self, version, state, error=""):
        with self._lock:
            self._status[version] = VersionStatus(version, state, error)

    def _poll_loop(self):
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:
                logger.exception("polling %s failed", self.path)


def _fingerprint(directory):
    """(path, size, mtime) of every file under `directory`: changes while it is written."""
    entries = []
    for root, _, files in os.walk(directory):
        for file in files:
            path = os.path.join(root, file)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            entries.append((os.path.relpath(path, directory), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))
