"""Read an offline W&B run back from its transaction log (``run-<id>.wandb``), without a server.

W&B writes every record of a run (config, history, summary, artifacts, ...) as a protobuf
``Record`` into a LevelDB-style log: a 7-byte header (``:W&B``, magic, version), then 32 KiB blocks
of chunks, each with a 7-byte header (CRC32, length, type: full / first / middle / last).
``wandb sync`` replays that log to a server; :func:`read_offline_run` folds it into plain Python
(the config, the last value of each summary key, the artifacts with their aliases and files), which
is what tests and scripts on a machine with no W&B server need.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = b":W&B"
BLOCK = 32768
CHUNK_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    """What an offline run recorded."""

    run_id: str
    group: str
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    history_keys: set[str] = field(default_factory=set)
    complete: bool = False  # the log ends with the run's exit record


def records(path: Path) -> list[bytes]:
    """The serialized records of a ``.wandb`` log, in order."""
    data = Path(path).read_bytes()
    if not data.startswith(HEADER):
        raise ValueError(f"{path}: not a W&B transaction log (header {data[:4]!r}, expected {HEADER!r})")
    out: list[bytes] = []
    pending = b""
    pos = 7
    while pos + CHUNK_HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < CHUNK_HEADER:  # block trailer: padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + CHUNK_HEADER])
        if kind == 0 and length == 0:  # zero padding up to the block's end
            pos += left
            continue
        chunk = data[pos + CHUNK_HEADER : pos + CHUNK_HEADER + length]
        pos += CHUNK_HEADER + length
        if kind == FULL:
            out.append(chunk)
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            out.append(pending + chunk)
            pending = b""
        else:
            raise ValueError(f"{path}: unknown chunk type {kind} at byte {pos}")
    return out


def _value(json_text: str) -> Any:
    try:
        return json.loads(json_text)
    except json.JSONDecodeError:
        return json_text


def read_offline_run(run_dir: Path, wait_s: float = 30.0) -> OfflineRun:
    """Fold the records of the offline run in ``run_dir`` (``wandb/offline-run-*``).

    W&B's service process may still be writing the log when the run's ``finish()`` has returned
    (seen on a busy machine: an empty or partial log); this waits up to ``wait_s`` seconds for the
    run's exit record and returns what is there then (``complete`` says whether it came).
    """
    deadline = time.monotonic() + wait_s
    while True:
        run = _fold(run_dir)
        if run.complete or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


def _fold(run_dir: Path) -> OfflineRun:
    from google.protobuf.message import DecodeError
    from wandb.proto import wandb_internal_pb2 as pb

    logs = sorted(Path(run_dir).glob("run-*.wandb"))
    if not logs:
        raise FileNotFoundError(f"{run_dir}: no run-*.wandb transaction log")
    run = OfflineRun(run_id="", group="", name="")
    for raw in records(logs[0]):
        record = pb.Record()
        try:
            record.ParseFromString(raw)
        except DecodeError:  # the last record is still being written
            break
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.run_id, run.group, run.name = record.run.run_id, record.run.run_group, record.run.display_name
            for item in record.run.config.update:
                run.config[item.key] = _value(item.value_json)
        elif kind == "config":
            for item in record.config.update:
                run.config[item.key] = _value(item.value_json)
        elif kind == "summary":
            for item in record.summary.update:
                run.summary[item.key or "/".join(item.nested_key)] = _value(item.value_json)
        elif kind == "history":
            run.history_keys.update(item.key or "/".join(item.nested_key) for item in record.history.item)
        elif kind == "artifact":
            artifact = record.artifact
            run.artifacts.append({
                "name": artifact.name,
                "type": artifact.type,
                "aliases": list(artifact.aliases),
                "files": [entry.path for entry in artifact.manifest.contents],
            })  # fmt: skip
        elif kind == "exit":
            run.complete = True
    return run
