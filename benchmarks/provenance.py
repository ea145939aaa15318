"""What every benchmark records about the machine and the code, and how it writes its JSON.

The benchmark scripts (``train_step.py``, ``inference.py``, ``unpool.py``) time different things but must
describe a run the same way, so that two JSON files can be compared: which CPU and instruction sets, how many
cores and threads, how busy the machine was, which library versions, which commit (and whether the tree had
changes), and the command. Each script imports this module after putting ``benchmarks/`` on ``sys.path``,
which Python does for a script run as ``python benchmarks/<name>.py``.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:  # run as a script from a checkout, the package not installed
    sys.path.insert(0, str(REPOSITORY))

from segdemo.files import atomic_path  # noqa: E402
from segdemo.results import cpu_model  # noqa: E402

BFLOAT16_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def physical_cores() -> int:
    """Cores this process may use, counting hyper-threads once (``/proc/cpuinfo``'s core ids)."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:
        available = os.cpu_count() or 1
    cores, physical_id = set(), "0"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("physical id"):
                physical_id = line.split(":", 1)[1].strip()
            elif line.startswith("core id"):
                cores.add((physical_id, line.split(":", 1)[1].strip()))
    except OSError:
        pass
    return max(1, min(available, len(cores) or available))


def cpu_flags(names: tuple[str, ...] = BFLOAT16_FLAGS) -> dict[str, bool]:
    """Which of the instruction sets that decide bfloat16 speed the CPU reports (``/proc/cpuinfo``).

    Returns:
        ``{flag: reported}`` for each of ``names``; empty where ``/proc/cpuinfo`` cannot be read.
    """
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    return {name: name in flags for name in names}


def load_average() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages, rounded; ``None`` where the system has none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def git_state() -> dict[str, object]:
    """The commit and whether tracked files differ from it.

    Returns:
        ``{"git_commit": sha or "unknown", "git_dirty": bool, or None where git cannot tell}``.
    """
    def run_git(*arguments: str) -> str | None:
        try:
            completed = subprocess.run(["git", *arguments], cwd=REPOSITORY, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return completed.stdout.strip() if completed.returncode == 0 else None

    commit = run_git("rev-parse", "HEAD")
    status = run_git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit or "unknown", "git_dirty": None if status is None else bool(status)}


def provenance(*, started: float, load_before: list[float] | None, argv: list[str] | None) -> dict[str, object]:
    """The provenance block of a benchmark's JSON, taken when the timing is over.

    Reads the versions and thread settings of whichever of torch, TensorFlow and Keras the script imported
    (a library it did not import is left out rather than imported here).

    Args:
        started: ``time.perf_counter()`` when the run began; gives ``wall_seconds``.
        load_before: ``load_average()`` when the run began.
        argv: the arguments ``main`` was given, or ``None`` for the command line's.

    Returns:
        A JSON-ready dict: date, platform, CPU, its flags, cores and threads, load averages at both ends, wall
        time, library versions, git state and the command.
    """
    torch, tensorflow, keras = (sys.modules.get(name) for name in ("torch", "tensorflow", "keras"))
    record: dict[str, object] = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cpu_count": os.cpu_count(),
        "physical_cores": physical_cores(),
    }
    if torch is not None:
        record["torch_threads"] = torch.get_num_threads()
    if tensorflow is not None:
        record["tensorflow_intra_op_threads"] = tensorflow.config.threading.get_intra_op_parallelism_threads()
        record["tensorflow_threads_note"] = "0 means TensorFlow's default (one per core)"
    record.update({
        "load_average_start": load_before,
        "load_average_end": load_average(),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "python": platform.python_version(),
        "numpy": sys.modules["numpy"].__version__ if "numpy" in sys.modules else None,
    })
    for name, module in (("torch", torch), ("tensorflow", tensorflow), ("keras", keras)):
        if module is not None:
            record[name] = module.__version__
    record.update(git_state())
    record["command"] = " ".join([Path(sys.argv[0]).name, *(sys.argv[1:] if argv is None else argv)])
    return record


def json_safe(value):
    """``value`` with every NaN and infinity replaced by ``None`` (strict JSON), through dicts, lists and tuples."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def write_record(record: dict, path: Path) -> None:
    """Writes ``record`` as indented strict JSON to ``path`` atomically (a killed run leaves the old file).

    Raises:
        ValueError: ``record`` holds a NaN or an infinity; pass it through ``json_safe`` first.
    """
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
