"""Train↔eval contamination: planted exact, lexical and embedding duplicates, checked against brute force."""

import re

import numpy as np
import pytest
from datasketch import MinHash

from spa_vl.analysis.embeddings.encoder import Encoder
from spa_vl.analysis.metrics import contamination as ct
from spa_vl.errors import SpaVLError


def make_questions(n: int, seed: int) -> list[str]:
    """n distinct random questions of 8..40 words from a 3,000-word vocabulary, with real-data quirks."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"w{i}" for i in range(3000)])
    out = []
    for i in range(n):
        words = " ".join(vocabulary[rng.integers(0, 3000, int(rng.integers(8, 41)))])
        out.append([" ", "\n\n", " \n"][i % 3] + f"q{seed}x{i} {words}?")
    return out


def brute_jaccard(a: str, b: str, k: int = ct.SHINGLE_WORDS) -> float:
    def shingles(text):
        words = re.findall(r"[a-z0-9]+", " ".join(text.lower().split()))
        if len(words) < k:
            return {tuple(words)} if words else set()
        return {tuple(words[i : i + k]) for i in range(len(words) - k + 1)}

    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 0.0


def one_word_changed(text: str, at: int, word: str = "changed") -> str:
    words = text.split()
    words[at] = word
    return " ".join(words)


def test_normalisation_ignores_case_whitespace_and_wrapping_quotes():
    got = ct.normalize_questions(["\n\n\"How do I  STEAL\ta car?\"", " how do i steal a car?", None, "  ‘Quoted’  "])
    assert got.tolist() == ["how do i steal a car?", "how do i steal a car?", "", "quoted"]


def test_signatures_equal_datasketch_minhash_of_the_same_shingles():
    texts = ct.normalize_questions(make_questions(40, seed=1) + ["", "two words"])
    shingles = ct.shingle_hashes(texts)
    signatures = ct.minhash_signatures(shingles, chunk=64)  # small blocks: many block boundaries
    for i in range(len(texts)):
        h = shingles.of(i)
        reference = MinHash(num_perm=ct.NUM_PERM, seed=ct.MINHASH_SEED, hashfunc=lambda v: v)
        reference.update_batch(((h ^ (h >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).astype(np.uint32).tolist())
        assert np.array_equal(signatures[i], reference.hashvalues), i
    # shingle sets: word 3-grams, a short text is one shingle, an empty text none
    assert np.diff(shingles.offsets).tolist()[-2:] == [0, 1]
    assert len(shingles.of(0)) == len(set(zip(*(texts[0].replace("?", "").split()[j:] for j in range(3)))))


def test_planted_pairs_are_found_and_nothing_else():
    train = make_questions(1200, seed=2)
    rng = np.random.default_rng(3)
    rows = rng.choice(len(train), 30, replace=False)
    exact_rows, near_rows = rows[:10], rows[10:20]
    evals = ["\n\n" + train[r].strip().upper() + " " for r in exact_rows]  # exact after normalising
    evals += [one_word_changed(train[r], len(train[r].split()) - 2) for r in near_rows]  # one word changed
    evals += make_questions(10, seed=4)  # new questions
    train += [train[exact_rows[0]]]  # a train question twice: one pair, two train rows
    result = ct.find_contamination(train, {"eval/harm": evals})
    pairs = result.pairs
    exact = pairs[pairs["kind"] == "exact"]
    assert sorted(zip(exact["eval_row"], exact["train_row"])) == sorted(enumerate(exact_rows.tolist()))
    assert exact.loc[exact["eval_row"] == 0, "train_rows"].item() == 2
    assert (exact["similarity"] == 1.0).all() and exact["jaccard"].eq(1.0).all()

    # lexical pairs are exactly the brute-force pairs at Jaccard >= threshold (all 1,201 × 30 compared)
    expected = {
        (i, j) for i, e in enumerate(evals) for j, t in enumerate(train[:1200])
        if brute_jaccard(e, t) >= ct.JACCARD_THRESHOLD and " ".join(e.lower().split()) != " ".join(t.lower().split())
    }
    lexical = pairs[pairs["kind"] == "lexical"]
    assert set(zip(lexical["eval_row"], lexical["train_row"])) == expected
    assert {i for i, _ in expected} >= set(range(10, 20)) - {i for i in range(10, 20) if brute_jaccard(evals[i], train[near_rows[i - 10]]) < ct.JACCARD_THRESHOLD}
    for row in lexical.itertuples():
        assert row.similarity == pytest.approx(brute_jaccard(row.eval_question, row.train_question))
        assert row.eval_question == evals[row.eval_row] and row.train_question == train[row.train_row]
    assert not (pairs["eval_row"] >= 20).any()  # the new questions match nothing
    counts = result.summary.loc["eval/harm"]
    assert counts["questions"] == 30 and counts["exact"] == 10 and counts["any"] == pairs["eval_row"].nunique()
    assert np.isnan(counts["embedding"])  # no encoder: no embedding pass
    again = ct.find_contamination(train, {"eval/harm": evals}).pairs
    assert again.equals(pairs)  # same input, same pairs


def test_lsh_misses_no_pair_above_the_threshold():
    # many near-duplicates at Jaccard 0.7..1: LSH candidates + exact check must find every one
    train = make_questions(250, seed=5)
    rng = np.random.default_rng(6)
    evals, truth = [], []
    for k in range(80):
        row = int(rng.integers(len(train)))
        text = train[row]
        for _ in range(int(rng.integers(0, 3))):
            text = one_word_changed(text, int(rng.integers(2, len(text.split()))), f"x{k}")
        evals.append(text)
    index = ct.ContaminationIndex(max_matches=50).fit(train)
    pairs, _ = index.find(evals)
    for i, e in enumerate(evals):
        truth = {j for j, t in enumerate(train) if brute_jaccard(e, t) >= ct.JACCARD_THRESHOLD}
        got = set(pairs.loc[(pairs["eval_row"] == i) & pairs["kind"].isin(["exact", "lexical"]), "train_row"])
        assert got == truth, i


def test_top_cosine_equals_a_full_sort():
    rng = np.random.default_rng(7)
    queries = rng.normal(size=(25, 16))
    corpus = rng.normal(size=(1000, 16))
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    idx, sims = ct.top_cosine(queries, corpus, k=4, block=97)
    full = queries @ corpus.T
    assert np.array_equal(idx, np.argsort(-full, axis=1)[:, :4])
    assert np.allclose(sims, np.sort(full, axis=1)[:, ::-1][:, :4], atol=1e-6)


def test_embedding_pass_finds_a_paraphrase_with_the_real_model(tmp_path):
    train = make_questions(30, seed=8) + ["How can I take someone's car without the owner noticing?"]
    evals = ["How could I take somebody's car without its owner noticing?", "Describe the weather in this photo."]
    encoder = Encoder(cache_dir=tmp_path, progress=False)
    result = ct.find_contamination(train, {"eval/help": evals}, encoder=encoder, cosine_threshold=0.9)
    pairs = result.pairs
    assert pairs[["eval_row", "train_row", "kind"]].values.tolist() == [[0, 30, "embedding"]]
    assert pairs["cosine"].item() >= 0.9 and pairs["jaccard"].item() < ct.JACCARD_THRESHOLD
    assert pairs["cosine"].item() == pytest.approx(float((encoder.encode(evals[:1]) @ encoder.encode(train[-1:]).T)[0, 0]), abs=1e-6)
    assert result.summary.loc["eval/help", "embedding"] == 1
    second = Encoder(cache_dir=tmp_path, progress=False)
    ct.find_contamination(train, {"eval/help": evals}, encoder=second, cosine_threshold=0.9)
    assert second.encoded_total == 0  # the embedding pass is cached


def test_bad_parameters_are_one_line_errors():
    with pytest.raises(SpaVLError, match="jaccard_threshold 1.5 is invalid"):
        ct.ContaminationIndex(jaccard_threshold=1.5)
    with pytest.raises(SpaVLError, match="call fit"):
        ct.ContaminationIndex().find(["a question"])
    empty = ct.find_contamination([], {"eval/harm": ["a question"]})
    assert empty.pairs.empty and empty.summary.loc["eval/harm", "any"] == 0
