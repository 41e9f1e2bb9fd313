"""Each Hub byte is fetched at most once per process (issue 25): how :meth:`spa_vl.hub.HubRepo.fetch` keeps them.

The real ``huggingface_hub`` client reads the session's sample from ``tests/hub_server.py``, which
logs the first byte and length of every body it sends. The commands themselves are measured in
``tests/test_hub.py``: ``ablate`` (its own process) and ``report`` send no byte twice and at most
the repo's Parquet bytes (before, 1.5x and 2.2x on a 400-row sample), and ``stats`` still fetches
only footers and text chunks. Here: overlapping reads ask only for the missing parts, a whole file
assembled from held ranges is checked against its sha256, and the spill folders go away.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hub_server import HubServer, point_clients_at

import spa_vl.hub as hub_module

REPO_ID = "sqrti/SPA-VL-bytes-once"


@pytest.fixture(scope="module")
def served(sample_dir):
    """The server, serving the session's sample as :data:`REPO_ID`."""
    with HubServer() as hub:
        hub.commit(REPO_ID, sample_dir)
        yield hub, sample_dir


@pytest.fixture
def online(served, monkeypatch, tmp_path):
    """Point the real client at the server, with fresh caches (conftest turns the Hub off)."""
    point_clients_at(served[0], monkeypatch, tmp_path)
    yield served
    hub_module.forget_fetched()


def _shard(folder: Path) -> tuple[str, bytes]:
    path = sorted(folder.glob("data/*.parquet"))[0]
    return path.relative_to(folder).as_posix(), path.read_bytes()


def test_overlapping_reads_fetch_only_the_missing_parts(online):
    hub, folder = online
    path, data = _shard(folder)
    repo = hub_module.resolve_repo(REPO_ID)
    assert isinstance(repo, hub_module.HubRepo)
    hub.reset_log()
    assert repo.fetch(path, 100, 300) == data[100:300]
    assert repo.fetch(path, 200, 500) == data[200:500]
    assert repo.fetch(path, 600, 700) == data[600:700]
    assert repo.fetch(path, 150, 450) == data[150:450]  # held: no request
    assert repo.fetch(path) == data  # the whole file: only the gaps, then its sha256 checked against the file list
    assert [(start, n) for _, p, start, n in hub.requests("FILE")] == [
        (100, 200), (300, 200), (600, 100), (0, 100), (500, 100), (700, len(data) - 700)]
    assert all(p == path for _, p, _, _ in hub.requests("FILE"))


def test_a_whole_file_assembled_from_a_wrong_range_is_refetched(online):
    hub, folder = online
    path, data = _shard(folder)
    repo = hub_module.resolve_repo(REPO_ID)
    assert isinstance(repo, hub_module.HubRepo)
    hub.reset_log()
    hub.misbehave("/lfs/", "garble", times=1)  # a range answered with the right length, the wrong bytes
    assert repo.fetch(path, 0, 100) == data[:100][::-1]  # a range has no hash to check against
    assert repo.fetch(path) == data  # the assembled file fails its sha256: dropped and fetched whole
    assert [(start, n) for _, _, start, n in hub.requests("FILE")] == [(100, len(data) - 100), (0, len(data))]
    assert repo.fetch(path, 0, 100) == data[:100]  # the wrong range is not held any more


_READER = textwrap.dedent("""
    import sys
    import spa_vl.hub as hub
    repo = hub.resolve_repo(sys.argv[1])
    repo.fetch(sys.argv[2], 0, 100)
    print("fetched", flush=True)
    if sys.argv[3] == "hang":
        sys.stdin.read()
""")


def test_spill_folders_are_removed_at_exit_and_after_a_killed_process(online, tmp_path):
    import os

    hub, folder = online
    path, _ = _shard(folder)
    ranges = Path(os.environ["SPA_VL_CACHE"]) / "hub" / "ranges"
    runs = {how: subprocess.Popen([sys.executable, "-c", _READER, REPO_ID, path, how], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=dict(os.environ)) for how in ("exit", "hang")}
    try:
        assert runs["hang"].stdout is not None and runs["hang"].stdout.readline() == "fetched\n"
        assert runs["exit"].wait(timeout=60) == 0
        left = [p.name for p in ranges.iterdir()]
        assert len(left) == 1 and f"-{runs['hang'].pid}." in left[0]  # the exited reader removed its folder
    finally:
        runs["hang"].send_signal(signal.SIGKILL)
        runs["hang"].wait(timeout=60)
    assert (ranges / left[0]).is_dir()  # killed: nothing cleaned up
    repo = hub_module.resolve_repo(REPO_ID)
    assert isinstance(repo, hub_module.HubRepo)
    repo.fetch(path, 0, 10)  # the next process (here: this one) removes the dead reader's folder
    mine = [p.name for p in ranges.iterdir()]
    assert len(mine) == 1 and f"-{os.getpid()}." in mine[0]
    hub_module.forget_fetched()
    assert list(ranges.iterdir()) == []
