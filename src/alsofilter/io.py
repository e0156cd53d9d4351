"""Atomic file writes.

Every result file of the pipeline is written through :func:`atomic_path`: the content goes to a
temporary file in the destination directory, which is moved onto the destination with
``os.replace`` only once it is complete. A crash or an exception therefore never leaves a
half-written file under the final name (Snakemake would otherwise take it for a finished output).
"""
from __future__ import annotations

import contextlib
import json
import os
import pathlib
import tempfile
from typing import Any, Iterator

__all__ = ["atomic_path", "write_text_atomic", "write_bytes_atomic", "write_json_atomic"]


def _default_mode() -> int:
    """Permissions a freshly created file would get (0o666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` when the block succeeds.

    The temporary file keeps the destination's suffix (``foo.csv`` -> ``foo.tmp-XXXX.csv``) so
    writers that infer the format from the name (numpy, matplotlib) behave as for ``path``. Parent
    directories are created. If the block raises, the temporary file is removed and the
    destination is left untouched.
    """
    path = pathlib.Path(path)
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    fd, tmp_name = tempfile.mkstemp(prefix=f"{stem}.tmp-", suffix=suffix, dir=parent)
    os.close(fd)
    tmp = pathlib.Path(tmp_name)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(
                f"atomic write of {path}: the temporary file {tmp} was not written "
                "(did the writer change the file name?)"
            )
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> pathlib.Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    path = pathlib.Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> pathlib.Path:
    """Write ``text`` (UTF-8, line endings exactly as given) to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    # numpy scalars/arrays and paths show up in metrics and configs; write them as plain JSON.
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        np = None
    if np is not None:
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.floating):
            return float(obj)
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> pathlib.Path:
    """Write ``obj`` as JSON (indent 2, sorted keys, trailing newline) to ``path`` atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"
    return write_text_atomic(path, text)
