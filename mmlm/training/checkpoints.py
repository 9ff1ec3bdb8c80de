"""The backup a run resumes from: the newest checkpoint that reads back whole.

`BackupAndRestore` keeps the last `KEEP_BACKUPS` checkpoints. Before a run restores one,
`recover_backups` reads every tensor of the newest (TensorFlow checks each tensor's CRC32C as it
reads it); a corrupted or truncated one is renamed `*.corrupt`, a warning names its files, and
the run resumes from the newest previous checkpoint that reads back whole.
"""

import glob
import os
import re
import shutil

from mmlm.backend import tf

KEEP_BACKUPS = 2
# What reading a damaged checkpoint raises: DataLossError and others (a bad checksum, a bad
# index), IndexError (a truncated data file, TF 2.21).
_READ_ERRORS = (tf.errors.OpError, ValueError, IndexError, OSError)
_NUMBER = re.compile(r"-(\d+)$")


class CorruptBackupError(RuntimeError):
    """No checkpoint of a backup directory reads back whole (each is named with its error)."""


def verify_checkpoint(prefix):
    """Reads every tensor of the checkpoint `prefix`; raises the read error if one fails."""
    reader = tf.train.load_checkpoint(prefix)
    for name in reader.get_variable_to_shape_map():
        reader.get_tensor(name)


def _candidates(directory):
    """Checkpoint prefixes of `directory`, newest first (by number), the state file's first."""
    try:
        state = tf.train.get_checkpoint_state(directory)
    except (tf.errors.OpError, ValueError):  # an unreadable state file: use the files present
        state = None
    prefixes = []
    if state is not None:
        prefixes += [state.model_checkpoint_path, *state.all_model_checkpoint_paths]
    prefixes += [path[: -len(".index")] for path in glob.glob(os.path.join(directory, "*.index"))]
    unique = {}
    for prefix in prefixes:
        # Every prefix already starts with `directory`: TF joins the state file's relative
        # names to it, and the glob is rooted at it (joining again doubled a relative one).
        unique.setdefault(os.path.normpath(prefix), None)
    latest = list(unique)[:1] if state is not None else []

    def number(prefix):
        match = _NUMBER.search(prefix)
        return int(match.group(1)) if match else -1

    rest = sorted((p for p in unique if p not in latest), key=number, reverse=True)
    return latest + rest


def _set_aside(prefix):
    """Renames the files of checkpoint `prefix` to `*.corrupt`; returns their new names."""
    moved = []
    for path in glob.glob(glob.escape(prefix) + ".*"):
        if not path.endswith(".corrupt"):
            os.replace(path, path + ".corrupt")
            moved.append(path + ".corrupt")
    return moved


def recover_backups(directory, log=print):
    """Points `directory`'s checkpoint state at its newest checkpoint that reads back whole.

    Args:
        directory: a `tf.train.CheckpointManager` directory (the trainer's `backup/chief`).
        log: where the warning about each unreadable checkpoint goes.
    Returns:
        The prefix of the checkpoint to resume from, or None when there is none.
    Raises:
        CorruptBackupError: there are checkpoints, but none reads back whole.
    """
    if not os.path.isdir(directory):
        return None
    for leftover in glob.glob(os.path.join(directory, "*_temp")):  # a write that was cut short
        shutil.rmtree(leftover, ignore_errors=True)
    failures = []
    candidates = _candidates(directory)
    for position, prefix in enumerate(candidates):
        try:
            verify_checkpoint(prefix)
        except _READ_ERRORS as error:
            failures.append((prefix, error))
            continue
        for bad, error in failures:
            moved = _set_aside(bad)
            log(
                f"warning: checkpoint {bad} cannot be read back ({type(error).__name__}: "
                f"{_first_line(error)}); its files are renamed {', '.join(moved) or '(none)'} "
                f"and training resumes from the previous checkpoint {prefix}"
            )
        if failures:
            # Relative names, as CheckpointManager writes them: the run directory can move.
            kept = [os.path.basename(p) for p in reversed(candidates[position:])]
            tf.compat.v1.train.update_checkpoint_state(
                directory, os.path.basename(prefix), all_model_checkpoint_paths=kept
            )
        return prefix
    if failures:
        listed = "; ".join(f"{p}: {_first_line(e)}" for p, e in failures)
        raise CorruptBackupError(
            f"no checkpoint in {directory} reads back whole ({listed}). Move {directory} "
            "aside to train from scratch."
        )
    return None


def _first_line(error):
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]
