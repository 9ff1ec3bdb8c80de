"""Running `mmlm` in fresh processes: distributed runs, crashes and resumes in tests.

Each process gets a fresh TensorFlow runtime (the CPU can only be split into logical devices
before it starts; a `TF_CONFIG` is read once) and a minimal environment, so that the test
process's state never leaks in.
"""

import glob
import os
import re
import socket
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMOKE_CONFIG = os.path.join(REPO, "configs", "scenes.py") + ":smoke"


def mmlm_command(*args):
    """`python -m mmlm.cli.main ARGS` with this interpreter."""
    return [sys.executable, "-m", "mmlm.cli.main", *args]


def environment(**extra):
    """PATH, HOME and quiet TensorFlow C++ logs, plus `extra` (e.g. TF_CONFIG)."""
    env = {"PATH": os.environ.get("PATH", ""), "TF_CPP_MIN_LOG_LEVEL": "3"}
    if "HOME" in os.environ:
        env["HOME"] = os.environ["HOME"]
    env.update(extra)
    return env


def start(command, env=None, **kwargs):
    """`Popen` of `command` in the repository, capturing text output."""
    return subprocess.Popen(
        command,
        cwd=REPO,
        env=env or environment(),
        stdout=kwargs.pop("stdout", subprocess.PIPE),
        stderr=kwargs.pop("stderr", subprocess.PIPE),
        text=True,
        **kwargs,
    )


def finish(process, timeout, what="process"):
    """Waits for `process`; returns its stdout, or fails showing its output if it failed."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(f"{what} timed out after {timeout} s:\n{_tail(stdout, stderr)}")
    if process.returncode != 0:
        raise AssertionError(f"{what} exited with {process.returncode}:\n{_tail(stdout, stderr)}")
    return stdout


def run(command, timeout, env=None, what=None):
    """Runs `command` to completion; returns its stdout (fails with its output otherwise)."""
    return finish(start(command, env), timeout, what or " ".join(command[2:5]))


def run_together(commands, timeout, log_dir):
    """Runs processes concurrently until all end; fails (ending the others) if one fails.

    Output goes to files in `log_dir` rather than pipes: a worker blocked on a full pipe would
    stall the collective operations of the others.

    Args:
        commands: {name: (command, env)}.
        timeout: seconds for all of them together.
        log_dir: where `<name>.out` and `<name>.err` are written.
    Returns:
        {name: (pid, stdout)}.
    """
    started = {}
    try:
        for name, (command, env) in commands.items():
            with (
                open(os.path.join(log_dir, f"{name}.out"), "w") as out,
                open(os.path.join(log_dir, f"{name}.err"), "w") as err,
            ):
                started[name] = start(command, env, stdout=out, stderr=err)
        deadline = time.monotonic() + timeout
        pending = dict(started)
        while pending:
            for name, process in list(pending.items()):
                if process.poll() is None:
                    continue
                del pending[name]
                if process.returncode != 0:
                    raise AssertionError(
                        f"{name} exited with {process.returncode}:\n{_logs(log_dir, name)}"
                    )
            if pending and time.monotonic() > deadline:
                names = ", ".join(pending)
                raise AssertionError(
                    f"{names} still running after {timeout} s:\n"
                    + "\n".join(_logs(log_dir, name) for name in pending)
                )
            time.sleep(0.5)
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return {name: (p.pid, _read(log_dir, f"{name}.out")) for name, p in started.items()}


def free_ports(count):
    """`count` distinct TCP ports free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def event_files(directory, pid=None):
    """TensorBoard event files below `directory`, optionally only those process `pid` wrote."""
    paths = glob.glob(os.path.join(directory, "**", "events.out.tfevents.*"), recursive=True)
    if pid is None:
        return sorted(paths)
    # events.out.tfevents.<time>.<host>.<pid>.<counter>.v2
    return sorted(p for p in paths if re.search(rf"\.{pid}\.\d+\.v2$", p))


def _read(log_dir, filename):
    with open(os.path.join(log_dir, filename)) as f:
        return f.read()


def _logs(log_dir, name):
    return f"[{name}]\n" + _tail(_read(log_dir, f"{name}.out"), _read(log_dir, f"{name}.err"))


def _tail(stdout, stderr, chars=4000):
    return f"--- stdout ---\n{(stdout or '')[-chars:]}\n--- stderr ---\n{(stderr or '')[-chars:]}"
