"""Faults on the output side (issue 21): concurrent writers, kills between renames, full and
read-only disks, odd output paths, garbage images, a card written over, rows without text.

Kills are injected through ``spa_vl.atomic.fault_hook`` (called at every step of a publish) in a
forked child that ends itself with ``os._exit`` there; concurrent writers are synchronised with
events, never with sleeps. ``WAIT`` only keeps a broken build from hanging the suite.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from helpers import rewrite_parquet

from spa_vl import atomic
from spa_vl.analysis.subsets.ablation import ScaleLadder, train_pool
from spa_vl.analysis.writers.export import export_subsets, verify_tree
from spa_vl.atomic import staged_dir
from spa_vl.cli import main
from spa_vl.errors import OutputError, SpaVLError, UsageError
from spa_vl.layout import read_card
from spa_vl.taxonomy import SpaVLWarning

FORK = multiprocessing.get_context("fork")
WAIT = 300  # seconds: a guard against a hang, never a synchronisation
KILLED = 137


@pytest.fixture(scope="module")
def pool(sample_dir):
    return train_pool(sample_dir)


def _subsets(pool, seed):
    return ScaleLadder(sizes=[20, 40], random_state=seed).sample(pool)


def _export(sample_dir, pool, out, seed, **kwargs):
    kwargs = {"formats": ["parquet"], "progress": False, **kwargs}
    return export_subsets(sample_dir, _subsets(pool, seed), out, pool=pool, seed=seed, **kwargs)


def _generations(out: Path) -> dict[str, int]:
    """Subset folder → the seed its manifest records (which run wrote it)."""
    return {p.name: json.loads((p / "manifest.json").read_text())["seed"] for p in sorted(out.iterdir()) if not p.name.startswith(".")}


def _dot_entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".spa-vl"))


def _in_child(fn) -> int:
    """Run ``fn`` in a forked process; its exit code (``fn``'s own exit, or 0)."""
    process = FORK.Process(target=fn)
    process.start()
    process.join(WAIT)
    assert process.exitcode is not None, "child hung"
    return process.exitcode


def _kill_at(k: int):
    calls = []

    def hook(event, path):
        calls.append(event)
        if len(calls) == k + 1:
            os._exit(KILLED)  # a kill: no cleanup, no finally, no atexit

    return hook


# --- 1. two writers into one folder ------------------------------------------------------------------


def test_a_second_writer_never_touches_a_live_runs_temp_folder(tmp_path):
    target = tmp_path / "out"
    inside, done = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def first():
        try:
            with staged_dir(target) as tmp:
                (tmp / "first.txt").write_text("first")
                inside.set()
                assert done.wait(WAIT)
            results["first"] = "ok"
        except Exception as e:  # recorded for the asserts below
            results["first"] = e

    def second():
        assert inside.wait(WAIT)
        try:
            with staged_dir(target) as tmp:
                (tmp / "second.txt").write_text("second")
            results["second"] = "ok"
        except Exception as e:
            results["second"] = e
        finally:
            done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert results["first"] == "ok", results
    error = results["second"]
    assert isinstance(error, OutputError) and str(target) in str(error) and "another spa-vl run is writing" in str(error)
    assert "\n" not in str(error)
    assert sorted(p.name for p in target.iterdir()) == ["first.txt"]
    assert _dot_entries(tmp_path) == []  # no temp, no lock file left
    with staged_dir(target, overwrite=True) as tmp:  # in turn, the second succeeds
        (tmp / "second.txt").write_text("second")
    assert sorted(p.name for p in target.iterdir()) == ["second.txt"]


def test_an_owned_temp_dir_removes_dead_owners_folders_and_keeps_live_ones(tmp_path):
    """atomic.owned_temp_dir (the Hub byte cache's per-process folder): a dead process's folder of the same
    name goes, a live one's and other names' stay, and the new folder carries this process as owner."""
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead_pid = int(gone.stdout)
    parent = tmp_path / "ranges-parent"
    dead = parent / f"{atomic.TEMP_PREFIX}ranges.{atomic._HOST}-{dead_pid}.abc"
    live = parent / f"{atomic.TEMP_PREFIX}ranges.{atomic._HOST}-{os.getppid()}.def"
    other = parent / f"{atomic.TEMP_PREFIX}report.{atomic._HOST}-{dead_pid}.ghi"
    for folder in (dead, live, other):
        folder.mkdir(parents=True)
    made = atomic.owned_temp_dir(parent, "ranges")
    assert made.is_dir() and not any(made.iterdir())
    assert made.name.startswith(f"{atomic.TEMP_PREFIX}ranges.{atomic._HOST}-{os.getpid()}.")
    assert not dead.exists() and live.is_dir() and other.is_dir()


def test_two_ablate_processes_into_one_out(sample_dir, tmp_path):
    out = tmp_path / "subsets"
    inside, done = FORK.Event(), FORK.Event()
    codes = FORK.Queue()
    args = ["--quiet", "ablate", str(sample_dir), "--out", str(out), "--sizes", "20,40", "--format", "parquet"]

    def first():
        def hold(event, path):
            if event == "staged":  # the lock is held and the temp folders exist
                inside.set()
                assert done.wait(WAIT)

        atomic.fault_hook = hold
        codes.put(("first", main([*args, "--seed", "1"])))

    def second():
        assert inside.wait(WAIT)
        with open(tmp_path / "second.err", "w") as err, contextlib.redirect_stderr(err):
            codes.put(("second", main([*args, "--seed", "2"])))
        done.set()

    processes = [FORK.Process(target=first), FORK.Process(target=second)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(WAIT)
    assert dict(codes.get(timeout=WAIT) for _ in processes) == {"first": 0, "second": 1}
    message = (tmp_path / "second.err").read_text()
    assert message.count("\n") == 1 and str(out) in message and "another spa-vl run is writing" in message
    assert _generations(out) == {"scale-20": 1, "scale-40": 1}  # the first run's output, whole
    assert all(problems == [] for problems in verify_tree(out).values())
    assert _dot_entries(out) == []
    assert main([*args, "--seed", "2", "--overwrite"]) == 0  # in turn, the second succeeds
    assert _generations(out) == {"scale-20": 2, "scale-40": 2}


def test_a_writer_never_recreates_a_vanished_temp_folder(sample_dir, pool, tmp_path):
    from spa_vl.analysis.writers import base as writer

    @writer.register
    class Vandal(writer.SubsetWriter):  # another program deleting the folder mid-run
        name = "vandal"

        def add(self, file_index, rows):
            shutil.rmtree(self.context.folder, ignore_errors=True)

        def finish(self, eval_rows):
            return {}

    try:
        with pytest.raises(OutputError, match="removed") as caught:
            _export(sample_dir, pool, tmp_path / "out", 1, formats=["vandal", "parquet"])
        assert ".spa-vl-tmp" not in str(caught.value).split(":")[0]
        assert not (tmp_path / "out").exists() or _generations(tmp_path / "out") == {}
    finally:
        del writer.WRITERS["vandal"]


def test_verify_checks_every_listed_file_and_complete_shard_sets(sample_dir, pool, tmp_path):
    out = tmp_path / "out"
    _export(sample_dir, pool, out, 1)
    folder = out / "scale-40"
    manifest = json.loads((folder / "manifest.json").read_text())
    shards = sorted(n for n in manifest["files"] if n.startswith("data/"))
    assert len(shards) > 1 and manifest["sizes"][shards[0]] == (folder / shards[0]).stat().st_size
    # a run that lost a shard and listed only what it found (what the race of issue 21 produced)
    (folder / shards[0]).unlink()
    del manifest["files"][shards[0]], manifest["sizes"][shards[0]]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_tree(out)[str(folder)]
    assert problems == [f"{folder / shards[0]}: missing (a shard of a set the manifest lists)"]
    # same length, other bytes: the size check passes, the hash does not
    data = (folder / shards[1]).read_bytes()
    (folder / shards[1]).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert any("modified" in p for p in verify_tree(out)[str(folder)])
    (folder / shards[1]).write_bytes(data + b"\0")
    assert any(f"{len(data) + 1} bytes, the manifest says {len(data)}" in p for p in verify_tree(out)[str(folder)])


# --- 2. a kill at every step of a publish ------------------------------------------------------------


def test_a_kill_at_any_publish_step_loses_no_output(sample_dir, pool, tmp_path):
    base = tmp_path / "base" / "out"
    _export(sample_dir, pool, base, 1)
    events: list[str] = []
    recorded = tmp_path / "recorded" / "out"
    shutil.copytree(base, recorded)
    atomic.fault_hook = lambda event, path: events.append(event)
    try:
        _export(sample_dir, pool, recorded, 2, overwrite=True)
    finally:
        atomic.fault_hook = None
    assert events.count("aside") == 2 and events.count("in") == 2 and events[:2] == ["staged", "journal"]
    for k, event in enumerate(events):
        out = tmp_path / f"kill-{k}" / "out"
        shutil.copytree(base, out)

        def run(k=k, out=out):
            atomic.fault_hook = _kill_at(k)
            _export(sample_dir, pool, out, 2, overwrite=True)

        assert _in_child(run) == KILLED, event
        # the next run (any run into this folder) finishes the publish, or keeps the old output
        with pytest.raises(UsageError, match="already holds files"):
            _export(sample_dir, pool, out, 3)
        expected = 1 if k < events.index("journal") else 2
        assert _generations(out) == {"scale-20": expected, "scale-40": expected}, f"killed after {event} (step {k})"
        assert all(problems == [] for problems in verify_tree(out).values()), event
        assert _dot_entries(out) == [], event  # temp folders of the dead run removed, old copies dropped only now


def test_a_kill_between_aside_and_in_keeps_the_users_report_folder(tmp_path):
    target = tmp_path / "report"
    target.mkdir()
    (target / "old.txt").write_text("the user's previous output")

    def run():
        atomic.fault_hook = lambda event, path: os._exit(KILLED) if event == "aside" else None
        with staged_dir(target, overwrite=True, what="report") as tmp:
            (tmp / "new.txt").write_text("new")

    assert _in_child(run) == KILLED
    assert not target.exists()  # killed between the two renames
    aside = [p for p in tmp_path.iterdir() if p.name.startswith(".spa-vl-old-report.")]
    assert [p.name for p in aside[0].iterdir()] == ["old.txt"]
    with pytest.raises(UsageError):  # the next run finishes the publish (the new folder was complete)
        with staged_dir(target, what="report"):
            pass
    assert [p.name for p in target.iterdir()] == ["new.txt"] and _dot_entries(tmp_path) == []


def test_an_interrupted_publish_is_reported_by_verify(sample_dir, pool, tmp_path):
    out = tmp_path / "out"
    _export(sample_dir, pool, out, 1)

    def run():
        atomic.fault_hook = lambda event, path: os._exit(KILLED) if event == "in" else None
        _export(sample_dir, pool, out, 2, overwrite=True)

    assert _in_child(run) == KILLED
    results = verify_tree(out)
    assert not any(".spa-vl" in Path(folder).name for folder in results)  # temp folders are not subsets
    assert any("killed while publishing" in p for p in results[str(out)])


# --- 7. full disk, read-only folder, odd output paths ------------------------------------------------


@contextlib.contextmanager
def small_tmpfs(folder: Path, options: str = "size=1m"):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def _fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` up to ``leave`` free bytes."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    with open(folder / "filler", "wb") as f:
        with contextlib.suppress(OSError):
            f.write(b"\0" * max(free - leave, 0))


def test_disk_full_names_the_users_path_and_the_fix(sample_dir, tmp_path, capsys):
    with small_tmpfs(tmp_path / "small") as small:
        _fill(small, 64 * 1024)
        out = small / "subsets"
        code = main(["--quiet", "ablate", str(sample_dir), "--out", str(out), "--sizes", "200", "--format", "parquet,rlhf"])
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1, err
        assert str(out) in err and ".spa-vl-tmp" not in err
        assert "no space left" in err and "free space" in err
        assert not out.exists() or [p.name for p in out.iterdir()] == []  # nothing published, no temp left
        (small / "filler").unlink()
        _fill(small, 0)
        code = main(["--quiet", "stats", str(sample_dir), "--json", str(small / "stats.json")])
        err = capsys.readouterr().err
        assert code == 1 and str(small / "stats.json") in err and ".spa-vl-tmp" not in err and "no space left" in err
        assert sorted(p.name for p in small.iterdir()) == ["filler"]


def test_a_read_only_cache_names_the_variable_that_moves_it(sample_dir, tmp_path, capsys, monkeypatch):
    with small_tmpfs(tmp_path / "ro", "size=1m,ro") as ro:
        monkeypatch.setenv("SPA_VL_CACHE", str(ro / "cache"))
        code = main(["--quiet", "stats", "sample"])  # the embedded sample is materialised in the cache
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1, err
        assert str(ro / "cache") in err and "read-only" in err and "SPA_VL_CACHE" in err


def test_read_only_output_folder(sample_dir, tmp_path, capsys):
    with small_tmpfs(tmp_path / "ro", "size=1m,ro") as ro:
        code = main(["--quiet", "ablate", str(sample_dir), "--out", str(ro / "subsets"), "--sizes", "20", "--format", "parquet"])
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1 and str(ro / "subsets") in err and "read-only" in err, err


def test_out_naming_a_file_and_json_naming_a_folder(sample_dir, tmp_path, capsys):
    afile = tmp_path / "subsets.txt"
    afile.write_text("keep me")
    code = main(["--quiet", "ablate", str(sample_dir), "--out", str(afile), "--sizes", "20", "--format", "parquet"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and str(afile) in err and "a file has that name" in err, err
    assert afile.read_text() == "keep me"
    folder = tmp_path / "stats"
    folder.mkdir()
    code = main(["--quiet", "stats", str(sample_dir), "--json", str(folder)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and f"{folder}: is a folder" in err and ".spa-vl-tmp" not in err, err
    assert list(folder.iterdir()) == []


# --- 9. garbage image bytes ----------------------------------------------------------------------


@pytest.fixture
def garbage_mirror(mirror):
    """The mirror with the first two rows of the first train shard holding garbage image bytes."""
    shard = sorted((mirror / "data").glob("train-*.parquet"))[0]

    def spoil(table: pa.Table) -> pa.Table:
        images = table.column("image").combine_chunks()
        data = images.field("bytes").to_pylist()
        data[0], data[1] = b"not an image at all", b"\xff\xd8\xff garbage"
        fixed = pa.StructArray.from_arrays([pa.array(data, pa.binary()), images.field("path")], names=["bytes", "path"])
        return table.set_column(table.column_names.index("image"), "image", fixed)

    rewrite_parquet(shard, spoil)
    names = pq.read_table(shard, columns=["image_name"]).column("image_name").to_pylist()[:2]
    return mirror, names


def test_garbage_images_are_named_and_strict_refuses_them(garbage_mirror, tmp_path):
    mirror, names = garbage_mirror
    pool = train_pool(mirror)
    subsets = ScaleLadder(sizes=[len(pool)]).sample(pool)
    with pytest.warns(SpaVLWarning, match=r"2 row\(s\) hold image bytes that are not a readable image") as caught:
        export_subsets(mirror, subsets, tmp_path / "out", pool=pool, formats=["parquet", "rlhf"], progress=False)
    message = str(caught[0].message)
    assert all(name in message for name in names) and "--strict" in message
    with pytest.raises(SpaVLError, match="not a readable image") as refused:
        export_subsets(mirror, subsets, tmp_path / "strict", pool=pool, formats=["parquet", "rlhf"], progress=False, strict=True)
    assert all(name in str(refused.value) for name in names)
    assert not (tmp_path / "strict").exists()


# --- 10. the card writer --------------------------------------------------------------------------


def test_card_refuses_to_rewrite_and_keeps_keys_it_does_not_own(mirror, capsys):
    card = mirror / "README.md"
    metadata, body = read_card(card)
    metadata = {"pretty_name": "My SPA-VL mirror", **{k: v for k, v in metadata.items() if k != "pretty_name"}, "language": ["en"]}
    card.write_text("---\n" + yaml.safe_dump(metadata, sort_keys=False) + "---\n" + body, encoding="utf-8")
    before = card.read_bytes()
    assert main(["--quiet", "card", str(mirror)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(card) in err and "--overwrite" in err
    assert card.read_bytes() == before
    assert main(["--quiet", "card", str(mirror), "--overwrite"]) == 0
    new, new_body = read_card(card)
    assert new["pretty_name"] == "My SPA-VL mirror" and new["language"] == ["en"] and new_body == body
    assert list(new) == list(metadata)  # every key in its place
    assert new["dataset_info"] and new["dataset_info"] != metadata.get("dataset_info")


# --- 6. --format llamafactory with a null question -----------------------------------------------


def test_llamafactory_leaves_out_a_row_without_a_question_and_says_so(mirror, tmp_path):
    shard = sorted((mirror / "data").glob("train-*.parquet"))[0]

    def null_question(table: pa.Table) -> pa.Table:
        questions = table.column("question").to_pylist()
        questions[0] = None
        return table.set_column(table.column_names.index("question"), "question", pa.array(questions, pa.string()))

    rewrite_parquet(shard, null_question)
    pool = train_pool(mirror)
    subsets = ScaleLadder(sizes=[len(pool)]).sample(pool)
    bad = pool.loc[pool["question"].isna(), "row_id"].tolist()
    assert len(bad) == 1
    with pytest.warns(SpaVLWarning, match=rf"left out 1 row\(s\).*row {bad[0]} \(question null\)"):
        (folder,) = export_subsets(mirror, subsets, tmp_path / "out", pool=pool, formats=["llamafactory"], progress=False)
    records = json.loads((folder / "llamafactory" / "train.json").read_text())
    assert len(records) == len(pool) - 1 and bad[0] not in {r["row_id"] for r in records}
    section = json.loads((folder / "manifest.json").read_text())["formats"]["llamafactory"]
    assert section["skipped_missing_text"] == {"rows": 1, "row_ids": bad}
    with pytest.raises(SpaVLError, match=rf"row {bad[0]} \(question null\).*drop --strict"):
        export_subsets(mirror, subsets, tmp_path / "strict", pool=pool, formats=["llamafactory"], progress=False, strict=True)
