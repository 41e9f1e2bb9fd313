"""The Ray Data engine of spa-vl embed: the local engine's vectors, resumption, and a separately started head.

One local Ray cluster (2 CPUs) serves the module; the last test stops it and joins a head started by
``ray start`` instead. Sources are tens of texts: Ray's start-up dominates.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray")

from spa_vl.analysis.embeddings.engines import embed_source  # noqa: E402
from spa_vl.analysis.embeddings.store import open_store  # noqa: E402

FIELDS = ["question", "chosen"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from spa_vl.sample import generate_sample

    return generate_sample(tmp_path_factory.mktemp("tiny") / "spa-vl", rows=40, seed=3)


@pytest.fixture(scope="module")
def cluster():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_store(tiny, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("local") / "store"
    result = embed_source(tiny, path, fields=FIELDS, chunk_rows=16, progress=False)
    assert result.embedded == result.texts and len(list(path.glob("part-*.parquet"))) > 1
    return path


def same_vectors(a: Path, b: Path) -> None:
    left, right = open_store(a), open_store(b)
    assert sorted(left.keys().tolist()) == sorted(right.keys().tolist())
    rows = right.lookup(left.keys())
    np.testing.assert_allclose(right.vectors()[rows], left.vectors(), atol=1e-5)
    assert left.manifest["model"] == right.manifest["model"] and left.manifest["dimension"] == right.manifest["dimension"]


def test_ray_engine_gives_the_local_engines_vectors(cluster, tiny, local_store, tmp_path):
    result = embed_source(tiny, tmp_path / "store", fields=FIELDS, engine="ray", progress=False)
    assert result.engine == "ray" and result.embedded == result.texts == len(open_store(local_store))
    same_vectors(local_store, tmp_path / "store")
    assert ray.is_initialized()  # a cluster the engine joined is left running


def test_ray_engine_embeds_only_what_a_partial_store_lacks(cluster, tiny, local_store, tmp_path):
    copy = tmp_path / "store"
    shutil.copytree(local_store, copy)
    lost = sorted(copy.glob("part-*.parquet"))[-1]
    rows = pq.read_metadata(lost).num_rows
    lost.unlink()
    result = embed_source(tiny, copy, fields=FIELDS, engine="ray", progress=False)
    assert result.embedded == rows and result.texts == len(open_store(local_store))
    same_vectors(local_store, copy)


def test_ray_engine_joins_a_separately_started_head(cluster, tiny, local_store, tmp_path):
    # `spa-vl embed` runs in its own process: Ray Data keeps per-process handles to the cluster it
    # first ran on (this module's), so a second cluster in one process is not what users do
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # a throwaway head on 127.0.0.1: no token to share
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
         "--disable-usage-stats", "--block"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, env=env,
    )
    try:
        assert head.stdout is not None
        for line in head.stdout:  # `--block` says so once every head process is up
            if b"block forever" in line:
                break
        else:
            pytest.fail("ray start --head exited before the head was up")
        out = tmp_path / "store"
        run = subprocess.run(
            [sys.executable, "-m", "spa_vl.cli", "--quiet", "embed", str(tiny), "--out", str(out), "--fields", ",".join(FIELDS),
             "--engine", "ray", "--address", f"127.0.0.1:{port}"],
            capture_output=True, text=True, env=env, timeout=600,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        assert "(ray, " in run.stdout
        same_vectors(local_store, out)
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # the head's own process group: `ray stop` would stop every Ray here
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
