"""`spa-vl publish` at full scale: size, shard count and time (not part of the test suite).

    .venv/bin/python benchmarks/publish.py            # 100,788 rows, 256-px images
    .venv/bin/python benchmarks/publish.py --quick    # 10,000 rows

Publishes the synthetic set of ``benchmarks/run.py`` (generated once under ``benchmarks/.cache/``)
into a temporary folder in a child process (wall time, peak RSS), then loads every config back
with plain ``datasets.load_dataset(folder, config)`` in another child (a process that never imports
spa_vl) and checks the row counts. Prints one line per split (rows, shards, MB, row groups) and
the totals, and writes ``benchmarks/results-publish.json``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run import child, scale_from_arguments  # noqa: E402


def shard_table(folder: Path) -> list[dict]:
    """Per published split folder: rows, shard files, bytes and row groups (from the Parquet footers)."""
    import pyarrow.parquet as pq

    splits: dict[str, dict] = {}
    for path in sorted(folder.rglob("*.parquet")):
        key = f"{path.parent.relative_to(folder)}/{path.name.split('-')[0]}"
        meta = pq.read_metadata(path)
        entry = splits.setdefault(key, {"split": key, "rows": 0, "shards": 0, "bytes": 0, "row_groups": 0, "largest_shard": 0})
        size = path.stat().st_size
        entry["rows"] += meta.num_rows
        entry["shards"] += 1
        entry["bytes"] += size
        entry["row_groups"] += meta.num_row_groups
        entry["largest_shard"] = max(entry["largest_shard"], size)
    return list(splits.values())


def main() -> int:
    source, quick = scale_from_arguments(__doc__ or "")
    source_bytes = sum(p.stat().st_size for p in source.rglob("*.parquet"))
    tmp = Path(tempfile.mkdtemp(prefix="spa-vl-publish-bench-"))
    try:
        out = tmp / "published"
        env = {"SPA_VL_CACHE": str(tmp / "cache"), "HF_DATASETS_CACHE": str(tmp / "ds")}
        published = child(
            "from spa_vl.cli import main\nt = time.perf_counter()\n"
            f"rc = main(['--quiet', 'publish', {str(source)!r}, '--out', {str(out)!r}])\n"
            "result = {'s': time.perf_counter() - t, 'rc': rc}",
            env,
        )
        table = shard_table(out)
        loaded = child(
            "import datasets\nt = time.perf_counter()\ncounts = {}\n"
            "for config in ('default', 'validation', 'test'):\n"
            f"    built = datasets.load_dataset({str(out)!r}, config)\n"
            "    counts.update({f'{config}/{s}': built[s].num_rows for s in built})\n"
            "import sys\nassert 'spa_vl' not in sys.modules\n"
            "result = {'s': time.perf_counter() - t, 'counts': counts}",
            env,
        )
        for entry in table:
            print(f"{entry['split']}: {entry['rows']:,} rows in {entry['shards']} shard(s), {entry['bytes'] / 1e6:,.0f} MB "
                  f"(largest {entry['largest_shard'] / 1e6:,.0f} MB), {entry['row_groups']} row groups", flush=True)
        total = sum(e["bytes"] for e in table)
        result = {
            "rows": sum(e["rows"] for e in table), "shards": sum(e["shards"] for e in table), "bytes": total,
            "source_parquet_bytes": source_bytes, "publish_s": published["s"], "publish_rc": published["rc"],
            "publish_peak_rss_mb": published["rss_mb"], "load_back_s": loaded["s"], "loaded_rows": loaded["counts"],
            "load_back_peak_rss_mb": loaded["rss_mb"], "splits": table,
        }
        print(f"published {result['rows']:,} rows: {result['shards']} shards, {total / 1e9:.2f} GB "
              f"(source Parquet {source_bytes / 1e9:.2f} GB) in {published['s']:.0f} s, exit {published['rc']}, "
              f"peak RSS {published['rss_mb']:.0f} MB; plain datasets.load_dataset of all configs {loaded['s']:.0f} s", flush=True)
        name = "results-publish-quick.json" if quick else "results-publish.json"
        (HERE / name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return 0 if published["rc"] == 0 else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
