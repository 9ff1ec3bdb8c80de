"""`mmlm data generate`, `export` (SavedModel, TFLite, preset) and `compress` killed with SIGKILL
at named points (MMLM_KILL_AT, `mmlm.atomic_files.kill_point`) and at a random moment: nothing
half-written is ever left under an output's name, and the same command run again finishes."""

import json
import os
import random
import signal
import subprocess
import time

import pytest

from mmlm import atomic_files
from mmlm.backend import tf
from mmlm.testing import faults, processes
from mmlm.testing.data import untrained_scenes_run, write_tiny_manifest

TIMEOUT = 900
EMBEDDINGS = ("embed_text", "embed_image", "embed_audio")
MANIFEST_CONFIG = os.path.join(processes.REPO, "configs", "manifest.py") + ":smoke"
SEED = int(os.environ.get("MMLM_KILL_SEED", "0")) or random.SystemRandom().randrange(1, 10**6)


def _run(command, kill_at=None):
    """Runs `command`; with `kill_at`, asserts that it died by SIGKILL there."""
    env = processes.environment(**({atomic_files.KILL_AT: kill_at} if kill_at else {}))
    process = processes.start(command, env)
    if kill_at is None:
        return processes.finish(process, TIMEOUT, " ".join(command[3:5]))
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == -signal.SIGKILL, f"not killed at {kill_at}:\n{err[-3000:]}"
    return out


def _run_killed_at_random(command, duration, rng):
    """Starts `command` and SIGKILLs it after a random share of `duration` (a full run's time).

    A run that finishes first (the machine got faster) is redone with half the delay. Returns
    the delay.
    """
    delay = rng.uniform(0.2, 0.8) * duration
    for _ in range(4):
        process = processes.start(command)
        try:
            _, err = process.communicate(timeout=delay)
            assert process.returncode == 0, f"{command} failed:\n{err[-3000:]}"
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.communicate()
            print(f"seed {SEED}: killed after {delay:.1f} s of a {duration:.0f} s run")
            return delay
        delay /= 2
    raise AssertionError(f"{command} always finished before the kill (last delay {delay} s)")


def _timed(command):
    start = time.monotonic()
    _run(command)
    return time.monotonic() - start


def _no_leftovers(folder):
    leftovers = [
        name for name in os.listdir(folder) if name.startswith((".partial-", ".replaced-"))
    ]
    assert leftovers == [], leftovers


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A smoke run directory with an untrained backbone (what export and compress read: its
    config.yaml, model/backbone.keras and preprocessing), shared by this module's tests;
    returns (workdir, config args).

    Built in this process: the weights do not matter here, and a 2-step `mmlm pretrain` took
    over 15 minutes on the shared machine these tests were written on.
    """
    _, workdir = untrained_scenes_run(str(tmp_path_factory.mktemp("trained") / "run"))
    return workdir, ["--config", os.path.join(workdir, "config.yaml")]


def _move_aside(*paths):
    for path in paths:
        if os.path.isdir(path):
            os.rename(path, path + f".old{time.monotonic_ns()}")


def _check_data(data_dir, workdir):
    """The prepared manifest data reads back whole: report, vocabulary, examples."""
    report = json.load(open(os.path.join(workdir, "invalid_records.json")))
    assert report["num_valid"] > 0
    vocabularies = os.listdir(os.path.join(data_dir, "vocabularies"))
    assert [v for v in vocabularies if v.endswith(".txt")], vocabularies
    for name in vocabularies:
        assert not name.startswith(".partial-"), vocabularies


@pytest.mark.slow
def test_data_generate_killed_then_rerun(tmp_path):
    manifest = write_tiny_manifest(str(tmp_path / "manifest"))
    data_dir, workdir = str(tmp_path / "data"), str(tmp_path / "run")
    command = processes.mmlm_command(
        "data", "generate", "--config", MANIFEST_CONFIG, "--set", f"data.manifest.path={manifest}",
        "--set", f"data.data_dir={data_dir}", "--workdir", workdir,
    )  # fmt: skip
    # After the TFDS data is in place, before its report: the rerun must ingest again.
    _run(command, kill_at="write:invalid_records.json")
    # Writing the vocabulary (half of it on disk): never read as a vocabulary.
    _run(command, kill_at="write:*wordpiece*.txt")
    assert not [n for n in os.listdir(os.path.join(data_dir, "vocabularies")) if n.endswith(".txt")
                and not n.startswith(".")]  # fmt: skip
    _run(command)
    _check_data(data_dir, workdir)
    rng = random.Random(SEED)
    _move_aside(data_dir, workdir)
    duration = _timed(command)  # from scratch: ingestion, vocabulary, report
    for _ in range(2):  # fresh data each time, so the kill lands in ingestion or training
        _move_aside(data_dir, workdir)
        _run_killed_at_random(command, duration, rng)
        _run(command)
        _check_data(data_dir, workdir)


@pytest.mark.slow
def test_export_savedmodel_killed_then_rerun(trained_run, tmp_path):
    workdir, args = trained_run
    out = str(tmp_path / "exports" / "1")
    command = processes.mmlm_command("export", *args, "--workdir", workdir, "--out", out)
    _run(command, kill_at="directory_filled:1")  # written in full, not yet renamed into place
    assert not os.path.exists(out)
    duration = _timed(command)
    _check_savedmodel(out)
    # Replacing an export: killed after the old one was moved aside, and at random moments.
    _run(command, kill_at="directory_aside:1")
    _run_killed_at_random(command, duration, random.Random(SEED))
    if os.path.exists(out):
        _check_savedmodel(out)
    _run(command)
    _check_savedmodel(out)
    _no_leftovers(os.path.dirname(out))


def _check_savedmodel(out):
    atomic_files.check_complete(out)
    assert "embed_text" in tf.saved_model.load(out).signatures


@pytest.mark.slow
def test_export_tflite_killed_then_rerun(trained_run, tmp_path):
    from mmlm.serving.on_device_runner import OnDeviceRunner

    workdir, args = trained_run
    out = str(tmp_path / "model.tflite")
    command = processes.mmlm_command("export", *args, "--workdir", workdir, "--format", "tflite")
    _run([*command, "--quantize", "none", "--out", out])
    float_size = os.path.getsize(out)
    _run([*command, "--quantize", "dynamic", "--out", out], kill_at="write:model.tflite")
    assert os.path.getsize(out) == float_size  # the torn write never replaced the file
    OnDeviceRunner(out)
    # The new model in place, its sidecar not yet: the pair is refused, never misread.
    _run([*command, "--quantize", "dynamic", "--out", out], kill_at="replace:model.tflite.json")
    assert os.path.getsize(out) != float_size
    with pytest.raises(ValueError, match="does not belong to"):
        OnDeviceRunner(out)
    _run([*command, "--quantize", "dynamic", "--out", out])
    assert OnDeviceRunner(out).metadata["quantize"] == "dynamic"
    _no_leftovers(str(tmp_path))


@pytest.mark.slow
def test_export_preset_killed_then_rerun(trained_run, tmp_path):
    import mmlm

    workdir, args = trained_run
    out = str(tmp_path / "preset")
    command = processes.mmlm_command(
        "export", *args, "--workdir", workdir, "--format", "preset", "--out", out
    )
    _run(command, kill_at="replace:backbone.keras")  # the backbone written, not renamed
    _run(command, kill_at="write:MODEL_CARD.md")  # the last file, half written
    assert not os.path.exists(out)  # so the rerun is not refused as "exists and not empty"
    _run(command)
    atomic_files.check_complete(out)
    manifest = json.load(open(os.path.join(out, atomic_files.COMPLETE_MANIFEST)))
    assert {"MODEL_CARD.md", "model_card.json"} <= set(manifest["files"])
    mmlm.MultimodalBackbone.from_preset(out)
    mmlm.MultimodalPreprocessor.from_preset(out)
    _no_leftovers(str(tmp_path))


@pytest.mark.slow
def test_compress_killed_then_rerun(trained_run):
    import hashlib

    from mmlm.serving.tflite_runner import TFLiteRunner

    workdir, args = trained_run
    settings = ["compression.qat=False", "compression.pruning_sparsities="]
    settings += ["compression.latency_runs=2", "compression.eval_examples=8"]
    settings += ["compression.representative_examples=4"]
    sets = [part for s in settings for part in ("--set", s)]
    command = processes.mmlm_command("compress", *args, *sets, "--workdir", workdir)
    out_dir = os.path.join(workdir, "compress")
    # Half of the second variant written (each variant is measured before the next is built).
    _run(command, kill_at="write:float16.tflite")
    assert sorted(n for n in os.listdir(out_dir) if not n.startswith(".")) == ["float32.tflite"]
    with open(os.path.join(out_dir, "float32.tflite"), "rb") as f:
        assert TFLiteRunner(f.read()).signatures  # the variant written before the kill is whole
    _run(command)
    report = json.load(open(os.path.join(out_dir, "report.json")))
    variants = ["float32", "float16", "dynamic_int8", "full_int8"]
    assert [row["variant"] for row in report["variants"]] == variants
    for row in report["variants"]:
        with open(row["path"], "rb") as f:
            content = f.read()
        assert row["sha256"] == hashlib.sha256(content).hexdigest()  # the file measured
        assert sorted(TFLiteRunner(content).signatures) == sorted(EMBEDDINGS)
        card = json.load(open(row["path"] + ".model_card.json"))
        assert card["artifact"]["sha256"] == row["sha256"]
    _no_leftovers(out_dir)


@pytest.mark.slow
def test_full_disk_during_export_keeps_the_previous_exports(trained_run):
    from mmlm.config import load_config
    from mmlm.experiments.export import export
    from mmlm.serving.on_device_runner import OnDeviceRunner

    workdir, _ = trained_run
    config = load_config(os.path.join(workdir, "config.yaml"))
    log = []
    with faults.small_filesystem(64 * 1024 * 1024) as mount:
        assert mount is not None, "this test needs a tmpfs (root); see tests/test_atomic_files.py"
        saved_model, tflite = os.path.join(mount, "1"), os.path.join(mount, "model.tflite")
        export(config, workdir, saved_model, log=log.append)
        export(config, workdir, tflite, fmt="tflite", quantize="none", log=log.append)
        old = faults.folder_contents(mount)
        # 512 KB left: the new SavedModel's variables (about 4 MB) and the new .tflite (about
        # 1.2 MB) are cut off part-way through.
        filler = faults.fill(mount, leave_bytes=512 * 1024)
        for out, fmt in ((saved_model, "savedmodel"), (tflite, "tflite")):
            with pytest.raises(atomic_files.DiskFullError) as raised:
                export(config, workdir, out, fmt=fmt, quantize="dynamic", log=log.append)
            assert out in str(raised.value) and "disk full" in str(raised.value)
            print(f"{fmt}: {raised.value}")
        os.remove(filler)
        assert faults.folder_contents(mount) == old  # every file as it was, nothing added
        _check_savedmodel(saved_model)
        assert OnDeviceRunner(tflite).metadata["quantize"] == "none"
