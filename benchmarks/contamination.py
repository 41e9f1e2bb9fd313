"""Full-scale train↔eval contamination: the exact and lexical passes over 93,258 × 530 questions.

Synthetic questions with the real data's shape (hub split sizes; ~27 words on average, up to ~180;
leading whitespace; some quoted), drawn from a Zipf vocabulary, plus planted copies: eval questions
that are train questions re-spaced and re-cased (exact), with one or two words changed (lexical), or
new (no match). Prints the time of each pass and how many planted pairs were found, and writes
``benchmarks/contamination.json``. Not part of the tests.

    .venv/bin/python benchmarks/contamination.py [--embedding]

``--embedding`` also runs the embedding pass (encodes every distinct train question once: minutes on
2 cores; later runs read the cache).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spa_vl.analysis.metrics.contamination import JACCARD_THRESHOLD, find_contamination, normalize_questions, shingle_hashes  # noqa: E402

TRAIN, HARM, HELP = 93_258, 265, 265
TARGET_SECONDS = 60.0


def synthetic_questions(n: int, rng: np.random.Generator, vocabulary: np.ndarray) -> list[str]:
    """N questions: lognormal word counts (mean ~27, 3..180), Zipf words, real-data whitespace quirks."""
    lengths = np.clip(np.round(rng.lognormal(np.log(23), 0.55, n)), 3, 180).astype(int)
    ranks = np.minimum(rng.zipf(1.3, lengths.sum()) - 1, len(vocabulary) - 1)
    words = vocabulary[ranks]
    prefixes = np.array([" ", "\n\n", " \n"])[rng.integers(0, 3, n)]
    quoted = rng.random(n) < 0.1
    out, start = [], 0
    for length, prefix, quote in zip(lengths.tolist(), prefixes.tolist(), quoted.tolist()):
        text = " ".join(words[start : start + length].tolist()) + "?"
        start += length
        out.append(prefix + (f'"{text}"' if quote else text))
    return out


def planted_eval(train: list[str], n: int, rng: np.random.Generator, vocabulary: np.ndarray) -> tuple[list[str], dict]:
    """N eval questions: a quarter exact copies, a quarter with one changed word, the rest new."""
    new = synthetic_questions(n, rng, vocabulary)
    picks = rng.choice(len(train), size=n // 2, replace=False)
    exact, near = picks[: n // 4], picks[n // 4 :]
    out = list(new)
    for k, row in enumerate(exact.tolist()):
        out[k] = "  " + train[row].strip().upper()
    for k, row in enumerate(near.tolist(), start=n // 4):
        words = train[row].split()
        words[len(words) // 2] = "zzchanged"
        out[k] = " ".join(words)
    return out, {"exact": exact.tolist(), "near": near.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding", action="store_true", help="also run the (cached) embedding pass")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    syllables = np.array(["ka", "lo", "mi", "su", "te", "ra", "no", "vi", "de", "po", "ze", "fu", "ha", "ji", "be"])
    vocabulary = np.unique(["".join(rng.choice(syllables, rng.integers(1, 5))) + str(i % 7) for i in range(40_000)])
    train = synthetic_questions(TRAIN, rng, vocabulary)
    harm, planted_harm = planted_eval(train, HARM, rng, vocabulary)
    help_, planted_help = planted_eval(train, HELP, rng, vocabulary)
    words = np.array([len(t.split()) for t in train])
    print(f"train {TRAIN:,} questions, {words.mean():.1f} words on average (max {words.max()}); eval {HARM} + {HELP}")

    encoder = None
    if args.embedding:
        from spa_vl.analysis.embeddings.encoder import Encoder

        encoder = Encoder(progress=True)
    t0 = time.perf_counter()
    result = find_contamination(train, {"eval/harm": harm, "eval/help": help_}, encoder=encoder)
    total = time.perf_counter() - t0
    exact_lexical = result.seconds["exact"] + result.seconds["lexical"]

    found = {}
    for split, planted in (("eval/harm", planted_harm), ("eval/help", planted_help)):
        pairs = result.pairs[result.pairs["eval_split"] == split]
        got_exact = set(zip(pairs.loc[pairs["kind"] == "exact", "eval_row"], pairs.loc[pairs["kind"] == "exact", "train_row"]))
        got_near = set(zip(pairs.loc[pairs["kind"] == "lexical", "eval_row"], pairs.loc[pairs["kind"] == "lexical", "train_row"]))
        want_exact = set(enumerate(planted["exact"]))
        evals = harm if split == "eval/harm" else help_
        # a changed word in a short question can leave Jaccard < threshold: only those >= it must be found
        want_near = {
            (i, row) for i, row in enumerate(planted["near"], start=len(planted["exact"]))
            if (lambda s: s.jaccard(s, 0, 1))(shingle_hashes(normalize_questions([evals[i], train[row]]))) >= JACCARD_THRESHOLD
        }
        found[split] = {
            "planted_exact_found": f"{len(want_exact & got_exact)}/{len(want_exact)}",
            "planted_near_found": f"{len(want_near & got_near)}/{len(want_near)}",
            "other_pairs": int(len(pairs)) - len(want_exact & got_exact) - len(want_near & got_near),
        }
    print(result.summary.to_string())
    for split, f in found.items():
        print(f"{split}: planted exact {f['planted_exact_found']}, planted near (Jaccard >= {JACCARD_THRESHOLD}) {f['planted_near_found']}, other pairs {f['other_pairs']}")
    for name, seconds in result.seconds.items():
        print(f"  {name}: {seconds:.2f} s")
    verdict = "PASS" if exact_lexical < TARGET_SECONDS else "FAIL"
    print(f"exact + lexical: ours {exact_lexical:.2f} s for {TRAIN:,} x {HARM + HELP}, target < {TARGET_SECONDS:.0f} s, {verdict}  (total {total:.2f} s)")
    record = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "train": TRAIN,
        "eval": HARM + HELP,
        "mean_words": float(words.mean()),
        "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        "exact_plus_lexical_seconds": round(exact_lexical, 3),
        "target_seconds": TARGET_SECONDS,
        "verdict": verdict,
        "planted": found,
        "settings": result.settings,
    }
    out = Path(__file__).with_name("contamination.json")
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
