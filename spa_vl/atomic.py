"""Writers that never leave a half-written file or folder under its final name.

Every file goes to a temp name beside its target and is renamed into place; a folder is built
under a temp name and renamed as a whole. A killed process leaves at most a dot-prefixed temp
entry, which the next run of the same writer removes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import SpaVLError, UsageError

TEMP_PREFIX = ".spa-vl-tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _cleanup_stale(parent: Path, name: str) -> None:
    for stale in parent.glob(f"{TEMP_PREFIX}{name}.*"):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` to ``path`` (same folder, so same device).

    The parent folder is created if needed, and stale temp files of an earlier killed write of the
    same name are removed first. The temp file gets the permissions ``open()`` would give (umask
    applied); on any error it is deleted and ``path`` keeps its old content.

    Parameters
    ----------
    path : str or os.PathLike
        The final file path.
    write : callable of (pathlib.Path) -> object
        Writes the whole content to the temp path it is given; its return value is ignored.

    Returns
    -------
    pathlib.Path
        ``path``, as a ``Path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _cleanup_stale(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a published file is as open() would make it
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    r"""Write UTF-8 text atomically (``\n`` line ends on every platform).

    Parameters
    ----------
    path : str or os.PathLike
        The final file path.
    text : str
        The whole content.

    Returns
    -------
    pathlib.Path
        ``path``, as a ``Path``.
    """
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline="\n"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The final file path.
    data : bytes
        The whole content.

    Returns
    -------
    pathlib.Path
        ``path``, as a ``Path``.
    """
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def check_writable_dir(path: str | os.PathLike, *, overwrite: bool, what: str) -> Path:
    """Refuse an existing non-empty ``path`` unless ``overwrite``; ``what`` names it in the error.

    Parameters
    ----------
    path : str or os.PathLike
        The output folder; it may not exist yet.
    overwrite : bool
        Accept a folder that already holds files.
    what : str
        What the folder is for (e.g. ``"report"``), used in the error messages.

    Returns
    -------
    pathlib.Path
        ``path``, as a ``Path``.

    Raises
    ------
    SpaVLError
        If ``path`` exists and is not a folder.
    UsageError
        If ``path`` is a non-empty folder and ``overwrite`` is false (its parameter is ``overwrite``).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SpaVLError(f"{path} exists and is not a folder: choose another output path for the {what}")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise UsageError(f"{path} already holds files: choose another folder, or pass {{option}} to replace the {what}", parameter="overwrite")
    return path


@contextlib.contextmanager
def staged_dir(path: str | os.PathLike, *, overwrite: bool = False, what: str = "output") -> Iterator[Path]:
    """Yield a temp folder beside ``path``; on success it replaces ``path`` in one rename.

    On error (or a kill) the final path keeps its old content; the temp folder is removed here,
    or by the next call after a kill. Used as a context manager.

    Parameters
    ----------
    path : str or os.PathLike
        The final folder; checked with :func:`check_writable_dir`.
    overwrite : bool, default False
        Replace a folder that already holds files.
    what : str, default "output"
        What the folder is for, used in error messages.

    Yields
    ------
    pathlib.Path
        The empty temp folder to fill; it becomes ``path`` when the ``with`` block exits cleanly.

    Raises
    ------
    SpaVLError
        If ``path`` exists and is not a folder, or (``UsageError``) is a non-empty folder and
        ``overwrite`` is false.
    """
    path = check_writable_dir(path, overwrite=overwrite, what=what)
    path.parent.mkdir(parents=True, exist_ok=True)
    _cleanup_stale(path.parent, path.name)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        if path.exists():
            # Move the old folder aside first so the swap is two renames, never a half-deleted tree.
            old = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{path.name}.", dir=path.parent))
            os.replace(path, old / "old")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

