"""``sqrti/SPA-VL`` straight from the Hub, against a local server that answers the Hub's HTTP API.

The real ``huggingface_hub`` and ``datasets`` clients are pointed at ``tests/hub_server.py`` with
``HF_ENDPOINT``; the server serves a synthetic SPA-VL (256-px images, 100-row row groups) and
counts the bytes it sends. Commands that must be measured one process each (bytes per command,
errors) run the CLI in a subprocess; the rest run in process with the variables set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hub_server import HubServer, point_clients_at

import spa_vl
import spa_vl.hub as hub_module
from spa_vl.errors import SpaVLError
from spa_vl.sample import generate_sample
from spa_vl.sources import resolve_source

REPO_ID = "sqrti/SPA-VL"
ONE_GROUP = "sqrti/SPA-VL-one-group"  # the same data, one row group per shard
SMALL = "sqrti/SPA-VL-small"  # the session's small sample (32-px images), for the report


def _rewrite(folder: Path, row_group_size: int | None) -> None:
    for path in folder.rglob("*.parquet"):
        table = pq.read_table(path)
        pq.write_table(table, path, row_group_size=row_group_size or max(1, table.num_rows), compression="snappy")


def _parquet_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet"))


@pytest.fixture(scope="module")
def served(tmp_path_factory, sample_dir):
    """The server and the folders it serves: ``{repo id: folder}`` and each repo's first commit."""
    root = tmp_path_factory.mktemp("hub")
    folder = generate_sample(root / "spa-vl", rows=1600, seed=11, image_size=256)
    _rewrite(folder, 100)  # what push_to_hub writes for image data
    one = root / "one-group"
    shutil.copytree(folder, one)
    _rewrite(one, None)
    with HubServer() as hub:
        shas = {repo: hub.commit(repo, path) for repo, path in ((REPO_ID, folder), (ONE_GROUP, one), (SMALL, sample_dir))}
        yield hub, {REPO_ID: folder, ONE_GROUP: one, SMALL: sample_dir}, shas


@pytest.fixture
def online(served, monkeypatch, tmp_path):
    """Point the real clients at the server, with fresh caches (conftest turns the Hub off)."""
    point_clients_at(served[0], monkeypatch, tmp_path)
    return served


def cli(tmp_path: Path, endpoint: str, *args: str, offline: bool = False) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``spa-vl ARGS`` in its own process against ``endpoint``; return the result and its duration."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_ENDPOINT=endpoint, SPA_VL_CACHE=str(tmp_path / "spa"), HF_DATASETS_CACHE=str(tmp_path / "ds"),
               HF_HUB_CACHE=str(tmp_path / "hf"), **({"HF_HUB_OFFLINE": "1"} if offline else {}))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "spa_vl.cli", *args], env=env, capture_output=True, text=True, timeout=120)
    return out, time.perf_counter() - start


def _fetched_once(hub: HubServer) -> None:
    """No byte of any file was sent twice (footers included)."""
    seen: dict[str, list[tuple[int, int]]] = {}
    for _, path, start, n in hub.requests("FILE"):
        for a, b in seen.get(path, []):
            assert start >= b or start + n <= a, f"{path}: bytes {start}-{start + n} fetched twice"
        seen.setdefault(path, []).append((start, start + n))


# --- stats and doctor: same results, a few % of the bytes ------------------------------------------

@pytest.mark.parametrize("repo, target", [(REPO_ID, 0.05), (ONE_GROUP, 0.02)])
def test_stats_equal_the_mirror_and_fetch_only_label_and_text_chunks(online, tmp_path, repo, target):
    hub, folders, shas = online
    out, _ = cli(tmp_path, hub.url, "--quiet", "stats", repo, "--json", str(tmp_path / "s.json"))
    assert out.returncode == 0, out.stderr
    written = json.loads((tmp_path / "s.json").read_text())
    assert written.pop("_source") == {"hub": repo, "revision": shas[repo]}
    assert written == spa_vl.compute_stats(folders[repo])
    fetched, total = hub.bytes_sent(".parquet"), _parquet_bytes(folders[repo])
    # the floor: every footer + the question/chosen/rejected/image_name/class column chunks
    floor = 0
    for path in folders[repo].rglob("*.parquet"):
        meta = pq.read_metadata(path)
        floor += meta.serialized_size + 8
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            floor += sum(group.column(c).total_compressed_size for c in range(group.num_columns)
                         if not group.column(c).path_in_schema.startswith("image."))
    assert floor <= fetched <= floor * 1.02 + 4096, (fetched, floor)
    assert fetched <= target * total, f"stats fetched {fetched / total:.1%} of the Parquet bytes (target {target:.0%})"
    _fetched_once(hub)


def test_doctor_equals_the_mirror_and_reads_each_meta_file_once(online, tmp_path):
    hub, folders, shas = online
    out, _ = cli(tmp_path, hub.url, "--quiet", "doctor", REPO_ID, "--json", str(tmp_path / "d.json"))
    assert out.returncode == 0, out.stderr
    mirror, _ = cli(tmp_path, hub.url, "--quiet", "doctor", str(folders[REPO_ID]), "--json", str(tmp_path / "m.json"))
    ours, theirs = json.loads((tmp_path / "d.json").read_text()), json.loads((tmp_path / "m.json").read_text())
    assert (ours.pop("source"), ours.pop("kind"), theirs.pop("kind")) == (f"{REPO_ID} @ {shas[REPO_ID]}", "hub", "mirror")
    theirs.pop("source")
    assert ours == theirs
    assert all(s["rows"] == s["card_rows"] for s in ours["splits"])  # the hub card is read like a mirror's
    assert hub.bytes_sent(".parquet") <= 0.05 * _parquet_bytes(folders[REPO_ID])
    meta = sorted(folders[REPO_ID].glob("meta_files/*/*.json"))
    assert hub.bytes_sent(".json") == sum(p.stat().st_size for p in meta)  # each meta file exactly once


# --- loading: equal datasets, one commit, warm and offline reuse -----------------------------------

def test_load_and_streaming_equal_the_mirror_and_a_warm_reload_fetches_nothing(online):
    hub, folders, shas = online
    for name in ("train", "validation", "eval"):
        ours, theirs = spa_vl.load_dataset(REPO_ID, name), spa_vl.load_dataset(folders[REPO_ID], name)
        assert sorted(ours) == sorted(theirs)
        for split in ours:
            assert ours[split].features == theirs[split].features
            assert ours[split].to_pandas().equals(theirs[split].to_pandas())
    streamed = list(spa_vl.load_dataset(REPO_ID, "validation", split="validation", streaming=True))
    assert streamed == list(spa_vl.load_dataset(folders[REPO_ID], "validation", split="validation", streaming=True))
    hub.reset_log()
    again = spa_vl.load_dataset(REPO_ID, "validation", split="validation")
    assert again.num_rows == len(streamed) and hub.bytes_sent() == 0
    assert len(hub.requests("API")) == 1  # the branch resolved to its commit, nothing else


def test_one_commit_per_command_and_revision_everywhere(online, tmp_path):
    hub, folders, shas = online
    source = resolve_source(REPO_ID)
    assert source.revision == shas[REPO_ID] and source.description.endswith(shas[REPO_ID])
    assert source.card_rows("validation", "validation") == pq.read_metadata(next(folders[REPO_ID].glob("validation/*.parquet"))).num_rows
    # a push lands while the command runs: the command keeps reading the commit it started with
    changed = tmp_path / "changed"
    shutil.copytree(folders[REPO_ID], changed, copy_function=os.link)
    shard = next(changed.glob("validation/*.parquet"))
    table = pq.read_table(shard)
    shard.unlink()
    pq.write_table(table.slice(0, 10), shard)
    new = hub.commit(REPO_ID, changed)
    try:
        before = spa_vl.compute_stats(folders[REPO_ID])
        assert spa_vl.compute_stats(source) == before
        assert resolve_source(REPO_ID).revision == new
        assert spa_vl.compute_stats(REPO_ID)["validation/validation"]["rows"] == 10
        pinned = spa_vl.load_dataset(REPO_ID, "validation", split="validation", revision=shas[REPO_ID])
        assert pinned.num_rows == before["validation/validation"]["rows"]
        out, _ = cli(tmp_path, hub.url, "--quiet", "stats", REPO_ID, "--revision", shas[REPO_ID], "--name", "validation")
        assert out.returncode == 0 and f"source: {REPO_ID} @ {shas[REPO_ID]}" in out.stdout
        assert f"validation/validation: {before['validation/validation']['rows']} rows" in out.stdout
    finally:
        hub.repos[REPO_ID].pop()  # main back to the first commit


def test_offline_after_a_first_load_and_only_missing_data_is_an_error(online, monkeypatch, tmp_path):
    hub, folders, shas = online
    cache = str(tmp_path / "datasets")  # `datasets` reads HF_DATASETS_CACHE once, at import
    first = spa_vl.load_dataset(REPO_ID, "validation", split="validation", cache_dir=cache)
    stats = spa_vl.compute_stats(REPO_ID)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.reset_log()
    again = spa_vl.load_dataset(REPO_ID, "validation", split="validation", cache_dir=cache)
    assert again.to_pandas().equals(first.to_pandas())
    assert spa_vl.compute_stats(REPO_ID) == stats
    assert hub.requests() == []
    with pytest.raises(SpaVLError) as error:  # eval was never prepared: its rows are not here
        spa_vl.load_dataset(REPO_ID, "eval", cache_dir=cache)
    message = str(error.value)
    assert "offline" in message and "local mirror" in message and "'sample'" in message and "\n" not in message
    with pytest.raises(SpaVLError, match="never read here.*local mirror"):
        resolve_source("sqrti/never-read")


def test_offline_from_a_snapshot_download(online, monkeypatch):
    hub, folders, shas = online
    from huggingface_hub import snapshot_download

    snapshot_download(REPO_ID, repo_type="dataset", endpoint=hub.url, cache_dir=os.environ["HF_HUB_CACHE"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SPA_VL_CACHE", os.environ["SPA_VL_CACHE"] + "-fresh")  # no record of an earlier read
    hub.reset_log()
    source = resolve_source(REPO_ID)
    assert source.kind == "mirror" and shas[REPO_ID] in source.root
    assert spa_vl.compute_stats(source) == spa_vl.compute_stats(folders[REPO_ID])
    assert hub.requests() == []


# --- ablate and report ------------------------------------------------------------------------------

def test_ablate_equals_the_mirror_records_the_commit_and_fetches_each_byte_once(online, tmp_path):
    hub, folders, shas = online
    args = ["--quiet", "ablate", "--sizes", "100", "--format", "parquet", "--seed", "3"]
    out, _ = cli(tmp_path, hub.url, *args[:2], REPO_ID, *args[2:], "--out", str(tmp_path / "hub"))
    assert out.returncode == 0, out.stderr
    # the pool reads the text columns, the export every column of the shards it needs: no read-ahead
    # on top (it was 216%), and each footer once
    assert hub.bytes_sent(".parquet") <= _parquet_bytes(folders[REPO_ID])
    _fetched_once(hub)  # issue 25: the export's text chunks were fetched again after the pool's (1.5x)
    tails = [(path, start) for _, path, start, n in hub.requests("FILE") if path.endswith(".parquet") and n == 8]
    assert len(tails) == len(set(tails)) == len(list(folders[REPO_ID].rglob("*.parquet")))
    mirror, _ = cli(tmp_path, hub.url, *args[:2], str(folders[REPO_ID]), *args[2:], "--out", str(tmp_path / "mirror"))
    assert mirror.returncode == 0, mirror.stderr
    ours = json.loads((tmp_path / "hub/scale-100/manifest.json").read_text())
    theirs = json.loads((tmp_path / "mirror/scale-100/manifest.json").read_text())
    assert ours["source"]["revision"] == shas[REPO_ID]
    assert ours["row_ids"] == theirs["row_ids"] and ours["source"]["fingerprint"] != ""
    a = pq.read_table(next((tmp_path / "hub/scale-100").glob("data/*.parquet")))
    b = pq.read_table(next((tmp_path / "mirror/scale-100").glob("data/*.parquet")))
    assert a.equals(b)


def test_report_equals_the_mirror_and_names_the_commit(online):
    hub, folders, shas = online
    from spa_vl.analysis.report.build import ReportSettings, compute_report

    settings = ReportSettings(diversity_sample=20, contamination_embeddings=False)  # small: the encoder is not under test
    ours = compute_report(SMALL, settings, progress=False)
    _fetched_once(hub)  # issue 25: the text chunks were fetched for the labels and again for the analyses (2.2x)
    assert hub.bytes_sent(".parquet") <= _parquet_bytes(folders[SMALL])
    theirs = compute_report(folders[SMALL], settings, progress=False)
    assert ours.source == f"{SMALL} @ {shas[SMALL]}"
    run_dependent = {("diversity", "texts_encoded_this_run"), ("explorer", "bytes"), ("contamination", "seconds")}

    def numbers(stats: dict) -> dict:
        return {k: {f: v for f, v in section.items() if (k, f) not in run_dependent} if isinstance(section, dict) else section
                for k, section in json.loads(json.dumps(stats, default=str)).items()}

    assert numbers(ours.stats) == numbers(theirs.stats)


# --- network errors say what they are ---------------------------------------------------------------

SHARD = r"train-00003-of-00008\.parquet"
WAITS = [0.5, 1.0]  # the backoff schedule of RETRIES = 2 (0.5 s, then doubled)


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """Every retry wait, recorded instead of slept (no test depends on the machine's speed)."""
    recorded: list[float] = []
    monkeypatch.setattr(hub_module, "sleep", recorded.append)
    return recorded


def _cli_error(capsys, *args: str) -> str:
    from spa_vl.cli import main

    assert main(list(args)) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spa-vl: error: "), lines
    return lines[0]


@pytest.mark.parametrize("status, words, attempts", [
    (403, ["HTTP 403", "gated or private", "hf auth login"], 1),
    (404, ["HTTP 404", "check the id and the revision"], 1),
    (503, ["HTTP 503", "after 3 attempts", "retry later"], 3),
])
def test_http_errors_name_the_status_the_url_and_the_fix(online, waits, capsys, status, words, attempts):
    hub, folders, shas = online
    pattern = f"resolve/.*{SHARD}" if status != 503 else "/lfs/"
    hub.fail(pattern, status)
    line = _cli_error(capsys, "stats", REPO_ID)
    assert all(w in line for w in words), line
    assert f"HF_ENDPOINT={hub.url}" in line and f"{hub.url}/" in line
    assert "re-download" not in line and "corrupt" not in line
    # bounded retries, counted rather than timed: 403/404 at once, a 503 twice more after 0.5 s and 1 s
    assert len(hub.faults_sent(pattern)) == attempts
    assert waits == WAITS[: attempts - 1]


def test_retries_are_shown_with_debug(online, tmp_path):
    hub, _, _ = online
    hub.fail("/lfs/", 503, times=1)  # the first request fails once, then the Hub recovers
    out, _ = cli(tmp_path, hub.url, "--debug", "stats", REPO_ID)
    assert out.returncode == 0, out.stderr
    assert "retry 1/2" in out.stderr and "503" in out.stderr


def test_connection_refused_is_reported_after_the_bounded_retries(online, waits, capsys, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    line = _cli_error(capsys, "stats", "sqrti/unreachable")
    assert "cannot reach the Hugging Face Hub" in line and "HF_ENDPOINT=http://127.0.0.1:9" in line
    # resolving goes through huggingface_hub's own call (no retry of ours); a refused file read is retried twice
    assert waits in ([], WAITS)


# --- a misbehaving Hub: cut, short, garbled and stalled bodies, rate limits ---------------------------

def _fresh_repo(hub: HubServer, name: str, folder: Path) -> str:
    """A repo id no earlier test resolved (resolutions are kept in memory per process)."""
    repo = f"sqrti/SPA-VL-{name}"
    hub.commit(repo, folder)
    return repo


@pytest.mark.parametrize("mode", ["cut", "short", "garble"])
def test_a_body_that_is_not_the_file_is_never_cached(online, waits, monkeypatch, mode):
    from spa_vl.errors import SourceError
    from spa_vl.layout import read_card

    hub, folders, _ = online
    repo = _fresh_repo(hub, f"bad-card-{mode}", folders[SMALL])
    card = rf"{repo}/resolve/[0-9a-f]+/README\.md"
    hub.misbehave(card, mode)  # every attempt
    with pytest.raises(SourceError) as error:
        resolve_source(repo)
    message = str(error.value)
    assert "\n" not in message and "README.md" in message and "retry" in message
    assert len(hub.faults_sent(card)) == 3 and waits == WAITS
    hub.clear_failures()
    source = resolve_source(repo)  # was: the half card, stored for that commit and read from then on
    assert source.card() == read_card(folders[SMALL] / "README.md")
    assert spa_vl.compute_stats(repo)["validation/validation"]["rows"] == source.card_rows("validation", "validation")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # what was kept for offline runs is the whole card too
    monkeypatch.setattr(hub_module, "_RESOLVED", {})
    assert resolve_source(repo).card() == read_card(folders[SMALL] / "README.md")


@pytest.mark.parametrize("mode", ["cut", "short", "garble"])
def test_a_bad_file_body_is_retried_and_the_result_equals_the_mirror(online, waits, mode):
    hub, folders, _ = online
    repo = _fresh_repo(hub, f"bad-meta-{mode}", folders[SMALL])
    hub.misbehave(r"/lfs/", mode, times=1)  # the first file body (a footer, a column chunk or a meta file)
    assert spa_vl.compute_stats(repo) == spa_vl.compute_stats(folders[SMALL])
    assert len(hub.faults_sent("/lfs/")) == 1 and waits == WAITS[:1]


def test_a_stalled_body_times_out_and_is_retried(online, waits, monkeypatch):
    from huggingface_hub import constants

    hub, folders, _ = online
    repo = _fresh_repo(hub, "stall", folders[SMALL])
    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 2)  # the read timeout ends the stall, not a sleep
    hub.misbehave(r"/lfs/", "stall", times=1)
    assert spa_vl.compute_stats(repo) == spa_vl.compute_stats(folders[SMALL])
    assert len(hub.faults_sent("/lfs/")) == 1 and waits == WAITS[:1]


def test_429_retry_after_is_honoured_within_a_bound(online, waits, monkeypatch, capsys, tmp_path):
    import email.utils

    hub, folders, _ = online
    repo = _fresh_repo(hub, "rate-limited", folders[SMALL])
    monkeypatch.setattr(hub_module, "clock", lambda: 1_000_000_000.0)
    hub.misbehave(r"/lfs/", "rate_limit", times=1, retry_after="7")  # delta-seconds
    hub.misbehave(r"/lfs/", "rate_limit", times=1, retry_after=email.utils.formatdate(1_000_000_005.0, usegmt=True))  # a date
    assert spa_vl.compute_stats(repo) == spa_vl.compute_stats(folders[SMALL])
    assert waits == [7.0, 5.0]  # what the Hub asked for, not the default 0.5 s and 1 s
    waits.clear()
    hub.clear_failures()
    hub.misbehave(r"/lfs/", "rate_limit", retry_after="3600")  # more than spa-vl waits: fail at once, saying so
    repo = _fresh_repo(hub, "rate-limited-long", folders[SMALL])
    monkeypatch.setenv("SPA_VL_CACHE", str(tmp_path / "another-cache"))  # the meta files must be fetched again
    line = _cli_error(capsys, "stats", repo)
    assert "HTTP 429" in line and "asked to wait 3600 s" in line and f"{hub_module.MAX_RETRY_AFTER_S:.0f} s" in line
    assert len(hub.faults_sent("/lfs/")) == 1 and waits == []
