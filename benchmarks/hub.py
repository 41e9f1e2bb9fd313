"""Bytes each hub command fetches, on a full-scale SPA-VL served by a local Hub-API server (not part of the tests).

    .venv/bin/python benchmarks/hub.py            # 100,788 rows, 256-px images (~3.3 GB of Parquet)
    .venv/bin/python benchmarks/hub.py --quick    # 10,000 rows

The synthetic set of ``benchmarks/run.py`` (generated once under ``benchmarks/.cache/``, reused
while the generator's fingerprint is unchanged) is rewritten with 100-row row groups (what
``push_to_hub`` writes for image data) and with one row group per shard, each served by
``tests/hub_server.py`` as ``sqrti/SPA-VL``. ``spa-vl stats`` and ``spa-vl doctor`` run in their
own process with empty caches, pointed at the server with ``HF_ENDPOINT``; the server counts the
bytes it sends. Each line: ``name: fetched X MB of Y MB parquet (Z%), target T, PASS|FAIL``, plus
the floor (every footer plus the non-image column chunks: what a label/text read cannot avoid).
On the 100-row layout ``spa-vl ablate`` and ``spa-vl report`` run too (issue 25): each byte at most
once per command, so their target is the repo's Parquet bytes (1.0x) and no byte sent twice (the
server logs every body's first byte and length). Results land in ``benchmarks/results-hub.json``
(``results-hub-quick.json`` with ``--quick``, so a quick run never replaces the full-scale numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

from hub_server import HubServer  # noqa: E402
from run import CACHE, FULL_ROWS, QUICK_ROWS, dataset  # noqa: E402

REPO_ID = "sqrti/SPA-VL"
TARGETS = {"rg100": 0.05, "one-group": 0.02}
#: Commands that read whole shards: run on the 100-row layout only, each byte fetched at most once.
WHOLE_READS = {
    "ablate": ["--sizes", "1000", "--format", "parquet", "--seed", "0"],
    "report": ["--sample", "100"],
}


def regrouped(folder: Path, layout: str) -> Path:
    """A copy of ``folder`` (hard links) whose Parquet files have 100-row groups or one group per shard."""
    import pyarrow.parquet as pq

    target = CACHE / f"hub-{layout}-{folder.name}"
    if (target / ".done").is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    print(f"rewriting {folder.name} with {layout} row groups (once) ...", flush=True)
    shutil.copytree(folder, target, copy_function=os.link)
    for path in sorted(target.rglob("*.parquet")):
        parquet = pq.ParquetFile(path)
        size = 100 if layout == "rg100" else parquet.metadata.num_rows
        table = parquet.read()
        path.unlink()  # a hard link: the original keeps its bytes
        pq.write_table(table, path, row_group_size=max(1, size), compression="snappy")
    (target / ".done").write_text("")
    return target


def floor_bytes(folder: Path) -> int:
    """Footers + every non-image column chunk: the least a label/text read can fetch."""
    import pyarrow.parquet as pq

    total = 0
    for path in folder.rglob("*.parquet"):
        meta = pq.read_metadata(path)
        total += meta.serialized_size + 8
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            total += sum(group.column(c).total_compressed_size for c in range(group.num_columns)
                         if not group.column(c).path_in_schema.startswith("image."))
    return total


def sent_twice(hub: HubServer) -> int:
    """Bytes the server sent more than once (per file: the sum of the bodies less their union)."""
    bodies: dict[str, list[tuple[int, int]]] = {}
    for _, path, start, n in hub.requests("FILE"):
        bodies.setdefault(path, []).append((start, start + n))
    twice = 0
    for ranges in bodies.values():
        end = 0
        for a, b in sorted(ranges):
            twice += max(0, min(b, end) - a)
            end = max(end, b)
    return twice


def run_command(hub: HubServer, args: list[str], tmp: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_ENDPOINT=hub.url, SPA_VL_CACHE=str(tmp / "spa"), HF_DATASETS_CACHE=str(tmp / "ds"), HF_HUB_CACHE=str(tmp / "hf"))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "spa_vl.cli", "--quiet", *args], env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if out.returncode not in (0, 1) or "error" in out.stderr:
        raise RuntimeError(f"spa-vl {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows instead of {FULL_ROWS:,}")
    rows = QUICK_ROWS if parser.parse_args().quick else FULL_ROWS
    base = dataset(rows)
    results = []
    for layout, target in TARGETS.items():
        folder = regrouped(base, layout)
        parquet = sum(p.stat().st_size for p in folder.rglob("*.parquet"))
        meta = sum(p.stat().st_size for p in folder.glob("meta_files/*/*.json"))
        floor = floor_bytes(folder)
        with HubServer() as hub, tempfile.TemporaryDirectory(prefix="spa-vl-hub-") as tmp:
            hub.commit(REPO_ID, folder)
            for command in ("stats", "doctor"):
                hub.reset_log()
                took = run_command(hub, [command, REPO_ID], Path(tmp) / command)
                fetched, fetched_meta = hub.bytes_sent(".parquet"), hub.bytes_sent(".json")
                share = fetched / parquet
                name = f"{command} ({layout}, {rows:,} rows)"
                ok = share <= target
                print(
                    f"{name}: fetched {fetched / 1e6:.1f} MB of {parquet / 1e6:.0f} MB parquet ({share:.2%}), target {target:.0%}, "
                    f"{'PASS' if ok else 'FAIL'}  [floor {floor / 1e6:.1f} MB = {floor / parquet:.2%}; meta JSON "
                    f"{fetched_meta / 1e6:.1f} of {meta / 1e6:.1f} MB; {len(hub.requests('FILE'))} requests; {took:.1f} s]",
                    flush=True,
                )
                results.append({"name": name, "fetched_bytes": fetched, "parquet_bytes": parquet, "share": share,
                                "target": target, "pass": ok, "floor_bytes": floor, "meta_fetched_bytes": fetched_meta,
                                "meta_bytes": meta, "requests": len(hub.requests("FILE")), "seconds": took})
            for command, extra in WHOLE_READS.items() if layout == "rg100" else ():
                hub.reset_log()
                work = Path(tmp) / command
                took = run_command(hub, [command, REPO_ID, *extra, "--out", str(work / "out")], work)
                fetched, fetched_meta, twice = hub.bytes_sent(".parquet"), hub.bytes_sent(".json"), sent_twice(hub)
                share, name = fetched / parquet, f"{command} ({layout}, {rows:,} rows)"
                ok = share <= 1.0 and twice == 0
                print(
                    f"{name}: fetched {fetched / 1e6:.1f} MB of {parquet / 1e6:.0f} MB parquet ({share:.2f}x), "
                    f"{twice:,} bytes sent twice, target 1.00x and none twice, {'PASS' if ok else 'FAIL'}  [meta JSON "
                    f"{fetched_meta / 1e6:.1f} of {meta / 1e6:.1f} MB; {len(hub.requests('FILE'))} requests; {took:.1f} s]",
                    flush=True,
                )
                results.append({"name": name, "fetched_bytes": fetched, "parquet_bytes": parquet, "share": share,
                                "target": 1.0, "pass": ok, "sent_twice_bytes": twice, "meta_fetched_bytes": fetched_meta,
                                "meta_bytes": meta, "requests": len(hub.requests("FILE")), "seconds": took})
    (HERE / ("results-hub-quick.json" if rows == QUICK_ROWS else "results-hub.json")).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
