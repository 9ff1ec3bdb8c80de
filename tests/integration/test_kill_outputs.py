"""`mmlm data generate`, `export` (SavedModel, TFLite, preset) and `compress` killed with SIGKILL
at named points (MMLM_KILL_AT, `mmlm.atomic_files.kill_point`) and at a random moment: nothing
half-written is ever left under an output's name, and the same command run again finishes."""

import glob
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


def _start_logged(command, log_path):
    """Starts `command` with its stdout and stderr, unbuffered, going to `log_path`."""
    with open(log_path, "w") as log:
        env = processes.environment(PYTHONUNBUFFERED="1")
        return processes.start(command, env, stdout=log, stderr=subprocess.STDOUT)


def _output(log_path):
    with open(log_path, errors="replace") as f:
        return f.read()


def _wait_for(process, log_path, marker):
    """Waits until `process` prints `marker` (from its start with None); returns the time."""
    deadline = time.monotonic() + TIMEOUT
    while marker is not None and marker not in _output(log_path):
        assert process.poll() is None, f"ended before {marker!r}:\n{_output(log_path)[-3000:]}"
        assert time.monotonic() < deadline, f"no {marker!r} after {TIMEOUT} s"
        time.sleep(0.02)
    return time.monotonic()


def _timed(command, log_path, *markers):
    """Runs `command` uninterrupted; returns {marker: seconds from its start}, with "end"."""
    start = time.monotonic()
    process = _start_logged(command, log_path)
    times = {marker: _wait_for(process, log_path, marker) - start for marker in markers}
    assert process.wait(TIMEOUT) == 0, f"{command} failed:\n{_output(log_path)[-3000:]}"
    return {**times, "end": time.monotonic() - start}


def _kill_between(command, log_path, times, begin, stop, rng, reset=lambda: None):
    """SIGKILLs `command` at a random moment between its outputs `begin` and `stop` (None: its
    start and its end), chosen from `times` (of an uninterrupted run, `_timed`).

    Asserts the kill landed there: the process was still running and had not printed `stop`.
    A run that got past `stop` first (the machine got faster) is redone with half the delay,
    after `reset()`. Returns the output up to the kill.
    """
    window = times[stop or "end"] - times.get(begin, 0.0)
    for attempt in range(4):
        reset()
        process = _start_logged(command, log_path)
        _wait_for(process, log_path, begin)
        delay = rng.uniform(0.05, 0.95) * window / 2**attempt
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        output = _output(log_path)
        if faults.killed(process) and (stop is None or stop not in output):
            last = [line for line in output.replace("\r", "\n").splitlines() if line.strip()]
            print(
                f"seed {SEED}: killed {delay:.2f} s after {begin or 'the start'!r} "
                f"({window:.2f} s to {stop or 'the end'!r} uninterrupted); last output "
                f"{(last or [''])[-1][:160]!r}"
            )
            return output
    raise AssertionError(f"{command} always got past {stop or 'its end'!r} before the kill")


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
    """Renames each existing folder of `paths` out of the way; returns the new names."""
    moved = []
    for path in paths:
        if os.path.isdir(path):
            moved.append(path + f".old{time.monotonic_ns()}")
            os.rename(path, moved[-1])
    return moved


def _check_data(data_dir, workdir, reference):
    """The prepared data equals an uninterrupted run's (`reference`: its data_dir and workdir,
    moved aside): every example of the data set in order, its metadata, the vocabulary and
    the reports."""
    assert faults.folder_contents(data_dir) == reference[0]
    for name in ("invalid_records.json", "data_report.json"):
        assert faults.folder_contents(workdir)[name] == reference[1][name], name


# What `mmlm data generate` prints: the start of the preparation, then TFDS's around its write.
PREPARING, INGESTING = "preparing manifest-", "Downloading and preparing"
INGESTED = "downloaded and prepared"


@pytest.mark.slow
def test_data_generate_killed_then_rerun(tmp_path):
    import tensorflow_datasets as tfds

    manifest = write_tiny_manifest(str(tmp_path / "manifest"), per_colour=24)
    data_dir, workdir = str(tmp_path / "data"), str(tmp_path / "run")
    command = processes.mmlm_command(
        "data", "generate", "--config", MANIFEST_CONFIG, "--set", f"data.manifest.path={manifest}",
        "--set", f"data.data_dir={data_dir}", "--workdir", workdir,
    )  # fmt: skip
    log = str(tmp_path / "output.txt")
    times = _timed(command, log, PREPARING, INGESTING, INGESTED)  # uninterrupted, from scratch
    print(f"uninterrupted: {json.dumps({k: round(v, 2) for k, v in times.items()})} s")
    info = json.loads(_output(os.path.join(_dataset_dir(data_dir), "dataset_info.json")))
    builder = tfds.builder_from_directory(_dataset_dir(data_dir))
    for split in info["splits"]:  # the reference reads back whole
        assert len(list(builder.as_dataset(split["name"]))) == int(split["shardLengths"][0])
    reference = [faults.folder_contents(path) for path in _move_aside(data_dir, workdir)]
    # After the TFDS data is in place, before its report: the rerun must ingest again.
    _run(command, kill_at="write:invalid_records.json")
    # Writing the vocabulary (half of it on disk): never read as a vocabulary.
    _run(command, kill_at="write:*wordpiece*.txt")
    assert not [n for n in os.listdir(os.path.join(data_dir, "vocabularies")) if n.endswith(".txt")
                and not n.startswith(".")]  # fmt: skip
    _run(command)
    _check_data(data_dir, workdir, reference)
    # At random moments of a run from scratch: inside TFDS's write, then anywhere after the
    # start of the preparation (ingestion, vocabulary, truncation count, reports).
    rng = random.Random(SEED)
    for begin, stop in ((INGESTING, INGESTED), (PREPARING, None)):
        _kill_between(command, log, times, begin, stop, rng, lambda: _move_aside(data_dir, workdir))
        leftovers = glob.glob(os.path.join(data_dir, "*", "*", "incomplete.*"))  # TFDS's
        print(f"TFDS folders the kill left: {leftovers}")
        out = _run(command)
        assert all(f"removed {path}, left by an interrupted" in out for path in leftovers), out
        _check_data(data_dir, workdir, reference)


def _dataset_dir(data_dir):
    (info,) = glob.glob(os.path.join(data_dir, "*", "*", "*", "dataset_info.json"))
    return os.path.dirname(info)


@pytest.mark.slow
def test_export_savedmodel_killed_then_rerun(trained_run, tmp_path):
    workdir, args = trained_run
    out = str(tmp_path / "exports" / "1")
    command = processes.mmlm_command("export", *args, "--workdir", workdir, "--out", out)
    _run(command, kill_at="directory_filled:1")  # written in full, not yet renamed into place
    assert not os.path.exists(out)
    times = _timed(command, str(tmp_path / "output.txt"))
    _check_savedmodel(out)
    # Replacing an export: killed after the old one was moved aside, and at a random moment.
    _run(command, kill_at="directory_aside:1")
    _kill_between(command, str(tmp_path / "output.txt"), times, None, None, random.Random(SEED))
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
    variants = ["float32", "float16", "dynamic_int8", "full_int8", "selective_int8"]
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
