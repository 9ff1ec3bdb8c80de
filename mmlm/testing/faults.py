"""Faults for tests: a real full filesystem (a small tmpfs) and killing a process at a point.

`small_filesystem` mounts a tmpfs of a given size when the tests run as root where mounting is
allowed (this container, most CI runners with sudo); elsewhere it yields None and the tests
inject ENOSPC at the write layer instead (`inject_disk_full`), saying so in their output.
`crash_at` stops the test's own process at a kill point without killing it (for code that is
slow to start in a subprocess); tests/test_atomic_files.py kills real processes there.
"""

import contextlib
import errno
import fnmatch
import os
import shutil
import signal
import subprocess
import tempfile

from mmlm import atomic_files


@contextlib.contextmanager
def small_filesystem(size_bytes):
    """Yields the mount point of a fresh tmpfs of `size_bytes`, or None if none can be mounted."""
    mount_point = tempfile.mkdtemp(prefix="mmlm-full-")
    mounted = False
    try:
        if shutil.which("mount") and hasattr(os, "geteuid") and os.geteuid() == 0:
            result = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={int(size_bytes)}", "tmpfs", mount_point],
                capture_output=True,
            )
            mounted = result.returncode == 0
        yield mount_point if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", mount_point], capture_output=True)
        shutil.rmtree(mount_point, ignore_errors=True)


def fill(folder, leave_bytes=0):
    """Fills the filesystem of `folder` up to `leave_bytes` free with a file; returns its path."""
    path = os.path.join(folder, "filler.bin")
    stat = os.statvfs(folder)
    size = max(stat.f_bavail * stat.f_frsize - int(leave_bytes), 0)
    with open(path, "wb") as f:
        try:
            f.write(b"\0" * size)
        except OSError as error:  # tmpfs rounds to pages: full is what we want
            if error.errno != errno.ENOSPC:
                raise
    return path


def inject_disk_full(monkeypatch):
    """Makes every atomic write fail with ENOSPC (before the rename), as a full disk would."""

    def no_space(path):
        raise OSError(errno.ENOSPC, "No space left on device (injected)", path)

    monkeypatch.setattr(atomic_files, "_fsync_file", no_space)


class Crash(BaseException):
    """What `crash_at` raises: a BaseException, so no `except Exception` handles it."""


def crash_at(monkeypatch, point):
    """Makes `atomic_files.kill_point(point)` raise `Crash` in this process (see `kill_point`
    for the names). Unlike SIGKILL, the writer then removes its own temporary sibling; what ends
    up under the final names is the same."""

    def crash(name):
        if fnmatch.fnmatchcase(name, point):
            raise Crash(f"crashed at {name}")

    monkeypatch.setattr(atomic_files, "kill_point", crash)


def folder_contents(folder):
    """{relative path: content} of every file below `folder`, to compare outputs: bytes, or
    for a TFRecord file its records parsed as `tf.train.Example`s (their bytes vary between
    identical writes: protobuf does not fix the order of map entries)."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            if ".tfrecord" in name:
                from mmlm.backend import tf

                records = tf.data.TFRecordDataset(path).as_numpy_iterator()
                content = [tf.train.Example.FromString(record) for record in records]
            else:
                with open(path, "rb") as f:
                    content = f.read()
            found[os.path.relpath(path, folder)] = content
    return found


def killed(process):
    """Whether `process` (a finished Popen) ended by SIGKILL."""
    return process.returncode == -signal.SIGKILL
