"""Outputs written so that a crash or a full disk never leaves a half-written one in place.

A file is written to a hidden sibling (`.partial-PID-TOKEN.NAME`, same folder, so the same
filesystem), flushed, fsynced and renamed over its final name (`os.replace`, atomic on POSIX).
A directory is filled under such a sibling name, gets a manifest (`COMPLETE_MANIFEST`: every
file and its size) and is renamed into place; an older directory of that name is moved aside
first and removed after. A reader therefore finds the previous output or the complete new one,
never a mix, and `check_complete` tells a finished directory from anything else.

A writer killed midway (even SIGKILL) leaves only its sibling; the next writer of the same
path removes the siblings of dead processes (and puts back a directory moved aside if the kill
came between the two renames). A full disk raises `DiskFullError` naming the path.

`kill_point(name)` lets tests SIGKILL a process at a named point (environment variable
`MMLM_KILL_AT`); docs/reliability.md lists the points and the tests that use them.
"""

import contextlib
import errno
import fnmatch
import glob
import json
import os
import shutil
import signal
import threading
import uuid

COMPLETE_MANIFEST = ".mmlm-complete.json"
KILL_AT = "MMLM_KILL_AT"
KILL_DELAY = "MMLM_KILL_DELAY"
_PARTIAL = ".partial-"
_REPLACED = ".replaced-"
_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_kill_counts = {}


class DiskFullError(OSError):
    """No space left on the device while writing an output; the previous output is intact."""

    def __init__(self, path, cause=None):
        self.path = os.path.abspath(path)
        free = _free_bytes(self.path)
        detail = f" ({free} bytes free)" if free is not None else ""
        cause = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        super().__init__(
            errno.ENOSPC,
            f"disk full: no space left on the device writing {self.path}{detail}. Nothing "
            "half-written was kept and any previous output there is intact; free space and "
            f"rerun the same command.{cause}",
        )


class IncompleteOutputError(FileNotFoundError):
    """A directory without the manifest of a finished write, or with files missing from it."""


def kill_point(name):
    """SIGKILLs this process when `MMLM_KILL_AT` is `name` or `name@N` (the N-th time here).

    The point may hold shell wildcards (`write:*.tflite`). With `MMLM_KILL_DELAY=SECONDS` the
    kill comes that long after the point, from a timer thread, while this thread goes on: so
    it can land inside native code that no kill point reaches (TensorFlow's checkpoint writer).

    A test hook: with the variable unset (always, outside tests) it does nothing.
    """
    target = os.environ.get(KILL_AT)
    if not target:
        return
    point, _, nth = target.partition("@")
    if not fnmatch.fnmatchcase(name, point):
        return
    _kill_counts[name] = _kill_counts.get(name, 0) + 1
    if _kill_counts[name] < int(nth or 1):
        return
    delay = float(os.environ.get(KILL_DELAY, "0"))
    if delay <= 0:
        os.kill(os.getpid(), signal.SIGKILL)
        return
    timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL))
    timer.daemon = True
    timer.start()


def is_disk_full(error):
    """Whether `error`, raised while writing, says the device has no space left.

    OSError with ENOSPC/EDQUOT, or TensorFlow's `ResourceExhaustedError`, which is what its
    file writers raise for ENOSPC (SavedModel, checkpoints, summaries; TF 2.21, some with an
    empty message) unless it is about memory.
    """
    if isinstance(error, DiskFullError):
        return True
    if isinstance(error, OSError) and error.errno in _DISK_FULL_ERRNOS:
        return True
    if type(error).__name__ == "ResourceExhaustedError":
        return not any(word in str(error) for word in ("OOM", "alloc", "memory"))
    text = str(error)
    # The last: TFDS's own check of the free space before it writes anything.
    return any(
        words in text
        for words in ("No space left on device", "Disk quota exceeded", "Not enough disk space")
    )


@contextlib.contextmanager
def disk_full_errors(path):
    """Turns a disk-full error of the block (any kind) into `DiskFullError` naming `path`."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as error:
        if is_disk_full(error):
            raise DiskFullError(path, error) from error
        raise


def _partial_name(path, prefix=_PARTIAL):
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f"{prefix}{os.getpid()}-{uuid.uuid4().hex[:8]}.{name}")


def _fsync_directory(folder):
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename is still atomic
    finally:
        os.close(descriptor)


def _fsync_file(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def replaced_file(path):
    """Yields a temporary sibling path to write; on success it replaces `path` atomically.

    For writers that need a file name (Keras `save`, `savefig`). The temporary name ends with
    `path`'s own name, so suffix checks (".keras") pass. On any error the sibling is removed.
    """
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    remove_stale_partials(path)
    temporary = _partial_name(path)
    try:
        with disk_full_errors(path):
            yield temporary
            _fsync_file(temporary)
        kill_point(f"replace:{os.path.basename(path)}")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    _fsync_directory(folder)


def write_bytes(path, data):
    """Writes `data` to `path` atomically (temporary sibling, fsync, rename); returns `path`."""
    with replaced_file(path) as temporary, open(temporary, "wb") as f:
        half = len(data) // 2
        f.write(data[:half])
        f.flush()
        kill_point(f"write:{os.path.basename(path)}")  # a torn write: half the bytes on disk
        f.write(data[half:])
    return path


def write_text(path, text):
    """Writes `text` as UTF-8 to `path` atomically; returns `path`."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path, value, indent=2):
    """Writes `value` as UTF-8 JSON to `path` atomically; returns `path`."""
    return write_text(path, json.dumps(value, indent=indent, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def replaced_directory(path):
    """Yields a temporary sibling directory to fill; on success it becomes `path`.

    The manifest of the finished directory (`COMPLETE_MANIFEST`) is written last, then the
    directory is renamed into place; a previous `path` is moved aside first and deleted after.
    On any error the temporary directory is removed and a previous `path` is left as it was.
    """
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    remove_stale_partials(path)
    temporary = _partial_name(path)
    os.makedirs(temporary)
    try:
        with disk_full_errors(path):
            yield temporary
            kill_point(f"directory_filled:{os.path.basename(path)}")
            _write_manifest(temporary)
        _move_into_place(temporary, path)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _write_manifest(directory):
    files = {}
    for folder, _, names in os.walk(directory):
        for name in names:
            full = os.path.join(folder, name)
            _fsync_file(full)
            files[os.path.relpath(full, directory)] = os.path.getsize(full)
        _fsync_directory(folder)
    files.pop(COMPLETE_MANIFEST, None)
    write_json(os.path.join(directory, COMPLETE_MANIFEST), {"files": dict(sorted(files.items()))})


def _move_into_place(temporary, path):
    aside = None
    if os.path.lexists(path):
        aside = _partial_name(path, _REPLACED)
        os.replace(path, aside)
        kill_point(f"directory_aside:{os.path.basename(path)}")
    os.replace(temporary, path)
    _fsync_directory(os.path.dirname(path))
    if aside is not None:
        if os.path.isdir(aside) and not os.path.islink(aside):
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.remove(aside)


def check_complete(directory):
    """Raises `IncompleteOutputError` unless `directory` holds a finished write's files.

    Every file its manifest lists must exist with the listed size.
    """
    manifest = os.path.join(directory, COMPLETE_MANIFEST)
    try:
        with open(manifest, encoding="utf-8") as f:
            files = json.load(f)["files"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise IncompleteOutputError(
            f"{directory} is not a finished output: its manifest {COMPLETE_MANIFEST} is missing "
            f"or unreadable ({error}); rerun the command that writes it"
        ) from None
    wrong = []
    for name, size in files.items():
        full = os.path.join(directory, name)
        actual = os.path.getsize(full) if os.path.isfile(full) else None
        if actual != size:
            wrong.append(
                f"{name} ({'missing' if actual is None else f'{actual} bytes'}, expected {size})"
            )
    if wrong:
        raise IncompleteOutputError(
            f"{directory} does not match its manifest: {', '.join(wrong[:5])}; rerun the "
            "command that writes it"
        )
    return directory


def _pid_alive(pid):
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _writer_pid(path):
    token = os.path.basename(path).split(".", 2)[1]  # "partial-PID-TOKEN"
    try:
        return int(token.split("-")[1])
    except (IndexError, ValueError):
        return None


def remove_stale_partials(path):
    """Removes what writers of `path` that no longer run left behind; returns the paths.

    A directory moved aside by a writer killed before it put the new one in place is moved
    back when `path` is missing (it was complete: it was the previous output).
    """
    folder, name = os.path.split(os.path.abspath(path))
    removed = []
    for prefix in (_REPLACED, _PARTIAL):
        for leftover in sorted(glob.glob(os.path.join(glob.escape(folder), f"{prefix}*.{name}"))):
            pid = _writer_pid(leftover)
            if pid is not None and _pid_alive(pid):
                continue
            if prefix == _REPLACED and not os.path.lexists(path):
                os.replace(leftover, path)
                continue
            if os.path.isdir(leftover) and not os.path.islink(leftover):
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.remove(leftover)
            removed.append(leftover)
    return removed


def _free_bytes(path):
    folder = path
    while folder and not os.path.exists(folder):
        folder = os.path.dirname(folder)
    try:
        stat = os.statvfs(folder or ".")
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize
