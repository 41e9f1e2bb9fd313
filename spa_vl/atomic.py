"""Writers that never leave a half-written file or folder under its final name, nor lose an old one.

Every file goes to a temp name beside its target and is renamed into place. Folders are built
under temp names while an exclusive lock (``filelock``) is held on the output, then published by
renames recorded in a journal first: a run killed between two renames is finished by the next run
of a writer into the same place (every temp folder was complete when the journal was written), and
the user's previous output is never deleted before the new one holds its name.

Temp entries are named ``.spa-vl-tmp-<name>.<host>-<pid>.<random>``: an entry is removed only when
its writer is known to be dead (same host, no such process), so a live run's temp folder is never
touched. Errors of the file system become one line naming the user's path (never a temp name),
what happened and the fix (:func:`describe_os_error`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import filelock

from .errors import OutputError, SpaVLError, UsageError

TEMP_PREFIX = ".spa-vl-tmp-"
#: Prefix of a previous output moved aside while a new one is published.
ASIDE_PREFIX = ".spa-vl-old-"
LOCK_PREFIX = ".spa-vl-lock"
JOURNAL_PREFIX = ".spa-vl-publish"
_HOST = hashlib.blake2b(socket.gethostname().encode(), digest_size=4).hexdigest()
_OWNED = re.compile(r"^(?P<kind>\.spa-vl-(?:tmp|old)-)(?P<name>.+)\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)\.[^.]+$")

#: Test hook: called as ``fault_hook(event, path)`` once the lock is held and the temp folders exist
#: ("staged"), and after each step of a publish ("journal", "aside", "in", "unjournal", "dropped");
#: a test makes it wait or kill the process there. None in normal runs.
fault_hook: Callable[[str, Path], None] | None = None


def _step(event: str, path: Path) -> None:
    if fault_hook is not None:
        fault_hook(event, path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _owner() -> str:
    return f"{_HOST}-{os.getpid()}"  # read at call time: a forked child is another owner


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _dead_owner(entry: str, name: str | None) -> re.Match | None:
    """The parsed name of ``entry`` if it is our temp/aside entry (of ``name``) whose writer is dead."""
    match = _OWNED.match(entry)
    if match is None or (name is not None and match["name"] != name):
        return None
    if match["host"] != _HOST or _alive(int(match["pid"])):
        return None  # another machine's writer (cannot tell) or a live one: never touched
    return match


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _cleanup_stale(parent: Path, name: str | None) -> None:
    """Remove temp entries of dead writers (of ``name``, or of any name); restore orphaned old outputs.

    An old output moved aside is only deleted when its name holds a published output again;
    otherwise it is moved back, so a user's only copy is never deleted.
    """
    try:
        entries = list(os.scandir(parent))  # listed, not globbed: any character is allowed in a name
    except FileNotFoundError:
        return
    for entry in entries:
        match = _dead_owner(entry.name, name)
        if match is None:
            continue
        path = parent / entry.name
        if match["kind"] == ASIDE_PREFIX and not os.path.lexists(parent / match["name"]):
            os.rename(path, parent / match["name"])
        else:
            _remove(path)


def owned_temp_dir(parent: Path, name: str) -> Path:
    """A new temp folder for ``name`` under ``parent``, named by this process (host and pid).

    Temp entries of ``name`` left there by dead processes are removed first, so a killed
    process's folder goes with the next call; a live owner's is never touched.

    Parameters
    ----------
    parent : pathlib.Path
        The folder to make it in (created if missing).
    name : str
        What the folder is for (part of its name).

    Returns
    -------
    pathlib.Path
        The new, empty folder; the caller removes it when done.

    Raises
    ------
    OSError
        If ``parent`` cannot be made or written.
    """
    parent.mkdir(parents=True, exist_ok=True)
    _cleanup_stale(parent, name)
    return Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{name}.{_owner()}.", dir=parent))


def _first_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or ".")


def _check_folder_path(folder: Path, what: str) -> None:
    """Raise :class:`OutputError` if ``folder`` (or the nearest existing folder above it) is a file."""
    existing = _first_existing(folder)
    if not existing.is_dir():
        where = "" if existing == folder else f" ({existing}, on its path, is a file)"
        raise OutputError(f"{folder}{where}: the {what} needs a folder there, but a file has that name: choose another path, or move the file away")


def _cache_hint(path: str, need: str) -> str | None:
    """The environment variable that moves the cache ``path`` lies in, if it lies in one."""
    from .cache import cache_root

    home = Path.home() / ".cache"
    caches = {
        "SPA_VL_CACHE": cache_root(),
        "HF_DATASETS_CACHE": Path(os.environ.get("HF_DATASETS_CACHE") or Path(os.environ.get("HF_HOME") or home / "huggingface") / "datasets"),
        "HF_HUB_CACHE": Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME") or home / "huggingface") / "hub"),
    }
    resolved = Path(os.path.abspath(path))
    for variable, root in caches.items():
        root = Path(os.path.abspath(root.expanduser()))
        if resolved == root or root in resolved.parents:
            return f"set {variable} to {need} (the cache is {root})"
    return None


def _user_path(path: str, renames: Mapping[Path, Path]) -> str:
    """``path`` with a temp folder or file name replaced by the final name it stands for."""
    for tmp, final in renames.items():
        tmp_text = str(tmp)
        if path == tmp_text or path.startswith(tmp_text + os.sep):
            return str(final) + path[len(tmp_text):]
    parts = Path(path).parts
    for i, part in enumerate(parts):  # a temp name we did not create here: its final name
        match = _OWNED.match(part)
        if match is not None:
            return str(Path(*parts[:i], match["name"], *parts[i + 1:]))
    return path


def describe_os_error(
    error: OSError, *, renames: Mapping[Path, Path] | None = None, what: str = "output", where: Path | None = None
) -> str:
    """One line for a file-system error: the user's path (never a temp name), what happened, the fix.

    Parameters
    ----------
    error : OSError
        The error (its ``errno``, ``filename`` and ``strerror`` are read; Arrow's I/O errors,
        which carry the text only, are recognised by it).
    renames : Mapping of Path to Path, optional
        Temp path → final path, for temp folders this run created.
    what : str, default "output"
        What was being written (``"report"``, ``"subset"``), used in the message.
    where : Path, optional
        The path to name when the error carries none (Arrow's I/O errors).

    Returns
    -------
    str
        ``"<path>: <what happened>: <fix>"``.
    """
    text = str(error)
    code = error.errno
    if code is None:
        for candidate in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EISDIR, errno.EEXIST, errno.ENOENT):
            if f"[Errno {candidate}]" in text or os.strerror(candidate) in text:
                code = candidate
                break
    raw = error.filename if error.filename is not None else next(iter(re.findall(r"'([^']+)'", text)), None)
    if raw is None and where is not None:
        raw = str(where)
    path = _user_path(os.fsdecode(raw), renames or {}) if raw is not None else f"the {what}"
    if code in (errno.ENOSPC, errno.EDQUOT):
        fix = (_cache_hint(path, "a folder on a disk with free space") if raw is not None else None) or f"free space there, or write the {what} to another disk"
        return f"{path}: no space left on the device while writing the {what} (nothing was published; earlier output is intact): {fix}"
    if code in (errno.EROFS, errno.EACCES, errno.EPERM):
        happened = "the file system is read-only" if code == errno.EROFS else "permission denied"
        fix = (_cache_hint(path, "a folder you can write to") if raw is not None else None) or f"choose a folder you can write to for the {what}"
        return f"{path}: cannot write there ({happened}): {fix}"
    if code == errno.EISDIR:
        return f"{path}: is a folder, but a file is to be written there: name a file, e.g. {Path(path) / 'out.json'}"
    if code in (errno.EEXIST, errno.ENOTDIR):
        return f"{path}: a file has the name of a folder the {what} needs: choose another path, or move the file away"
    if code == errno.ENOENT and raw is not None and any(os.fsdecode(raw).startswith(str(tmp)) for tmp in (renames or {})):
        return f"{path}: its temp folder was removed by another program while the {what} was written: run the command again"
    return f"{path}: {error.strerror or text}"


def _translated(error: OSError, renames: Mapping[Path, Path], what: str, where: Path | None = None) -> OutputError:
    translated = OutputError(describe_os_error(error, renames=renames, what=what, where=where))
    translated.errno = error.errno
    return translated


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` to ``path`` (same folder, so same device).

    The parent folder is created if needed, and temp files of earlier killed writes of the same
    name are removed first (never those of a live writer). The temp file gets the permissions
    ``open()`` would give (umask applied); on any error it is deleted and ``path`` keeps its old
    content.

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

    Raises
    ------
    OutputError
        If ``path`` is a folder, a file stands where a parent folder belongs, or the file system
        refuses the write (full, read-only): one line naming ``path`` and the fix.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder, but a file is to be written there: name a file, e.g. {path / 'out.json'}")
    _check_folder_path(path.parent, "file")
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _cleanup_stale(path.parent, path.name)
        fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{path.name}.{_owner()}.", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a published file is as open() would make it
        write(tmp)
        os.replace(tmp, path)
    except OutputError:
        _discard(tmp)
        raise
    except OSError as e:
        _discard(tmp)
        raise _translated(e, {tmp: path} if tmp else {}, "file", path) from e
    except BaseException:
        _discard(tmp)
        raise
    return path


def _discard(tmp: Path | None) -> None:
    if tmp is not None:
        tmp.unlink(missing_ok=True)


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
        If ``path`` (or a folder above it) exists and is not a folder (an :class:`OutputError`).
    UsageError
        If ``path`` is a non-empty folder and ``overwrite`` is false (its parameter is ``overwrite``).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} exists and is not a folder: choose another output path for the {what}")
    _check_folder_path(path, what)
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise UsageError(f"{path} already holds files: choose another folder, or pass {{option}} to replace the {what}", parameter="overwrite")
    return path


def make_subfolder(root: Path, relative: str | os.PathLike) -> Path:
    """Create ``root / relative`` and the folders between, but never ``root`` itself.

    Writers call this inside a temp folder: if the temp folder has vanished, recreating it would
    publish a partial output, so it is an error instead.

    Parameters
    ----------
    root : Path
        A folder that must exist (the temp folder being filled).
    relative : str or os.PathLike
        A relative path below ``root``.

    Returns
    -------
    pathlib.Path
        ``root / relative``, an existing folder.

    Raises
    ------
    OutputError
        If ``root`` does not exist.
    """
    if not root.is_dir():
        raise OutputError(f"{_user_path(str(root), {})}: its temp folder {root} was removed while being written: run the command again")
    target = root / relative
    target.mkdir(parents=True, exist_ok=True)
    return target


@contextlib.contextmanager
def output_lock(lock_file: Path, target: Path, *, what: str) -> Iterator[None]:
    """Hold an exclusive lock (``filelock``) on an output; a second writer fails at once.

    Parameters
    ----------
    lock_file : Path
        The lock file (removed before release, so no output folder keeps it).
    target : Path
        The output it guards, for the message.
    what : str
        What the output is, for the message.

    Yields
    ------
    None
        While the lock is held.

    Raises
    ------
    OutputError
        If another process (or thread) holds the lock: it names ``target`` and the fix.
    """
    lock = filelock.FileLock(lock_file, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise OutputError(
            f"{target}: another spa-vl run is writing this {what} now (it holds {lock_file}): wait for it to finish, "
            f"or choose another folder"
        ) from None
    except OSError as e:
        raise _translated(e, {}, what) from e
    try:
        yield
    finally:
        # removed while still held: a waiting peer that opened this inode sees it unlinked and
        # retries on a fresh file (filelock checks st_nlink after flock), so the lock stays exclusive
        with contextlib.suppress(OSError):
            lock_file.unlink()
        lock.release()


def _journal_entries(journal: Path) -> list[dict[str, str]]:
    try:
        return list(json.loads(journal.read_text(encoding="utf-8"))["moves"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise OutputError(f"{journal}: unreadable publish journal ({e.__class__.__name__}): remove it, then check the folders it sits beside") from e


def _roll_forward(root: Path, entries: Sequence[Mapping[str, str]]) -> None:
    """Do the renames of ``entries`` that are not done yet (each step is idempotent)."""
    for entry in entries:
        new, target, old = root / entry["new"], root / entry["target"], root / entry["old"]
        if not os.path.lexists(new):
            continue  # moved in already
        if os.path.lexists(target):
            if os.path.lexists(old):
                raise OutputError(f"{target}: appeared while a publish was interrupted ({old} holds the previous output, {new} the new one): keep the one you want under {target.name}")
            os.rename(target, old)
            _step("aside", target)
        os.rename(new, target)
        _step("in", target)


def recover(root: str | os.PathLike, key: str = "") -> list[Path]:
    """Finish a publish that a killed run left half done (call with the output's lock held).

    Parameters
    ----------
    root : str or os.PathLike
        The folder the outputs are published in.
    key : str, default ""
        The journal's key (:func:`staged_dirs`).

    Returns
    -------
    list of Path
        The outputs the journal named (empty when there was nothing to finish).

    Raises
    ------
    OutputError
        If the journal is unreadable, or the folders contradict it.
    """
    root = Path(root)
    journal = root / f"{JOURNAL_PREFIX}{key}.json"
    if not journal.is_file():
        return []
    entries = _journal_entries(journal)
    _roll_forward(root, entries)
    journal.unlink()
    for entry in entries:
        if os.path.lexists(root / entry["target"]):
            _remove(root / entry["old"])
    return [root / entry["target"] for entry in entries]


def pending_publish(root: str | os.PathLike, key: str = "") -> Path | None:
    """The journal of an interrupted publish in ``root``, if there is one.

    Parameters
    ----------
    root : str or os.PathLike
        The folder the outputs are published in.
    key : str, default ""
        The journal's key.

    Returns
    -------
    Path or None
        The journal file, or None.
    """
    journal = Path(root) / f"{JOURNAL_PREFIX}{key}.json"
    return journal if journal.is_file() else None


def _publish(root: Path, key: str, moves: Sequence[tuple[Path, Path]]) -> None:
    """Rename every temp folder to its target as one step: journal, renames, drop the old ones."""
    journal = root / f"{JOURNAL_PREFIX}{key}.json"
    entries = [
        {"target": target.name, "new": new.name, "old": f"{ASIDE_PREFIX}{target.name}.{_owner()}.{secrets.token_hex(4)}"}
        for new, target in moves
    ]
    atomic_write_text(journal, json.dumps({"moves": entries}, indent=1) + "\n")
    _step("journal", journal)
    _roll_forward(root, entries)
    journal.unlink()
    _step("unjournal", journal)
    for entry in entries:
        _remove(root / entry["old"])
        _step("dropped", root / entry["old"])


@contextlib.contextmanager
def staged_dirs(
    targets: Sequence[str | os.PathLike], *, overwrite: bool = False, what: str = "output", key: str | None = None
) -> Iterator[list[Path]]:
    """Yield one empty temp folder per target; on success all of them are published as one step.

    Entering takes an exclusive lock on the output (a second writer fails at once with a clear
    line), finishes a publish a killed run left half done, removes temp folders of dead runs, and
    checks every target (:func:`check_writable_dir`). On an error inside the ``with`` block the
    temp folders are removed and no target changes; a file-system error is re-raised as one line
    naming the target (:func:`describe_os_error`). On success every temp folder is renamed to its
    target through a journal, so a kill at any point leaves either the old outputs or the new
    ones (finished by the next run), and never loses an old output.

    Parameters
    ----------
    targets : sequence of str or os.PathLike
        Final folders, all in one parent folder.
    overwrite : bool, default False
        Replace targets that already hold files.
    what : str, default "output"
        What a folder is (``"subset"``, ``"report"``), used in messages.
    key : str, optional
        Names the lock and journal files in the parent folder (``.spa-vl-lock<key>``,
        ``.spa-vl-publish<key>.json``); default ``"-<name>"`` of the single target. With a key,
        every dead run's temp entry in the parent is removed, else only those of the targets.

    Yields
    ------
    list of pathlib.Path
        The temp folders, in the order of ``targets``.

    Raises
    ------
    SpaVLError
        A target that is a file, or holds files without ``overwrite`` (:class:`UsageError`);
        another run holding the lock, a full or read-only disk (:class:`OutputError`).
    """
    paths = [Path(t) for t in targets]
    parents = {p.parent for p in paths}
    if len(parents) != 1:
        raise SpaVLError(f"staged folders must share one parent folder, got {sorted(map(str, parents))}")
    root = parents.pop()
    if key is None and len(paths) != 1:
        raise SpaVLError("staged_dirs needs a key for several targets")
    names: list[str | None] = [None] if key is not None else [paths[0].name]
    key = f"-{paths[0].name}" if key is None else key
    _check_folder_path(root, what)
    created = not root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _translated(e, {}, what) from e
    try:
        with _staged_in(root, paths, names, key, overwrite, what) as tmps:
            yield tmps
    except BaseException:
        if created:  # a refused or failed run leaves no empty output folder behind
            with contextlib.suppress(OSError):
                root.rmdir()
        raise


@contextlib.contextmanager
def _staged_in(root: Path, paths: list[Path], names: list[str | None], key: str, overwrite: bool, what: str) -> Iterator[list[Path]]:
    with output_lock(root / f"{LOCK_PREFIX}{key}", paths[0] if len(paths) == 1 else root, what=what):
        tmps: list[Path] = []
        try:
            recover(root, key)
            for name in names:
                _cleanup_stale(root, name)
            for path in paths:
                check_writable_dir(path, overwrite=overwrite, what=what)
            for path in paths:
                tmp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{path.name}.{_owner()}.", dir=root))
                tmps.append(tmp)
                os.chmod(tmp, 0o777 & ~_umask())
            _step("staged", root)
            yield tmps
        except OutputError:
            _drop(tmps)
            raise
        except OSError as e:
            _drop(tmps)
            raise _translated(e, dict(zip(tmps, paths)), what, paths[0] if len(paths) == 1 else root) from e
        except BaseException:
            _drop(tmps)
            raise
        # once the journal exists the temp folders are the new outputs: a failure from here on
        # leaves them to the next run's recover(), never to a delete
        try:
            _publish(root, key, list(zip(tmps, paths)))
        except OutputError:
            raise
        except OSError as e:
            raise _translated(e, dict(zip(tmps, paths)), what, paths[0] if len(paths) == 1 else root) from e


def _drop(tmps: Sequence[Path]) -> None:
    for tmp in tmps:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(path: str | os.PathLike, *, overwrite: bool = False, what: str = "output") -> Iterator[Path]:
    """Yield a temp folder beside ``path``; on success it replaces ``path`` (:func:`staged_dirs`).

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
        ``overwrite`` is false; another run writing it, or a disk that refuses the write
        (:class:`OutputError`).
    """
    with staged_dirs([path], overwrite=overwrite, what=what) as (tmp,):
        yield tmp
