"""The machine and its load, as every benchmark and report records them beside its numbers."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import torch

import recsys
from recsys.utils.atomic import write_text_atomic

OUTPUT_ROOT = recsys.REPO_ROOT / "outputs" / "benchmarks"


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as f:
        cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    return cpu


def _ram_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def describe(device: str | torch.device = "cpu") -> dict[str, Any]:
    """CPU, cores, RAM, GPU (when ``device`` is CUDA), library versions, threads and load average."""
    device = torch.device(device)
    return {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": _ram_gb(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "loadavg": os.getloadavg(),
    }


def summary(device: str | torch.device = "cpu") -> str:
    """:func:`describe` as one line for a markdown report."""
    m = describe(device)
    return (
        f"{m['platform']}, {m['cores']} CPU cores ({m['cpu']}), {m['gpu'] or 'no GPU'}, torch {m['torch']}, "
        f"{m['torch_threads']} torch threads, OMP_NUM_THREADS={m['omp_num_threads'] or 'unset'}, "
        f"load average {m['loadavg'][0]:.2f}"
    )


def default_output(name: str) -> Path:
    """``outputs/benchmarks/<name>.json``: where a benchmark writes its JSON unless told otherwise."""
    return OUTPUT_ROOT / f"{name}.json"


def write_json(output: Path, result: Any) -> None:
    """Write ``result`` as indented JSON to ``output`` (atomically) and say so on stderr."""
    write_text_atomic(Path(output), json.dumps(result, indent=2, default=float) + "\n")
    print(f"wrote {output}", file=sys.stderr)


def emit(result: Any, output: Path | None) -> None:
    """Print ``result`` as indented JSON and write it to ``output`` too (unless None)."""
    print(json.dumps(result, indent=2, default=float), flush=True)
    if output is not None:
        write_json(output, result)
