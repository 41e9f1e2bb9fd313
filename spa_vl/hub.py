"""Reading ``sqrti/SPA-VL`` straight from the Hub: one pinned commit, projected byte ranges, honest errors.

* :func:`resolve_repo` turns ``owner/name`` and a revision into a :class:`HubRepo`: the commit sha
  (asked once; every later read uses it, so a push in the middle of a command cannot mix two
  versions), the files with their sizes and content ids, and the card. The answer is also kept
  under ``$SPA_VL_CACHE/hub/`` so that, with ``HF_HUB_OFFLINE=1``, a source read once resolves
  again without the network.
* :class:`HubFile` is a seekable file over HTTP ``Range`` requests without read-ahead: each
  ``read(n)`` fetches at most ``n`` bytes (none this process already holds). pyarrow reads only the column chunks a projection needs
  (one request per chunk: ``pre_buffer`` could merge neighbours, but its asynchronous reads of a
  Python file object were seen to abort the interpreter at exit, so readers leave it off), so
  label and text reads never touch the image pages.
* :func:`read_metadata` fetches a Parquet footer once (two small requests) and keeps it under
  ``$SPA_VL_CACHE/hub/footers/`` by the file's content id, so no command fetches it again.
* Files already in the Hugging Face cache (``hf_hub_download``/``snapshot_download`` at that
  commit) are read from disk instead.
* Each byte is fetched at most once per process: :meth:`HubRepo.fetch` keeps every range it
  fetched in a sparse spill file per repo file, under a temp folder of ``$SPA_VL_CACHE/hub/ranges/``
  owned by this process (removed at exit; a dead process's folder is removed by the next one), and
  asks the Hub only for the parts of a request it does not hold. So a command that reads the text
  columns for its labels and then whole shards for an export fetches the text chunks once; memory
  stays bounded (the bytes are on disk, the index holds two integers per merged range), and the
  disk used is at most the bytes fetched. See :func:`forget_fetched` for long-lived processes.

Requests go through ``huggingface_hub``'s shared HTTP session (its proxies, token and headers)
with a bounded retry of our own (:data:`RETRIES`, honouring ``Retry-After`` up to
:data:`MAX_RETRY_AFTER_S`; logged on the ``spa_vl.hub`` logger, which ``spa-vl --debug`` shows),
and failures become one-line :class:`HubError` messages with the HTTP status, the file's URL,
``HF_ENDPOINT`` when set, and what to do. No body is used or cached before its length (against
``Content-Length`` and the commit's file list) and, for a whole file, its hash (the file list's
LFS sha256 or git blob id, and a sha256 ``ETag``/``X-Linked-Etag``) are checked.
"""

from __future__ import annotations

import atexit
import email.utils
import hashlib
import io
import json
import logging
import os
import re
import shutil
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from .atomic import atomic_write, atomic_write_text, owned_temp_dir
from .cache import cache_root
from .errors import SourceError, SpaVLError

logger = logging.getLogger("spa_vl.hub")

#: What to do when the Hub cannot be used.
MIRROR_HINT = "use a local mirror folder (e.g. source='/data/SPA-VL') or source='sample'"
#: Retries after a failed request (connection error, timeout, 408/429/5xx); waits 0.5 s, 1 s, 2 s ...
RETRIES = int(os.environ.get("SPA_VL_HUB_RETRIES", "2"))
_FIRST_WAIT_S, _MAX_WAIT_S = 0.5, 4.0
#: The longest ``Retry-After`` (seconds) a retry waits for; a longer one fails at once, naming it.
MAX_RETRY_AFTER_S = 30.0
#: How retries wait and what time it is: replaceable, so tests check the schedule without waiting.
sleep = time.sleep
clock = time.time
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_RECORD_VERSION = 1


class HubError(SourceError):
    """A Hub request failed: the message names the status, the URL and the fix."""


def endpoint() -> str:
    """The Hub's URL: ``$HF_ENDPOINT`` read now (so it can be set after import), else huggingface_hub's.

    Returns
    -------
    str
        The base URL without a trailing ``/`` (e.g. ``"https://huggingface.co"``).
    """
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is on (the variable read now wins over the value read at import).

    Returns
    -------
    bool
        True when ``$HF_HUB_OFFLINE`` is ``1``, ``true``, ``yes`` or ``on`` (any case); when the
        variable is unset, huggingface_hub's ``HF_HUB_OFFLINE`` constant.
    """
    flag = os.environ.get("HF_HUB_OFFLINE")
    if flag is not None:
        return flag.strip().lower() in {"1", "true", "yes", "on"}
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _where(url: str) -> str:
    shown = f"{url}" + (f"; HF_ENDPOINT={os.environ['HF_ENDPOINT']}" if os.environ.get("HF_ENDPOINT") else "")
    return f"({shown})"


def _status_error(status: int, reason: str, what: str, url: str, attempts: int) -> HubError:
    if status in (401, 403):
        fix = ("the dataset is gated or private, or your token lacks access: accept its terms on the Hub page and "
               f"log in (`hf auth login` or HF_TOKEN), or {MIRROR_HINT}")
    elif status == 404:
        fix = f"check the id and the revision (the file is not in that commit), or {MIRROR_HINT}"
    elif status in _RETRY_STATUS:
        fix = f"the Hub is unavailable or rate-limiting; retry later, or {MIRROR_HINT}"
    else:
        fix = f"retry later, or {MIRROR_HINT}"
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    return HubError(f"HTTP {status} {reason} reading {what}{tried} {_where(url)}: {fix}")


def _transport_error(error: BaseException, what: str, url: str, attempts: int) -> HubError:
    detail = str(error).splitlines()[0][:120] if str(error) else error.__class__.__name__
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    return HubError(
        f"cannot reach the Hugging Face Hub reading {what}{tried} ({error.__class__.__name__}: {detail}) {_where(url)}: "
        f"check the network and HF_ENDPOINT, retry later, or {MIRROR_HINT}"
    )


def _offline_error(what: str) -> HubError:
    return HubError(f"the Hugging Face Hub is offline (HF_HUB_OFFLINE) and {what} is not cached here: {MIRROR_HINT}")


def describe(error: BaseException, what: str, url: str) -> SpaVLError:
    """A one-line :class:`HubError` for an exception raised by a ``huggingface_hub`` call.

    Parameters
    ----------
    error : BaseException
        What the call raised.
    what : str
        What was being read, for the message (e.g. ``"dataset 'sqrti/SPA-VL'"``).
    url : str
        The URL asked, for the message (an HTTP error's own response URL is used instead).

    Returns
    -------
    SpaVLError
        ``error`` itself when it already is a :class:`~spa_vl.errors.SpaVLError`; else a
        :class:`HubError` naming the offline mode, the HTTP status, the connection failure, or an
        unreadable answer, with ``url`` and the fix.
    """
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(error, SpaVLError):
        return error
    if isinstance(error, OfflineModeIsEnabled):
        return _offline_error(what)
    if isinstance(error, HfHubHTTPError) and error.response is not None:
        return _status_error(error.response.status_code, error.response.reason_phrase, what, str(error.response.url), 1)
    import httpx2

    if isinstance(error, httpx2.TransportError):
        return _transport_error(error, what, url, 1)
    detail = str(error).splitlines()[0][:120] if str(error) else ""
    return HubError(
        f"the Hub's answer about {what} could not be read ({error.__class__.__name__}: {detail}) {_where(url)}: "
        f"check HF_ENDPOINT points at the Hugging Face Hub, retry later, or {MIRROR_HINT}"
    )


def _retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - clock())


def _hex_id(value: str | None) -> str | None:
    """The sha256 (64 hex digits) an ``ETag``/``X-Linked-Etag`` holds, else None (weak or other ETags)."""
    tag = (value or "").strip()
    tag = tag[2:] if tag.startswith("W/") else tag
    tag = tag.strip('"').lower()
    return tag if re.fullmatch(r"[0-9a-f]{64}", tag) else None


def _body_problem(response, data: bytes, size: int | None, content_id: str | None) -> str | None:
    """Why a body must not be used (nor cached): shorter than announced, or not the content it claims."""
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and response.headers.get("Content-Encoding", "identity") == "identity" and len(data) != int(declared):
        return f"{len(data)} of the {int(declared)} bytes its Content-Length announced"
    if size is not None and len(data) != size:
        return f"{len(data)} bytes where the commit's file list says {size}"
    if content_id is None:
        return None
    sha256 = hashlib.sha256(data).hexdigest()
    tags = (_hex_id(r.headers.get(h)) for r in (*response.history, response) for h in ("X-Linked-Etag", "ETag"))
    linked = sorted(t for t in tags if t is not None)
    if linked and sha256 not in linked:
        return f"bytes whose sha256 {sha256[:12]}… differs from the ETag the Hub gave ({linked[0][:12]}…)"
    return _content_problem(data, content_id, sha256)


def _content_problem(data: bytes, content_id: str, sha256: str | None = None) -> str | None:
    """Why ``data`` is not the file whose LFS sha256 (64 hex digits) or git blob id (40) is ``content_id``."""
    sha256 = sha256 or hashlib.sha256(data).hexdigest()
    if len(content_id) == 64 and sha256 != content_id.lower():
        return f"bytes whose sha256 {sha256[:12]}… differs from the file list's {content_id[:12]}…"
    if len(content_id) == 40:  # a git blob id: sha1 of "blob <size>\0" + content
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        if blob != content_id.lower():
            return f"bytes whose git blob id {blob[:12]}… differs from the file list's {content_id[:12]}…"
    return None


def get(url: str, what: str, byte_range: tuple[int, int] | None = None, *, size: int | None = None, content_id: str | None = None) -> bytes:
    """GET ``url`` (``byte_range`` = ``(start, end)``, end exclusive) with bounded retries; bodies checked.

    Connection errors, HTTP 408/429/5xx and bodies that fail their checks are retried
    :data:`RETRIES` times, waiting 0.5 s, 1 s, 2 s ... (at most 4 s), or what a ``Retry-After``
    header asks for when that is at most :data:`MAX_RETRY_AFTER_S` (longer: fail at once, saying
    so); other statuses fail at once. Every body is checked before it is returned (and so before
    any caller can cache it): its length against ``Content-Length``, the range or ``size``, and,
    with ``content_id``, its hash against the file list's id and any sha256 ``ETag``/``X-Linked-Etag``.
    Waits go through :func:`sleep` (tests inject a recorder).

    Parameters
    ----------
    url : str
        The URL to read.
    what : str
        What it is, for error messages (e.g. ``"data/train-00000-of-00008.parquet of sqrti/SPA-VL@…"``).
    byte_range : tuple of (int, int), optional
        ``(start, end)``, end exclusive, sent as a ``Range`` header; the whole body when None.
    size : int, optional
        The whole file's size (a whole-body request): a body of another length is refused.
    content_id : str, optional
        The file's LFS sha256 (64 hex digits) or git blob id (40) when the request covers the
        whole file: a body with another hash is refused.

    Returns
    -------
    bytes
        The body; with ``byte_range``, exactly ``end - start`` bytes (sliced out when the server
        ignores ``Range`` and sends the whole file).

    Raises
    ------
    HubError
        One line: the status (or the connection error, or what was wrong with the body), ``what``
        and ``url``, and the fix. Also when offline (``HF_HUB_OFFLINE``).
    """
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.errors import OfflineModeIsEnabled
    from huggingface_hub.utils import build_hf_headers, get_session

    headers = build_hf_headers()
    if byte_range is not None:
        headers["Range"] = f"bytes={byte_range[0]}-{byte_range[1] - 1}"
    wait = _FIRST_WAIT_S
    for attempt in range(1, RETRIES + 2):
        pause = wait
        try:
            response = get_session().get(url, headers=headers, timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT)
        except OfflineModeIsEnabled:
            raise _offline_error(what) from None
        except httpx2.TransportError as e:
            failure: BaseException | int | str = e
            if attempt > RETRIES:
                raise _transport_error(e, what, url, attempt) from e
        else:
            status = response.status_code
            if status < 400:
                data = response.content
                problem = _body_problem(response, data, size if byte_range is None else None, content_id)
                if problem is None and byte_range is not None:
                    start, end = byte_range
                    if status == 200:  # a server that ignores Range sends the whole file
                        data = data[start:end]
                    if len(data) != end - start:
                        problem = f"{len(data)} bytes for bytes {start}-{end - 1}"
                if problem is None:
                    return data
                if attempt > RETRIES:
                    tried = f" after {attempt} attempts" if attempt > 1 else ""
                    raise HubError(
                        f"the Hub sent {problem} reading {what}{tried} {_where(url)}: the transfer was cut or the file "
                        f"changed; nothing was cached: retry later, or {MIRROR_HINT}"
                    )
                failure = problem
            else:
                asked = _retry_after(response.headers.get("Retry-After")) if status in _RETRY_STATUS else None
                if asked is not None and asked > MAX_RETRY_AFTER_S and status in _RETRY_STATUS:
                    error = _status_error(status, response.reason_phrase, what, url, attempt)
                    raise HubError(f"{error} (the Hub asked to wait {asked:.0f} s before retrying, more than the {MAX_RETRY_AFTER_S:.0f} s spa-vl waits)")
                if status not in _RETRY_STATUS or attempt > RETRIES:
                    raise _status_error(status, response.reason_phrase, what, url, attempt)
                failure, pause = status, wait if asked is None else asked
        logger.debug("retry %d/%d of %s in %.1f s after %s", attempt, RETRIES, url, pause, failure)
        sleep(pause)
        wait = min(_MAX_WAIT_S, wait * 2)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True, eq=False)
class HubRepo:
    """One dataset repository at one commit.

    Attributes
    ----------
    repo_id : str
        ``owner/name``.
    sha : str
        The commit every read uses (40 hex digits).
    endpoint : str
        The Hub URL it was resolved against.
    files : mapping of str to (int, str)
        Every file: path in the repo → (size in bytes, content id: the LFS sha256, else the git blob id).
    card : str
        ``README.md`` text ("" when the repo has none).
    """

    repo_id: str
    sha: str
    endpoint: str
    files: Mapping[str, tuple[int, str]]
    card: str = ""

    def url(self, path: str) -> str:
        """The ``resolve`` URL of a file at this commit.

        Parameters
        ----------
        path : str
            The file's path in the repo (e.g. ``"data/train-00000-of-00008.parquet"``).

        Returns
        -------
        str
            ``<endpoint>/datasets/<repo_id>/resolve/<sha>/<path>``, the path URL-quoted.
        """
        return f"{self.endpoint}/datasets/{self.repo_id}/resolve/{self.sha}/{quote(path)}"

    def describe(self, path: str) -> str:
        """How messages name a file of this repo: ``<path> of <owner/name>@<first 12 digits of sha>``.

        Parameters
        ----------
        path : str
            The file's path in the repo.

        Returns
        -------
        str
            E.g. ``"README.md of sqrti/SPA-VL@0123456789ab"``.
        """
        return f"{path} of {self.repo_id}@{self.sha[:12]}"

    def size(self, path: str) -> int:
        """A file's size in bytes at this commit (from the file list; no request).

        Parameters
        ----------
        path : str
            The file's path in the repo; it must be in :attr:`files` (else ``KeyError``).

        Returns
        -------
        int
            The size in bytes.
        """
        return self.files[path][0]

    def local_copy(self, path: str) -> str | None:
        """The file in the Hugging Face cache at this commit (``hf_hub_download``), if it is there.

        Parameters
        ----------
        path : str
            The file's path in the repo.

        Returns
        -------
        str or None
            The cached file's local path when the cache (``$HF_HUB_CACHE`` or the default) holds
            it at this commit with the expected size; else None.
        """
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(
            self.repo_id, path, cache_dir=os.environ.get("HF_HUB_CACHE"), revision=self.sha, repo_type="dataset"
        )
        return found if isinstance(found, str) and os.path.getsize(found) == self.size(path) else None

    def fetch(self, path: str, start: int | None = None, end: int | None = None) -> bytes:
        """Bytes ``start:end`` of a file (all of it by default); each byte fetched at most once per process.

        A file in the Hugging Face cache at this commit is read from disk. Otherwise only the parts
        of ``start:end`` this process does not hold are fetched (one request each) and kept (see the
        module notes); a whole file put together from held parts is checked against the file list's
        content id, and fetched again in one checked request when it does not match.

        Parameters
        ----------
        path : str
            The file's path in the repo.
        start : int, optional
            First byte (default 0).
        end : int, optional
            End byte, exclusive (default: the file's size).

        Returns
        -------
        bytes
            ``end - start`` bytes.

        Raises
        ------
        HubError
            The file is not in the HF cache and the Hub is offline, or the request fails (see
            :func:`get`).
        """
        local = self.local_copy(path)
        if local is not None:
            with open(local, "rb") as f:
                f.seek(start or 0)
                return f.read(-1 if end is None else end - (start or 0))
        if offline():
            raise _offline_error(self.describe(path))
        size, content = self.files[path]
        first, last = start or 0, size if end is None else end
        if last <= first:
            return b""
        whole = first == 0 and last == size  # the whole file: its hash can be checked
        held = _fetched(self, path)
        if held is None:  # no spill folder could be made: every read asks the Hub
            return self._get(path, first, last, whole)
        with held.lock:
            gaps = held.gaps(first, last)
            if gaps == [(first, last)]:  # nothing of it here: one request, checked as a whole file when it is one
                data = self._get(path, first, last, whole)
                held.add(first, data)
                return data
            fetched = [(a, self._get(path, a, b, False)) for a, b in gaps]
            for a, piece in fetched:
                held.add(a, piece)
            try:
                parts, pos = [], first
                for a, piece in fetched:
                    parts += [held.read(pos, a), piece]
                    pos = a + len(piece)
                data = b"".join([*parts, held.read(pos, last)])
                wrong = whole and bool(content) and _content_problem(data, content) is not None  # an earlier range was not this file
            except OSError as e:  # the spill file cannot be read back
                logger.debug("fetching %s again: %s", self.describe(path), e)
                wrong = True
            if wrong:
                held.forget()
                data = self._get(path, first, last, whole)
                held.add(first, data)
            return data

    def _get(self, path: str, first: int, last: int, whole: bool) -> bytes:
        """One request for bytes ``first:last`` (a whole file's body is checked against its content id)."""
        size, content = self.files[path]
        if whole:
            return get(self.url(path), self.describe(path), size=size, content_id=content or None)
        return get(self.url(path), self.describe(path), (first, last))

    def open(self, path: str) -> HubFile:
        """A seekable binary file over the file's bytes (see :class:`HubFile`).

        Parameters
        ----------
        path : str
            The file's path in the repo; nothing is fetched until it is read.

        Returns
        -------
        HubFile
            Positioned at byte 0.
        """
        return HubFile(self, path)


class HubFile(io.RawIOBase):
    """A read-only, seekable file at one commit; each ``read(n)`` asks :meth:`HubRepo.fetch` for n bytes.

    No read-ahead: the reader asks for exactly the bytes it needs (pyarrow: the column chunks of a
    projection), and the Hub is asked only for the parts of them this process does not hold yet
    (one ``Range`` request per missing part). ``read()`` with no size reads the rest.

    Parameters
    ----------
    repo : HubRepo
        The pinned repository (its file list gives the size).
    path : str
        The file's path in the repo.

    Attributes
    ----------
    repo : HubRepo
        As given.
    path : str
        As given.
    """

    def __init__(self, repo: HubRepo, path: str):
        super().__init__()
        self.repo, self.path = repo, path
        self._size, self._pos = repo.size(path), 0

    def readable(self) -> bool:
        """Whether the file can be read: always.

        Returns
        -------
        bool
            True.
        """
        return True

    def seekable(self) -> bool:
        """Whether the file supports :meth:`seek`: always.

        Returns
        -------
        bool
            True.
        """
        return True

    def tell(self) -> int:
        """The current position.

        Returns
        -------
        int
            The byte offset from the start of the file.
        """
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position (no request is made).

        Parameters
        ----------
        offset : int
            Bytes relative to ``whence``.
        whence : int, default io.SEEK_SET
            ``io.SEEK_SET``, ``io.SEEK_CUR`` or ``io.SEEK_END``.

        Returns
        -------
        int
            The new position, never below 0 (it may lie past the end; reads there give ``b""``).
        """
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes from the position in one ``Range`` request.

        Parameters
        ----------
        size : int or None, default -1
            Bytes wanted; negative or None reads to the end of the file.

        Returns
        -------
        bytes
            At most ``size`` bytes (fewer at the end of the file; ``b""`` at or past it, without a
            request).

        Raises
        ------
        HubError
            The request fails (see :meth:`HubRepo.fetch`).
        """
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        if end <= self._pos:
            return b""
        data = self.repo.fetch(self.path, self._pos, end)
        self._pos = end
        return data

    def readall(self) -> bytes:
        """Read from the position to the end of the file in one request.

        Returns
        -------
        bytes
            The rest of the file.
        """
        return self.read(-1)

    def readinto(self, buffer) -> int:
        """Read up to ``len(buffer)`` bytes into ``buffer``.

        Parameters
        ----------
        buffer : writable bytes-like object
            Filled from its start (e.g. a ``bytearray`` or ``memoryview``).

        Returns
        -------
        int
            The number of bytes written (0 at the end of the file).
        """
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# --- each byte once per process ------------------------------------------------------------------

class _Held:
    """The byte ranges of one repo file this process fetched: a sparse spill file and its merged ranges.

    fsspec's caches do not fit: ``MMapCache``/``BlockCache`` (and ``CachingFileSystem``) fetch whole
    blocks (image pages beside every text chunk a stats read asks for), ``KnownPartsOfAFile``
    keeps every part in memory.
    """

    def __init__(self, spill: Path):
        self.spill, self.lock = spill, threading.Lock()
        self._starts: list[int] = []  # sorted, disjoint, not touching
        self._ends: list[int] = []
        self._file: io.BufferedRandom | None = None

    def gaps(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of ``start:end`` not held, in order."""
        out, pos = [], start
        i = bisect_right(self._ends, start)  # the first range ending after start
        while pos < end and i < len(self._starts) and self._starts[i] < end:
            if self._starts[i] > pos:
                out.append((pos, self._starts[i]))
            pos = max(pos, self._ends[i])
            i += 1
        if pos < end:
            out.append((pos, end))
        return out

    def add(self, start: int, data: bytes) -> None:
        """Keep ``data`` (bytes ``start:start + len(data)``); a full or unwritable disk only costs the keeping."""
        if not data:
            return
        try:
            if self._file is None:
                self._file = open(self.spill, "w+b")  # noqa: SIM115  # held open until forget()
            self._file.seek(start)
            self._file.write(data)
            self._file.flush()
        except OSError as e:
            logger.debug("cannot keep fetched bytes in %s: %s", self.spill, e)
            return
        a, b = start, start + len(data)
        lo, hi = bisect_left(self._ends, a), bisect_right(self._starts, b)  # every range overlapping or touching a:b
        if lo < hi:
            a, b = min(a, self._starts[lo]), max(b, self._ends[hi - 1])
        self._starts[lo:hi], self._ends[lo:hi] = [a], [b]

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``start:end``, which must be held."""
        if end <= start:
            return b""
        assert self._file is not None and not self.gaps(start, end)
        self._file.seek(start)
        data = self._file.read(end - start)
        if len(data) != end - start:
            raise OSError(f"{self.spill} lost bytes {start}-{end - 1}")
        return data

    def forget(self) -> None:
        """Drop every held range and the spill file."""
        self._starts, self._ends = [], []
        if self._file is not None:
            self._file.close()
            self._file = None
        self.spill.unlink(missing_ok=True)


@dataclass(eq=False)
class _Spill:
    """One process's folder of spill files under one cache root (None: none could be made)."""

    folder: Path | None
    pid: int
    files: dict[tuple[str, str, str, str], _Held]


_SPILLS: dict[Path, _Spill] = {}
_SPILLS_LOCK = threading.Lock()


def _fetched(repo: HubRepo, path: str) -> _Held | None:
    """What this process holds of ``path`` at ``repo``'s commit, under the current cache root."""
    root = cache_root()
    with _SPILLS_LOCK:
        spill = _SPILLS.get(root)
        if spill is None or spill.pid != os.getpid():  # a forked child keeps its own
            parent = root / "hub" / "ranges"
            try:  # the folders of processes that died without cleaning up go first
                folder: Path | None = owned_temp_dir(parent, "ranges")
            except OSError as e:  # a read-only cache: every read asks the Hub
                logger.debug("no spill folder under %s (%s): ranges read twice are fetched twice", parent, e)
                folder = None
            spill = _SPILLS[root] = _Spill(folder, os.getpid(), {})
        if spill.folder is None:
            return None
        key = (repo.endpoint, repo.repo_id, repo.sha, path)
        if key not in spill.files:
            name = hashlib.sha256("\0".join(key).encode()).hexdigest()[:32]
            spill.files[key] = _Held(spill.folder / name)
        return spill.files[key]


def forget_fetched() -> None:
    """Drop the Hub bytes this process holds and remove its spill folders (run at exit too).

    Within a process every byte of a hub file is fetched once and kept on disk (see the module
    notes); a long-lived process (a notebook reading several commits) can call this to give the
    disk back. Later reads fetch again.
    """
    with _SPILLS_LOCK:
        spills = [s for s in _SPILLS.values() if s.pid == os.getpid()]
        _SPILLS.clear()
    for spill in spills:
        for held in spill.files.values():
            if held.lock.acquire(timeout=5):  # a daemon thread still reading at exit: its file goes with the folder
                try:
                    held.forget()
                finally:
                    held.lock.release()
        if spill.folder is not None:
            shutil.rmtree(spill.folder, ignore_errors=True)


def _after_fork() -> None:  # a lock another thread held at the fork would never be released in the child
    global _SPILLS_LOCK
    _SPILLS_LOCK = threading.Lock()


atexit.register(forget_fetched)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


# --- footers -------------------------------------------------------------------------------------

_FOOTERS: dict[tuple[str, int], pq.FileMetaData] = {}


def _corrupt(repo: HubRepo, path: str, why: str) -> HubError:
    return HubError(
        f"{repo.describe(path)} is not a readable Parquet file ({why}) {_where(repo.url(path))}: the bytes the Hub "
        "holds at this commit are corrupt; try another commit ({option}), or a local mirror",
        parameter="revision",
        value="REV",
    )


def read_metadata(repo: HubRepo, path: str) -> pq.FileMetaData:
    """A Parquet file's footer: fetched once (its last 8 bytes, then the footer), then kept by content id.

    It is kept in memory and under ``$SPA_VL_CACHE/hub/footers/`` (a read-only cache is skipped).

    Parameters
    ----------
    repo : HubRepo
        The pinned repository.
    path : str
        A Parquet file's path in the repo.

    Returns
    -------
    pyarrow.parquet.FileMetaData
        The file's metadata (schema, row groups, column chunk offsets).

    Raises
    ------
    HubError
        The file is too small or has no Parquet footer, the footer does not parse, or a request
        fails.
    """
    size, content = repo.files[path]
    key = (content, size)
    if key in _FOOTERS:
        return _FOOTERS[key]
    cached = cache_root() / "hub" / "footers" / f"{re.sub(r'[^0-9A-Za-z]', '', content)}-{size}.parquet"
    try:
        metadata = pq.read_metadata(cached)
    except (OSError, pa.ArrowInvalid):
        if size < 12:
            raise _corrupt(repo, path, f"{size} bytes") from None
        tail = repo.fetch(path, size - 8, size)
        length = int.from_bytes(tail[:4], "little")
        if tail[4:] != b"PAR1" or length + 12 > size:
            raise _corrupt(repo, path, "no Parquet footer at the end") from None
        footer = repo.fetch(path, size - 8 - length, size - 8)
        try:
            metadata = pq.read_metadata(pa.BufferReader(b"PAR1" + footer + tail))
        except (pa.ArrowInvalid, OSError) as e:
            raise _corrupt(repo, path, str(e).splitlines()[0][:100]) from e
        try:
            atomic_write(cached, lambda tmp: metadata.write_metadata_file(str(tmp)))
        except OSError:  # a read-only cache is not an error
            pass
    _FOOTERS[key] = metadata
    return metadata


def open_parquet(repo: HubRepo, path: str, *, pre_buffer: bool) -> pq.ParquetFile:
    """A ParquetFile over HTTP that fetches only the column chunks it is asked to read.

    ``pre_buffer`` lets pyarrow merge a row group's neighbouring chunks into one request (for
    projected reads); without it each column chunk is one request (streaming every column).
    A file in the Hugging Face cache at this commit is memory-mapped from disk instead.

    Parameters
    ----------
    repo : HubRepo
        The pinned repository.
    path : str
        A Parquet file's path in the repo.
    pre_buffer : bool
        Let pyarrow coalesce neighbouring column chunks into one request.

    Returns
    -------
    pyarrow.parquet.ParquetFile
        Over a :class:`HubFile` with the footer from :func:`read_metadata`, or over the local copy.

    Raises
    ------
    HubError
        The footer cannot be fetched or is not Parquet (see :func:`read_metadata`).
    """
    local = repo.local_copy(path)
    if local is not None:
        return pq.ParquetFile(local, memory_map=True)
    metadata = read_metadata(repo, path)
    return pq.ParquetFile(pa.PythonFile(repo.open(path), mode="r"), metadata=metadata, pre_buffer=pre_buffer)


# --- resolution ----------------------------------------------------------------------------------

_RESOLVED: dict[tuple[str, str, str], HubRepo] = {}


def _record_dir(base: str, repo_id: str) -> Path:
    host = re.sub(r"[^0-9A-Za-z.-]+", "_", base.split("://", 1)[-1])
    return cache_root() / "hub" / host / repo_id.replace("/", "--")


def _ref_file(base: str, repo_id: str, revision: str | None) -> Path:
    return _record_dir(base, repo_id) / "refs" / quote(revision or "@default", safe="")


def _load_record(base: str, repo_id: str, sha: str) -> HubRepo | None:
    try:
        data = json.loads((_record_dir(base, repo_id) / f"{sha}.json").read_text(encoding="utf-8"))
        if data.get("version") != _RECORD_VERSION:
            return None
        files = {p: (int(s), str(c)) for p, (s, c) in data["files"].items()}
        return HubRepo(repo_id, sha, base, files, data.get("card", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_record(repo: HubRepo, revision: str | None) -> None:
    folder = _record_dir(repo.endpoint, repo.repo_id)
    data = {"version": _RECORD_VERSION, "repo": repo.repo_id, "sha": repo.sha, "files": {p: list(v) for p, v in repo.files.items()}, "card": repo.card}
    try:
        atomic_write_text(folder / f"{repo.sha}.json", json.dumps(data, sort_keys=True))
        atomic_write_text(_ref_file(repo.endpoint, repo.repo_id, revision), repo.sha)
    except OSError:  # a read-only cache only costs offline reuse
        pass


def _hf_snapshot(repo_id: str, revision: str | None) -> Path | None:
    """A ``snapshot_download`` folder of the repo in the Hugging Face cache, if there is one."""
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            repo_id, repo_type="dataset", revision=revision, local_files_only=True, cache_dir=os.environ.get("HF_HUB_CACHE")
        )
    except Exception:  # LocalEntryNotFoundError and friends: nothing cached
        return None
    return Path(folder)


def resolve_repo(repo_id: str, revision: str | None = None) -> HubRepo | Path:
    """Pin ``repo_id`` at ``revision`` (branch, tag or sha; None = the default branch).

    Online, one request for the commit and its file list (and one for the card the first time a
    commit is seen). Offline (``HF_HUB_OFFLINE``), the commit recorded by an earlier run; failing
    that, a snapshot in the Hugging Face cache, returned as a folder to read like a mirror.
    A resolved commit is kept in memory and under ``$SPA_VL_CACHE/hub/`` for later (offline) runs.

    Parameters
    ----------
    repo_id : str
        ``owner/name`` of a dataset repository (e.g. ``"sqrti/SPA-VL"``).
    revision : str, optional
        A branch, tag or commit sha; None is the default branch.

    Returns
    -------
    HubRepo or pathlib.Path
        The repository pinned at one commit (its files and card); offline without a recorded
        commit, the folder of a ``snapshot_download`` in the Hugging Face cache.

    Raises
    ------
    SpaVLError
        The repo or revision does not exist, access is refused, the Hub cannot be reached, or
        (offline) the source was never read here.
    """
    base = endpoint()
    if revision and _SHA_RE.match(revision) and (base, repo_id, revision) in _RESOLVED:
        return _RESOLVED[(base, repo_id, revision)]
    if offline():
        sha = revision if revision and _SHA_RE.match(revision) else None
        try:
            sha = sha or _ref_file(base, repo_id, revision).read_text(encoding="utf-8").strip()
        except OSError:
            pass
        record = _load_record(base, repo_id, sha) if sha else None
        if record is not None:
            return _RESOLVED.setdefault((base, repo_id, record.sha), record)
        snapshot = _hf_snapshot(repo_id, revision)
        if snapshot is not None:
            return snapshot
        at = f"@{revision}" if revision else ""
        raise SpaVLError(
            f"the Hugging Face Hub is offline (HF_HUB_OFFLINE) and {repo_id + at!r} was never read here: {MIRROR_HINT}"
        )
    return _resolve_online(base, repo_id, revision)


def _resolve_online(base: str, repo_id: str, revision: str | None) -> HubRepo:
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    api = HfApi(endpoint=base)
    url = f"{base}/api/datasets/{repo_id}" + (f"/revision/{quote(revision, safe='')}" if revision else "")
    try:
        info = api.dataset_info(repo_id, revision=revision, files_metadata=True, timeout=constants.HF_HUB_ETAG_TIMEOUT)
    except GatedRepoError as e:
        raise describe(e, f"dataset {repo_id!r}", url) from e
    except RevisionNotFoundError:
        raise SpaVLError(f"revision {revision!r} of {repo_id!r} does not exist on the Hub {_where(url)}: check the revision (a branch, tag or commit sha)") from None
    except RepositoryNotFoundError:
        raise SpaVLError(
            f"no dataset {repo_id!r} on the Hugging Face Hub {_where(url)}: check the id (e.g. 'sqrti/SPA-VL'), "
            "or log in if it is private"
        ) from None
    except Exception as e:
        raise describe(e, f"dataset {repo_id!r}", url) from e
    if not info.sha:
        raise HubError(f"the Hub gave no commit sha for {repo_id!r} {_where(url)}: retry later, or {MIRROR_HINT}")
    known = _load_record(base, repo_id, info.sha)
    if known is None:
        files = {s.rfilename: (int(s.size or 0), s.lfs.sha256 if s.lfs else (s.blob_id or "")) for s in info.siblings or []}
        if info.siblings is None or any(s.size is None for s in info.siblings):
            files = _list_files(api, repo_id, info.sha, url)
        pinned = HubRepo(repo_id, info.sha, base, files)
        card = pinned.fetch("README.md").decode("utf-8", errors="replace") if "README.md" in files else ""
        known = HubRepo(repo_id, info.sha, base, files, card)
    _save_record(known, revision)
    return _RESOLVED.setdefault((base, repo_id, known.sha), known)


def _list_files(api, repo_id: str, sha: str, url: str) -> dict[str, tuple[int, str]]:
    from huggingface_hub.hf_api import RepoFile

    try:
        entries = api.list_repo_tree(repo_id, revision=sha, repo_type="dataset", recursive=True)
        return {e.path: (e.size, e.lfs.sha256 if e.lfs else e.blob_id) for e in entries if isinstance(e, RepoFile)}
    except Exception as e:
        raise describe(e, f"the file list of {repo_id!r}", url) from e
