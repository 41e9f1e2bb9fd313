"""Benchmark of the image analyses at full SPA-VL scale (not part of the test suite).

    .venv/bin/python benchmarks/images.py            # 100,788 images of ~33 KB (the set of benchmarks/run.py)
    .venv/bin/python benchmarks/images.py --quick    # 10,000 images

Pairs, each printed as ``name: ours X, baseline Y, ratio Z, target T, PASS|FAIL``:

- hashing, cold cache: ``spa_vl.analysis.inputs.images.image_table`` (header reads, reduced-scale draft,
  dhash, a worker per core) against the naive loop (each split's image column read whole, every
  image fully decoded, ``imagehash.dhash``, one process). The naive loop is timed on its first
  10,000 images and projected to the whole set. Target: ours < 180 s at full scale on 2 cores.
- hashing, warm cache: the same call again (sha256 per image, everything else from the content cache).
- duplicates: ``find_duplicates`` on the table (every train content against every other).

Results land in benchmarks/results-images.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run import FULL_ROWS, QUICK_ROWS, dataset  # noqa: E402

BASELINE_IMAGES = 10_000
TARGET_S = 180.0


def report(name: str, ours: float, baseline: float, target: str, ok: bool, extra: str = "") -> dict:
    text = f"{name}: ours {ours:.1f} s, baseline {baseline:.1f} s, ratio {baseline / ours:.1f}, target {target}, {'PASS' if ok else 'FAIL'}"
    print(text + (f" ({extra})" if extra else ""), flush=True)
    return {"name": name, "ours_s": ours, "baseline_s": baseline, "ratio": baseline / ours, "target": target, "pass": ok, "note": extra}


def naive_hashing(folder: Path, limit: int) -> tuple[float, int]:
    """Read each file's image column whole, decode every image fully, dhash it; stop after ``limit``."""
    import imagehash
    import pyarrow.parquet as pq
    from PIL import Image

    done, start = 0, time.perf_counter()
    for path in sorted(folder.rglob("*.parquet")):
        column = pq.read_table(path, columns=["image"]).column("image").combine_chunks().field("bytes").to_pylist()
        for data in column:
            image = Image.open(io.BytesIO(data))
            image.load()
            imagehash.dhash(image)
            done += 1
            if done == limit:
                return time.perf_counter() - start, done
    return time.perf_counter() - start, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} images instead of {FULL_ROWS:,}")
    args = parser.parse_args()
    rows = QUICK_ROWS if args.quick else FULL_ROWS
    folder = dataset(rows)
    os.environ["SPA_VL_CACHE"] = tempfile.mkdtemp(prefix="spa-vl-bench-images-")  # a cold content cache
    from spa_vl.analysis.inputs import images as image_input
    from spa_vl.analysis.metrics import images as image_metrics

    cores = os.cpu_count() or 1
    t = time.perf_counter()
    table = image_input.image_table(str(folder))
    cold = time.perf_counter() - t
    t = time.perf_counter()
    image_input.image_table(str(folder))
    warm = time.perf_counter() - t
    seconds, done = naive_hashing(folder, BASELINE_IMAGES)
    naive = seconds * len(table) / done
    mean_kb = table["bytes"].mean() / 1000
    results = [
        report(f"dhash {len(table):,} images (~{mean_kb:.0f} KB), cold cache, {cores} cores vs naive full decode (projected from {done:,})",
               cold, naive, f"< {TARGET_S:.0f} s", cold < TARGET_S, f"{len(table) / cold:.0f} images/s"),
        report("dhash again, warm content cache vs naive", warm, naive, "< 30 s", warm < 30, f"{len(table) / warm:.0f} images/s"),
    ]
    t = time.perf_counter()
    dup = image_metrics.find_duplicates(table)
    took = time.perf_counter() - t
    results.append(report("duplicates (exact + near, train and train vs eval) vs hashing cold", took, cold, "< 60 s", took < 60))
    print(dup.summary.to_string(index=False))
    out = HERE / ("results-images-quick.json" if args.quick else "results-images.json")
    out.write_text(json.dumps({"rows": len(table), "cores": cores, "results": results}, indent=2) + "\n")
    return 0 if all(r["pass"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
