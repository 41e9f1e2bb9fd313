"""A small server that answers the Hugging Face Hub's HTTP API for dataset repos, on 127.0.0.1.

Enough of the API for ``huggingface_hub`` (``HfApi``, ``HfFileSystem``, ``hf_hub_download``) and
``datasets`` pointed at it with ``HF_ENDPOINT``:

* ``GET /api/datasets/{repo}`` and ``/api/datasets/{repo}/revision/{rev}`` (``?blobs=true`` adds
  sizes, blob ids and LFS info to ``siblings``);
* ``GET /api/datasets/{repo}/tree/{rev}[/{path}]`` (``recursive``, ``expand``), paginated with a
  ``Link: <...>; rel="next"`` header (:attr:`HubServer.page_size` entries per page);
* ``POST /api/datasets/{repo}/paths-info/{rev}`` (form or JSON ``paths``);
* ``GET``/``HEAD /datasets/{repo}/resolve/{rev}/{path}``: small files answered directly, LFS
  files (Parquet, JSON) redirected (302) to ``/lfs/{sha256}`` on another host name like the Hub's CDN, with ``ETag``,
  ``X-Repo-Commit``, ``X-Linked-Etag``, ``X-Linked-Size``; ``Range: bytes=a-b`` gives 206.

Uploads, as ``huggingface_hub``'s ``create_repo`` / ``create_commit`` / ``upload_folder`` send them
(with ``HF_HUB_DISABLE_XET=1``, the LFS protocol):

* ``POST /api/validate-yaml`` (README.md's text): 400 with ``errors`` when its front matter is not YAML;
* ``POST /api/repos/create`` (JSON ``name``, ``organization``, ``type``): a repo whose first commit
  holds ``.gitattributes``, as the Hub's; 409 when it exists;
* ``POST /api/datasets/{repo}/preupload/{rev}``: ``uploadMode`` (``lfs`` for :data:`LFS_SUFFIXES`,
  else ``regular``), ``shouldIgnore`` and the current ``oid`` of each path;
* ``POST /datasets/{repo}.git/info/lfs/objects/batch`` (LFS batch API, ``basic`` transfer): an
  upload action to ``PUT /upload/{sha256}`` per object not stored yet;
* ``POST /api/datasets/{repo}/commit/{rev}`` (NDJSON ``header``, ``file``, ``lfsFile``,
  ``deletedFile``, ``deletedFolder``): a new commit on top of ``rev``; an ``lfsFile`` whose bytes
  were never uploaded is refused with 422.

Every repo is a list of commits, each a folder snapshot (:meth:`HubServer.commit`); ``main``
names the newest. The server counts the body bytes it sends per file (:meth:`bytes_sent`),
and can be told to fail (:meth:`fail`: a status for matching files, e.g. 403 or 503) or to
misbehave on file bodies (:meth:`misbehave`): ``short`` (a Content-Length of the whole body, half
of it sent, the connection closed), ``cut`` (half the body with a Content-Length that agrees, as a
broken proxy sends it), ``garble`` (the whole length, the bytes reversed), ``stall`` (headers and half the body, then nothing until :meth:`stop`
or :attr:`HubServer.release` is set) and ``rate_limit`` (429 with ``Retry-After``). Every request
answered by a fault is in :meth:`faults_sent`.

Used by ``tests/test_hub.py`` and ``benchmarks/hub.py``::

    with HubServer() as hub:
        hub.commit("sqrti/SPA-VL", folder)
        env = {"HF_ENDPOINT": hub.url}
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import re
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS_SUFFIXES = (".parquet", ".json", ".jpg", ".png", ".zip")


@dataclass(frozen=True)
class Blob:
    """One file of a commit."""

    path: str
    local: Path
    size: int
    blob_id: str  # git blob sha1 of the content
    sha256: str

    @property
    def lfs(self) -> bool:
        return self.path.endswith(LFS_SUFFIXES)

    def entry(self, *, blobs: bool = True) -> dict:
        out = {"type": "file", "path": self.path, "oid": self.blob_id, "size": self.size}
        if self.lfs:
            out["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": 134}
        return out


def _hash_file(path: Path) -> tuple[str, str]:
    size = path.stat().st_size
    sha1, sha256 = hashlib.sha1(f"blob {size}\0".encode()), hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            sha1.update(chunk)
            sha256.update(chunk)
    return sha1.hexdigest(), sha256.hexdigest()


@dataclass
class Commit:
    sha: str
    files: dict[str, Blob]


@dataclass
class Failure:
    pattern: re.Pattern
    status: int
    remaining: int | None  # None: every matching request fails


@dataclass
class Misbehaviour:
    pattern: re.Pattern
    mode: str  # "short", "cut", "garble", "stall" or "rate_limit"
    remaining: int | None
    retry_after: str = "1"


@dataclass
class HubServer:
    """The server (a thread); ``with HubServer() as hub:`` starts and stops it.

    Attributes
    ----------
    page_size : int
        Tree entries per page (small, so pagination is exercised).
    """

    page_size: int = 7
    repos: dict[str, list[Commit]] = field(default_factory=dict)
    log: list[tuple[str, str, int, int]] = field(default_factory=list)  # (kind, path, first byte, body bytes)
    failures: list[Failure] = field(default_factory=list)
    misbehaviours: list[Misbehaviour] = field(default_factory=list)
    faults: list[tuple[str, str]] = field(default_factory=list)  # (request path, status or mode) of each fault answered
    release: threading.Event = field(default_factory=threading.Event)  # ends every stall
    _lock: threading.Lock = field(default_factory=threading.Lock)
    uploads: dict[str, Path] = field(default_factory=dict)  # sha256 -> bytes received by PUT /upload/{sha256}
    _upload_dir: Path | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> HubServer:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def cdn_url(self) -> str:
        """Where LFS files are redirected: the same server under another host name, as the Hub's CDN is
        another host (so ``huggingface_hub`` reads a file's metadata from the redirect, not the CDN)."""
        return f"http://localhost:{self._httpd.server_address[1]}"

    # -- content -------------------------------------------------------------------------------
    def commit(self, repo_id: str, folder: str | Path) -> str:
        """Snapshot ``folder`` as the newest commit of ``repo_id`` (created if new); return its sha."""
        folder = Path(folder)
        files = {}
        for local in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = local.relative_to(folder).as_posix()
            blob_id, sha256 = _hash_file(local)
            files[rel] = Blob(rel, local, local.stat().st_size, blob_id, sha256)
        commits = self.repos.setdefault(repo_id, [])
        digest = hashlib.sha1(json.dumps([len(commits), sorted((p, b.blob_id) for p, b in files.items())]).encode())
        commits.append(Commit(digest.hexdigest(), files))
        return commits[-1].sha

    def store(self, data: bytes) -> Path:
        """Keep uploaded bytes in the server's own folder (named by their sha256); return the file."""
        with self._lock:
            if self._upload_dir is None:
                self._upload_dir = Path(tempfile.mkdtemp(prefix="hub-server-uploads-"))
            path = self._upload_dir / hashlib.sha256(data).hexdigest()
        path.write_bytes(data)
        return path

    def create_repo(self, repo_id: str) -> bool:
        """Create ``repo_id`` with a first commit holding ``.gitattributes`` (False if it exists)."""
        with self._lock:
            if repo_id in self.repos:
                return False
            self.repos[repo_id] = []
        self.commit_files(repo_id, {".gitattributes": self.store(b"*.parquet filter=lfs diff=lfs merge=lfs -text\n")}, [])
        return True

    def commit_files(self, repo_id: str, added: dict[str, Path], deleted: list[str], parent: str | None = None) -> str:
        """A new commit of ``repo_id``: ``parent`` (default the newest) with ``added`` files and without ``deleted``
        paths (a path ending in ``/`` deletes a folder); return its sha."""
        with self._lock:
            commits = self.repos.setdefault(repo_id, [])
            base = next((c for c in commits if c.sha == parent), None) if parent else (commits[-1] if commits else None)
            files = dict(base.files) if base else {}
            for path in deleted:
                for name in [n for n in files if n == path.rstrip("/") or n.startswith(path.rstrip("/") + "/")]:
                    del files[name]
            for path, local in added.items():
                blob_id, sha256 = _hash_file(local)
                files[path] = Blob(path, local, local.stat().st_size, blob_id, sha256)
            digest = hashlib.sha1(json.dumps([len(commits), sorted((p, b.blob_id) for p, b in files.items())]).encode())
            commits.append(Commit(digest.hexdigest(), files))
            return commits[-1].sha

    def fail(self, pattern: str, status: int, times: int | None = None) -> None:
        """Answer ``status`` to requests whose path matches the regex ``pattern`` (``times`` times, or always)."""
        with self._lock:
            self.failures.append(Failure(re.compile(pattern), status, times))

    def misbehave(self, pattern: str, mode: str, times: int | None = None, *, retry_after: str = "1") -> None:
        """Misbehave on file bodies (resolve and LFS requests) whose path matches ``pattern``.

        ``mode`` is ``"short"``, ``"cut"``, ``"garble"``, ``"stall"`` or ``"rate_limit"`` (see the module
        docstring); ``retry_after`` is the ``Retry-After`` value a rate limit sends.
        """
        assert mode in ("short", "cut", "garble", "stall", "rate_limit"), mode
        with self._lock:
            self.misbehaviours.append(Misbehaviour(re.compile(pattern), mode, times, retry_after))

    def faults_sent(self, pattern: str = "") -> list[tuple[str, str]]:
        """``(request path, status or mode)`` of each request answered by :meth:`fail` or :meth:`misbehave`."""
        with self._lock:
            return [f for f in self.faults if re.search(pattern, f[0])]

    def clear_failures(self) -> None:
        with self._lock:
            self.failures.clear()
            self.misbehaviours.clear()
            self.faults.clear()
        self.release.clear()

    # -- accounting ----------------------------------------------------------------------------
    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()

    def bytes_sent(self, suffix: str = "") -> int:
        """Body bytes of file content sent (resolve and LFS requests) for files whose repo path ends with ``suffix``."""
        with self._lock:
            return sum(n for kind, path, _, n in self.log if kind == "FILE" and path.endswith(suffix))

    def requests(self, kind: str | None = None) -> list[tuple[str, str, int, int]]:
        """``(kind, repo path, first byte, body bytes)`` of each logged request (kind ``FILE`` or ``API``)."""
        with self._lock:
            return [entry for entry in self.log if kind is None or entry[0] == kind]

    def _record(self, kind: str, path: str, start: int, nbytes: int) -> None:
        with self._lock:
            self.log.append((kind, path, start, nbytes))

    def _failure(self, path: str) -> int | None:
        with self._lock:
            for f in self.failures:
                if f.pattern.search(path) and (f.remaining is None or f.remaining > 0):
                    if f.remaining is not None:
                        f.remaining -= 1
                    self.faults.append((path, str(f.status)))
                    return f.status
        return None

    def _misbehaviour(self, path: str) -> Misbehaviour | None:
        with self._lock:
            for m in self.misbehaviours:
                if m.pattern.search(path) and (m.remaining is None or m.remaining > 0):
                    if m.remaining is not None:
                        m.remaining -= 1
                    self.faults.append((path, m.mode))
                    return m
        return None

    def _find(self, repo_id: str, revision: str | None) -> Commit | None:
        commits = self.repos.get(repo_id)
        if not commits:
            return None
        if revision in (None, "main"):
            return commits[-1]
        return next((c for c in commits if c.sha == revision), None)

    def _blob(self, sha256: str) -> Blob | None:
        for commits in self.repos.values():
            for c in commits:
                for b in c.files.values():
                    if b.sha256 == sha256:
                        return b
        return None


_API = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?/?$")
_TREE = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$")
_PATHS = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/paths-info/(?P<rev>[^/]+)$")
_RESOLVE = re.compile(r"^/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_LFS = re.compile(r"^/lfs/(?P<sha256>[0-9a-f]{64})$")
_CREATE = re.compile(r"^/api/repos/create$")
_PREUPLOAD = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>[^/]+)$")
_LFS_BATCH = re.compile(r"^/datasets/(?P<repo>[^/]+/[^/]+)\.git/info/lfs/objects/batch$")
_COMMIT = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>[^/]+)$")
_UPLOAD = re.compile(r"^/upload/(?P<sha256>[0-9a-f]{64})$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def point_clients_at(hub: HubServer, monkeypatch, tmp_path: Path) -> None:
    """Point the real huggingface_hub client (and spa-vl) at ``hub`` with fresh caches under ``tmp_path``.

    conftest turns the Hub off for the suite; this turns it on for one test, its failures and log cleared.
    """
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # read at import; the session may have set it
    for name in ("SPA_VL_CACHE", "HF_DATASETS_CACHE", "HF_HUB_CACHE"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    hub.clear_failures()
    hub.reset_log()


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    # -- helpers -------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, *, head: bool = False) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _json(self, data, headers: dict | None = None) -> None:
        self._send(200, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _error(self, status: int, code: str | None = None, message: str = "", *, head: bool = False) -> None:
        headers = {"Content-Type": "application/json"}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, json.dumps({"error": message or code or str(status)}).encode(), headers, head=head)

    def _commit(self, repo: str, rev: str | None, *, head: bool = False) -> Commit | None:
        if repo not in self.hub.repos:
            self._error(404, "RepoNotFound", f"Repository {repo} not found", head=head)
            return None
        commit = self.hub._find(repo, unquote(rev) if rev else None)
        if commit is None:
            self._error(404, "RevisionNotFound", f"Revision {rev} not found", head=head)
        return commit

    # -- verbs ---------------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def _body(self) -> bytes:
        """The request body, sent with a Content-Length or chunked (httpx streams a file object chunked)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_PUT(self) -> None:
        url = urlsplit(self.path)
        body = self._body()
        status = self.hub._failure(url.path)
        if status:
            return self._error(status)
        m = _UPLOAD.match(url.path)
        if not m:
            return self._error(404, message=f"no route for PUT {url.path}")
        if hashlib.sha256(body).hexdigest() != m["sha256"]:
            return self._error(400, message="uploaded bytes do not match their sha256")
        self.hub.uploads[m["sha256"]] = self.hub.store(body)
        self._send(200)

    def _upload_post(self, path: str, body: bytes) -> bool:
        """Answer the upload endpoints (module docstring); False when ``path`` is none of them."""
        if _CREATE.match(path):
            data = json.loads(body or b"{}")
            repo_id = f"{data.get('organization') or 'user'}/{data['name']}"
            if not self.hub.create_repo(repo_id):  # the Hub's 409 names the repo's url too (create_repo(exist_ok=True) reads it)
                self._send(409, json.dumps({"error": f"You already created this dataset repo: {repo_id}",
                                            "url": f"{self.hub.url}/datasets/{repo_id}"}).encode(), {"Content-Type": "application/json"})
            else:
                self._json({"url": f"{self.hub.url}/datasets/{repo_id}", "name": repo_id})
            return True
        if path == "/api/validate-yaml":  # create_commit sends README.md's text first; the Hub checks its metadata
            import yaml

            text = json.loads(body)["content"]
            front = text.split("---", 2)[1] if text.startswith("---") else ""
            try:
                metadata = yaml.safe_load(front) or {}
                if not isinstance(metadata, dict):
                    raise ValueError("the YAML front matter is not a mapping")
            except (yaml.YAMLError, ValueError) as e:
                self._send(400, json.dumps({"errors": [{"message": str(e)}]}).encode(), {"Content-Type": "application/json"})
                return True
            self._json({"errors": [], "warnings": []})
            return True
        if m := _PREUPLOAD.match(path):
            commit = self._commit(m["repo"], m["rev"])
            if commit is not None:
                out = []
                for f in json.loads(body)["files"]:
                    lfs = f["path"].endswith(LFS_SUFFIXES)
                    old = commit.files.get(f["path"])
                    oid = (old.sha256 if lfs else old.blob_id) if old else None
                    out.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
                self._json({"files": out, "commitOid": commit.sha})
            return True
        if m := _LFS_BATCH.match(path):
            objects = []
            for obj in json.loads(body)["objects"]:
                entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
                if obj["oid"] not in self.hub.uploads:
                    entry["actions"] = {"upload": {"href": f"{self.hub.url}/upload/{obj['oid']}", "header": {}}}
                objects.append(entry)
            self._send(200, json.dumps({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}).encode(),
                       {"Content-Type": "application/vnd.git-lfs+json"})
            return True
        if m := _COMMIT.match(path):
            commit = self._commit(m["repo"], m["rev"])
            if commit is None:
                return True
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            header = next((line["value"] for line in lines if line["key"] == "header"), {})
            if header.get("parentCommit") not in (None, commit.sha):
                self._error(412, message=f"A commit has happened since {header['parentCommit']}")
                return True
            added, deleted = {}, []
            for line in lines:
                key, value = line["key"], line["value"]
                if key == "file":
                    added[value["path"]] = self.hub.store(base64.b64decode(value["content"]))
                elif key == "lfsFile":
                    local = self.hub.uploads.get(value["oid"]) or next(
                        (b.local for b in commit.files.values() if b.sha256 == value["oid"]), None)
                    if local is None:
                        self._error(422, message=f"LFS object {value['oid']} of {value['path']} was never uploaded")
                        return True
                    added[value["path"]] = local
                elif key in ("deletedFile", "deletedFolder"):
                    deleted.append(value["path"] + ("/" if key == "deletedFolder" else ""))
            sha = self.hub.commit_files(m["repo"], added, deleted, parent=commit.sha)
            self._json({"commitUrl": f"{self.hub.url}/datasets/{m['repo']}/commit/{sha}", "commitOid": sha,
                        "commitMessage": header.get("summary", ""), "success": True})
            return True
        return False

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self._body()
        status = self.hub._failure(url.path)
        if status:
            return self._error(status)
        if self._upload_post(unquote(url.path), body):
            return
        m = _PATHS.match(url.path)
        if not m:
            return self._error(404)
        commit = self._commit(m["repo"], m["rev"])
        if commit is None:
            return
        if self.headers.get("Content-Type", "").startswith("application/json"):
            paths = json.loads(body or b"{}").get("paths", [])
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        paths = [paths] if isinstance(paths, str) else paths
        out = []
        for p in paths:
            p = p.strip("/")
            if p in commit.files:
                out.append(commit.files[p].entry())
            elif any(f.startswith(p + "/") for f in commit.files):
                out.append({"type": "directory", "path": p, "oid": hashlib.sha1(p.encode()).hexdigest(), "size": 0})
        self._json(out)

    def _dispatch(self, head: bool) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        if path.startswith("/api/"):
            self.hub._record("API", path, 0, 0)
        status = self.hub._failure(path)
        if status:
            return self._error(status, head=head)
        if m := _RESOLVE.match(url.path):
            return self._resolve(m, head)
        if m := _LFS.match(url.path):
            blob = self.hub._blob(m["sha256"])
            return self._file(blob, head) if blob else self._error(404, head=head)
        if m := _TREE.match(url.path):
            return self._tree(m, query)
        if m := _API.match(url.path):
            commit = self._commit(m["repo"], m["rev"])
            if commit is None:
                return
            blobs = query.get("blobs", ["false"])[0].lower() == "true"
            siblings = [
                {"rfilename": b.path, "size": b.size, "blobId": b.blob_id,
                 **({"lfs": {"sha256": b.sha256, "size": b.size, "pointerSize": 134}} if b.lfs else {})}
                if blobs else {"rfilename": b.path}
                for b in commit.files.values()
            ]
            return self._json(
                {"_id": m["repo"], "id": m["repo"], "author": m["repo"].split("/")[0], "sha": commit.sha, "private": False,
                 "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": [], "siblings": siblings,
                 "lastModified": "2024-06-18T00:00:00.000Z", "createdAt": "2024-06-18T00:00:00.000Z"}
            )
        self._error(404, message=f"no route for {url.path}", head=head)

    def _tree(self, m: re.Match, query: dict) -> None:
        commit = self._commit(m["repo"], m["rev"])
        if commit is None:
            return
        base = unquote(m["path"] or "").strip("/")
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        prefix = base + "/" if base else ""
        entries, folders = [], set()
        for p, blob in sorted(commit.files.items()):
            if not p.startswith(prefix):
                continue
            rest = p[len(prefix):]
            parts = rest.split("/")
            for depth in range(1, len(parts)):
                folder = prefix + "/".join(parts[:depth])
                if (recursive or depth == 1) and folder not in folders:
                    folders.add(folder)
                    entries.append({"type": "directory", "path": folder, "oid": hashlib.sha1(folder.encode()).hexdigest(), "size": 0})
            if recursive or len(parts) == 1:
                entries.append(blob.entry())
        if base and not entries and base not in commit.files:
            return self._error(404, "EntryNotFound", f"{base} does not exist")
        cursor = int(query.get("cursor", ["0"])[0] or 0)
        page = entries[cursor: cursor + self.hub.page_size]
        headers = {}
        if cursor + self.hub.page_size < len(entries):
            kept = {k: v[0] for k, v in query.items() if k != "cursor"}
            params = "&".join(f"{k}={quote(v)}" for k, v in kept.items())
            nxt = f"{self.hub.url}{urlsplit(self.path).path}?{params + '&' if params else ''}cursor={cursor + self.hub.page_size}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        self._json(page, headers)

    def _resolve(self, m: re.Match, head: bool) -> None:
        commit = self._commit(m["repo"], m["rev"], head=head)
        if commit is None:
            return
        path = unquote(m["path"])
        blob = commit.files.get(path)
        if blob is None:
            return self._error(404, "EntryNotFound", f"{path} does not exist at {commit.sha}", head=head)
        common = {"X-Repo-Commit": commit.sha, "ETag": f'"{blob.blob_id}"'}
        if blob.lfs:
            common.update({"X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": blob.size, "Location": f"{self.hub.cdn_url}/lfs/{blob.sha256}"})
            return self._send(302, b"", common, head=head)
        self._file(blob, head, common)

    def _file(self, blob: Blob, head: bool, headers: dict | None = None) -> None:
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream",
                   "ETag": f'"{blob.sha256 if blob.lfs else blob.blob_id}"',
                   "Last-Modified": email.utils.formatdate(usegmt=True), **(headers or {})}
        start, end = 0, blob.size  # end exclusive
        status = 200
        wanted = self.headers.get("Range")
        if wanted:
            r = _RANGE.match(wanted.strip())
            if not r or (not r[1] and not r[2]):
                return self._error(416, head=head)
            if r[1]:
                start, end = int(r[1]), min(blob.size, int(r[2]) + 1 if r[2] else blob.size)
            else:
                start = max(0, blob.size - int(r[2]))
            if start >= blob.size or start >= end:
                return self._send(416, b"", {"Content-Range": f"bytes */{blob.size}"}, head=head)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{blob.size}"
        if head:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, str(v))
            self.send_header("Content-Length", str(end - start))
            self.end_headers()
            return
        with open(blob.local, "rb") as f:
            f.seek(start)
            body = f.read(end - start)
        fault = self.hub._misbehaviour(unquote(urlsplit(self.path).path))
        if fault is not None:
            return self._misbehave(fault, status, body, headers)
        self.hub._record("FILE", blob.path, start, len(body))
        self._send(status, body, headers)

    def _misbehave(self, fault: Misbehaviour, status: int, body: bytes, headers: dict) -> None:
        if fault.mode == "rate_limit":
            return self._send(429, b'{"error": "rate limited"}', {"Retry-After": fault.retry_after, "Content-Type": "application/json"})
        if fault.mode == "cut":  # a consistent answer, just not the whole file
            return self._send(status, body[: len(body) // 2], headers)
        if fault.mode == "garble":  # the right length, the wrong bytes
            return self._send(status, body[::-1], headers)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        if fault.mode == "stall":
            self.hub.release.wait(60)
        self.close_connection = True
