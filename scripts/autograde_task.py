"""Autograde one student's submission of one assignment in a private course.

This is the task that ``autograde_parallel.py`` sends to the Dask workers, one
per (student, assignment). It touches neither the course folder nor the shared
gradebook, so any number of them can run at once, on any machine that has the
course's Python environment, and a task that dies halfway leaves nothing to
clean but its own scratch folder:

1. in a new scratch folder it writes a private course: ``nbgrader_config.py``,
   ``source/<assignment>/`` (the files nbgrader copies over the student's, such
   as data files), the student's ``submitted/<student>/<assignment>/``, and a
   private SQLite gradebook holding the assignment's definition
   (``gradebook_sync.create_gradebook``);
2. it runs ``nbgrader autograde <assignment> --student <student> --force``
   there, killed (with its kernel) after ``task_timeout`` seconds; cells that
   run past ``c.Execute.timeout`` are interrupted by nbgrader and score zero;
3. it returns a plain dict: the status (``graded`` or ``failed``, with the kind
   of failure), the autograded files, the submission's rows of the private
   gradebook, the number of cells stopped at the time limit, the log.

The coordinator commits the result (``gradebook_sync.commit_submission``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts import gradebook_sync

Files = dict[str, tuple[int, bytes]]  # relative path -> (mode, content)

# nbclient's log line when a cell runs past c.Execute.timeout and is interrupted
CELL_TIMEOUT = "Timeout waiting for execute reply"
BROKEN_NOTEBOOK = re.compile(
    r"NotJSONError|does not appear to be JSON|nbformat\.validator|ValidationError"
    r"|Unreadable Notebook|JSONDecodeError|UnicodeDecodeError"
)
FAILURE_KINDS = (
    ("broken notebook", BROKEN_NOTEBOOK),
    ("unresponsive kernel", re.compile(r"UnresponsiveKernelError|became unresponsive")),
    ("kernel died", re.compile(r"DeadKernelError|Kernel died")),
)


def read_files(folder: Path, max_kb: float | None = None) -> Files:
    """Every file under ``folder`` (at most ``max_kb`` kB each, as nbgrader)."""
    out: Files = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if max_kb and path.stat().st_size > 1000 * max_kb:
            continue
        out[path.relative_to(folder).as_posix()] = (
            path.stat().st_mode & 0o777,
            path.read_bytes(),
        )
    return out


def write_files(folder: Path, files: Files, modes: bool = False) -> None:
    """Write ``files`` under ``folder`` (with their modes if ``modes``)."""
    for rel, (mode, content) in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        if modes:
            path.chmod(mode)


def scratch_root() -> str | None:
    """The Dask worker's local folder (Dask clears those of dead workers)."""
    try:
        from distributed import get_worker

        return get_worker().local_directory
    except (ImportError, ValueError):
        return None


def _kill_tree(pid: int) -> None:
    """Kill a process, its children (the kernel) and its process group."""
    try:
        import psutil

        procs = psutil.Process(pid).children(recursive=True)
    except Exception:  # psutil missing or the process gone
        procs = []
    for proc in procs:
        try:
            proc.kill()
        except Exception:
            pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _die_with_parent() -> list[str]:
    """A command prefix that kills nbgrader if this worker dies (Linux setpriv)."""
    if sys.platform.startswith("linux") and shutil.which("setpriv"):
        return ["setpriv", "--pdeathsig", "KILL", "--"]
    return []


def run_nbgrader(args, cwd: Path, env: dict, timeout: float):
    """``(exit code, log, timed out)`` of ``nbgrader ARGS``, killed at ``timeout`` s."""
    cmd = [*_die_with_parent(), sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out, False
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        out, _ = proc.communicate()
        return proc.returncode, out, True


def failure_kind(log: str) -> str:
    for kind, pattern in FAILURE_KINDS:
        if pattern.search(log):
            return kind
    return "nbgrader error"


def failure_message(log: str) -> str:
    """The most telling line of a failed nbgrader log."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if BROKEN_NOTEBOOK.search(line) and "Traceback" not in line:
            return line[-300:]
    for line in lines:
        if "[ERROR]" in line and "There was an error processing" not in line:
            return line[-300:]
    return lines[-1][-300:] if lines else "(no output)"


def assignment_data(bundle: dict) -> dict:
    """The task holding an assignment's bundle on the cluster (Dask can re-run it)."""
    return bundle


def grade_submission(bundle: dict, submission: dict) -> dict:
    """Grade one submission; see the module docstring. Returns a plain dict.

    ``bundle``: what every submission of the assignment needs (``assignment``,
    ``config`` bytes, ``source`` files, gradebook ``definition`` rows, ``env``
    overrides, ``task_timeout`` in seconds); ``submission``: ``student``, its
    ``student_row`` and ``files``.
    """
    start = time.perf_counter()
    a, s = bundle["assignment"], submission["student"]
    result = {
        "assignment": a,
        "student": s,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    work = Path(tempfile.mkdtemp(prefix=f"autograde-{a}-{s}-", dir=scratch_root()))
    try:
        (work / "nbgrader_config.py").write_bytes(bundle["config"])
        write_files(work / "source" / a, bundle["source"])
        write_files(work / "submitted" / s / a, submission["files"])
        url = f"sqlite:///{work / 'gradebook.db'}"
        gradebook_sync.create_gradebook(
            url, bundle["definition"], [submission["student_row"]]
        )
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
        env.update(bundle["env"])
        env["MI_GRADEBOOK_URL"] = url
        code, log, timed_out = run_nbgrader(
            [
                "autograde",
                a,
                "--student",
                s,
                "--force",
                f"--CourseDirectory.root={work}",
                f"--CourseDirectory.db_url={url}",
            ],
            work,
            env,
            bundle["task_timeout"],
        )
        engine = gradebook_sync.engine_for(url)
        try:
            rows = gradebook_sync.submission_rows(engine, a, s)
        finally:
            engine.dispose()
        graded = work / "autograded" / s / a
        notebooks = [n["name"] for n in bundle["definition"]["notebook"]]
        submitted = [n for n in notebooks if f"{n}.ipynb" in submission["files"]]
        complete = all((graded / f"{n}.ipynb").exists() for n in submitted)
        if timed_out:
            status, kind = "failed", "timeout"
            message = f"grading took over {bundle['task_timeout']:g} s: stopped"
        elif code != 0 or not complete or rows is None:
            status, kind, message = "failed", failure_kind(log), failure_message(log)
        else:
            status, kind, message = "graded", None, None
        result.update(
            status=status,
            kind=kind,
            message=message,
            rows=rows,
            files=read_files(graded) if status == "graded" else {},
            cell_timeouts=log.count(CELL_TIMEOUT),
            log=log[-20000:],
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["seconds"] = time.perf_counter() - start
    return result
