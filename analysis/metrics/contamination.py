"""Train↔eval contamination over every row: exact, lexical and embedding near-duplicates.

Every eval question is compared with every train question, in three passes:

* **exact** — equal after :func:`normalize_questions` (lower case, every run of whitespace made one
  space, ends trimmed, wrapping quotes dropped: the real questions start with whitespace and some
  are quoted);
* **lexical** — Jaccard similarity of the sets of word :data:`SHINGLE_WORDS`-grams (shingles) of the
  normalised text with punctuation dropped (a text shorter than that is one shingle). Candidates come
  from datasketch's ``MinHashLSH`` (:data:`NUM_PERM` permutations in bands of :data:`LSH_ROWS`,
  so that a pair at the threshold is missed with probability 1.5e-4), and each
  candidate is confirmed with the exact Jaccard of the two shingle sets: a pair is reported when it
  is >= :data:`JACCARD_THRESHOLD`;
* **embedding** — cosine similarity of sentence embeddings (:class:`spa_vl.analysis.embeddings.encoder.Encoder`,
  cached on disk), an exact blockwise search of each eval question against every train question;
  a pair is reported when it is >= :data:`COSINE_THRESHOLD`.

Train questions are grouped by normalised text first, so each pass sees every distinct train
question once; a pair names the group's first train row and how many train rows it covers. At most
:data:`MAX_MATCHES` train questions per eval question and pass are kept (the most similar). Every
reported pair carries all three measures, whichever pass found it.

MinHash signatures are computed with numpy for all texts at once, with datasketch's own permutations
and its "affine32" scheme (MurmurHash3 finaliser, then ``a·h + b mod 2³²``), so they equal
``datasketch.MinHash(hashfunc=identity).update_batch(shingle hashes)``; the LSH index is datasketch's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from spa_vl.errors import SpaVLError


class Encoder(Protocol):
    """What the embedding pass needs of an encoder (:class:`spa_vl.analysis.embeddings.encoder.Encoder` is one).

    Metrics do not import the embeddings room: any object with a ``model_id`` and an ``encode`` that
    maps texts to an ``(n, d)`` array of L2-normalised float32 rows will do.
    """

    model_id: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The embeddings of ``texts``.

        Parameters
        ----------
        texts : sequence of str
            The texts, in order.

        Returns
        -------
        numpy.ndarray
            ``(len(texts), d)`` float32 rows of unit length.
        """
        ...


SHINGLE_WORDS = 3
"""Words per shingle: word 3-grams keep word order, and short questions (~27 words) still have ~25."""
NUM_PERM = 128
"""MinHash permutations: the standard error of an estimated Jaccard is ~sqrt(J(1-J)/128) <= 0.044."""
JACCARD_THRESHOLD = 0.7
"""Exact shingle Jaccard at which two questions count as lexical near-duplicates (one changed word
in a 27-word question leaves J ≈ 0.8; a rephrased question falls well below)."""
LSH_ROWS = 4
"""MinHash values per LSH band (NUM_PERM / LSH_ROWS = 32 bands): a pair becomes a candidate with
probability 1 - (1 - J⁴)³², 0.99985 at J = 0.7 and 0.05 at J = 0.2; candidates are checked exactly."""
COSINE_THRESHOLD = 0.95
"""Embedding cosine similarity at which two questions count as near-duplicates."""
MAX_MATCHES = 5
"""Train questions kept per eval question and pass, the most similar first."""
MINHASH_SEED = 1
"""Seed of datasketch's permutations; with pandas' fixed-key word hashes every run gives the same pairs."""

PAIR_COLUMNS = [
    "eval_split", "eval_row", "kind", "similarity", "eval_question", "train_question",
    "train_row", "train_rows", "exact", "jaccard", "cosine",
]
KINDS = ("exact", "lexical", "embedding")

_QUOTES = "\"'“”‘’«»"
_U64 = np.uint64


def normalize_questions(texts: Sequence[str | None] | pd.Series) -> np.ndarray:
    """Lower-cased text, whitespace runs made one space, ends trimmed of whitespace and quotes.

    Parameters
    ----------
    texts : sequence of str or None, or pandas.Series, length n
        The texts; None counts as the empty string.

    Returns
    -------
    numpy.ndarray of object (str), shape (n,)
        The normalised texts.
    """
    array = pc.fill_null(pa.array(pd.Series(list(texts), dtype=object), type=pa.large_string(), from_pandas=True), "")
    array = pc.replace_substring_regex(pc.utf8_lower(array), r"[\s\p{Z}]+", " ")
    array = pc.utf8_trim(pc.utf8_trim_whitespace(array), _QUOTES)
    return pc.utf8_trim_whitespace(array).to_numpy(zero_copy_only=False)


def _mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection on uint64 that spreads every input bit."""
    h = (h ^ (h >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> _U64(27))) * _U64(0x94D049BB133111EB)
    return h ^ (h >> _U64(31))


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser, as datasketch applies it before its affine32 permutations."""
    h = (h ^ (h >> np.uint32(16))) * np.uint32(0x85EBCA6B)
    h = (h ^ (h >> np.uint32(13))) * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


@dataclass(frozen=True)
class Shingles:
    """Distinct shingle hashes of n texts in CSR form: text i owns ``hashes[offsets[i]:offsets[i+1]]``.

    Attributes
    ----------
    hashes : numpy.ndarray of uint64, shape (total,)
        Every text's distinct shingle hashes, sorted within each text.
    offsets : numpy.ndarray of int64, shape (n + 1,)
        Start of each text's hashes in ``hashes`` (``offsets[n] == total``).
    """

    hashes: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def of(self, i: int) -> np.ndarray:
        """The shingle hashes of text ``i``, shape (its distinct shingles,).

        Parameters
        ----------
        i : int
            A text index, ``0 <= i < n``.

        Returns
        -------
        numpy.ndarray of uint64, shape (k,)
            A sorted view into :attr:`hashes`; empty for a text without words.
        """
        return self.hashes[self.offsets[i] : self.offsets[i + 1]]

    def jaccard(self, other: Shingles, i: int, j: int) -> float:
        """Exact Jaccard similarity of this set's text ``i`` and ``other``'s text ``j`` (0 if both empty).

        Parameters
        ----------
        other : Shingles
            Another set of texts (or this one), shingled the same way.
        i : int
            A text of this set.
        j : int
            A text of ``other``.

        Returns
        -------
        float
            ``|A ∩ B| / |A ∪ B|`` of the two shingle sets, in [0, 1].
        """
        a, b = self.of(i), other.of(j)
        union = len(a) + len(b)
        if union == 0:
            return 0.0
        common = len(np.intersect1d(a, b, assume_unique=True))
        return common / (union - common)


def shingle_hashes(normalized: Sequence[str] | np.ndarray, words: int = SHINGLE_WORDS) -> Shingles:
    """Word ``words``-gram shingles of normalised texts, as 64-bit hashes (punctuation dropped).

    Words are hashed once each (pandas' fixed-key SipHash, the same in every process), then each
    shingle's hash is an order-sensitive mix of its words' hashes, all vectorised.

    Parameters
    ----------
    normalized : sequence of str or numpy.ndarray of object, length n
        Texts from :func:`normalize_questions`.
    words : int, default 3
        Words per shingle; a text with fewer words is one shingle, an empty text none.

    Returns
    -------
    Shingles
        The distinct shingle hashes of the n texts.

    Raises
    ------
    SpaVLError
        If ``words`` is below 1.
    """
    if words < 1:
        raise SpaVLError(f"shingle size {words} is invalid: use a whole number of words >= 1")
    array = pa.array(np.asarray(normalized, dtype=object), type=pa.large_string())
    tokens = pc.utf8_split_whitespace(pc.replace_substring_regex(array, r"[^\p{L}\p{N}]+", " "))
    flat = tokens.flatten()
    # Arrow keeps the empty strings around leading/trailing separators ("" splits into [""]): drop them
    n = len(tokens)
    counts: np.ndarray = np.diff(np.asarray(tokens.offsets.to_numpy(), dtype=np.int64))
    owner = np.repeat(np.arange(n), counts)
    nonempty = np.asarray(pc.greater(pc.utf8_length(flat), 0).to_numpy(zero_copy_only=False), dtype=bool)
    flat = pc.dictionary_encode(flat.filter(pa.array(nonempty)))
    offsets = np.concatenate([[0], np.cumsum(np.bincount(owner[nonempty], minlength=n))]).astype(np.int64)
    vocabulary = flat.dictionary.to_numpy(zero_copy_only=False)
    word_hash = pd.util.hash_array(vocabulary) if len(vocabulary) else np.zeros(0, _U64)
    token_hash = word_hash[np.asarray(flat.indices.to_numpy(zero_copy_only=False), dtype=np.int64)]
    total = len(token_hash)
    lengths = np.diff(offsets)
    text_of = np.repeat(np.arange(n), lengths)
    position = np.arange(total)
    end = offsets[1:][text_of]
    combined = np.zeros(total, _U64)
    for j in range(words):
        inside = position + j < end
        word = np.where(inside, token_hash[np.minimum(position + j, max(total - 1, 0))], _U64(0))
        combined = _mix64(combined * _U64(0x9E3779B97F4A7C15) + word)
    starts = (position + words <= end) | ((position == offsets[:-1][text_of]) & (lengths[text_of] < words))
    text_of, combined = text_of[starts], combined[starts]
    order = np.lexsort((combined, text_of))
    text_of, combined = text_of[order], combined[order]
    keep = np.ones(len(combined), bool)
    keep[1:] = (text_of[1:] != text_of[:-1]) | (combined[1:] != combined[:-1])
    text_of, combined = text_of[keep], combined[keep]
    counts = np.bincount(text_of, minlength=n)
    return Shingles(hashes=combined, offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))


def minhash_signatures(shingles: Shingles, num_perm: int = NUM_PERM, seed: int = MINHASH_SEED, chunk: int = 1 << 14) -> np.ndarray:
    """MinHash signatures of every text, equal to datasketch's affine32 ``MinHash`` fed the same hashes.

    Parameters
    ----------
    shingles : Shingles
        The n texts' shingle hashes (folded to 32 bits here, as datasketch's affine32 expects).
    num_perm : int, default 128
        Permutations (datasketch ``MinHash`` parameter).
    seed : int, default 1
        Seed of the permutations (datasketch ``MinHash`` parameter).
    chunk : int, default 16384
        Shingles per block (memory is ``chunk × num_perm × 4`` bytes).

    Returns
    -------
    numpy.ndarray of uint32, shape (n, num_perm)
        One signature per text; rows of texts without shingles hold 2³²-1 (never indexed).
    """
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    folded = _fmix32(((shingles.hashes ^ (shingles.hashes >> _U64(32))) & _U64(0xFFFFFFFF)).astype(np.uint32))
    n = len(shingles)
    out = np.full((n, num_perm), np.iinfo(np.uint32).max, np.uint32)
    offsets, nonempty = shingles.offsets, np.flatnonzero(np.diff(shingles.offsets) > 0)
    ends = offsets[nonempty + 1]
    start = 0
    while start < len(nonempty):
        # texts whose shingles fit the block (at least one text per block)
        limit = offsets[nonempty[start]] + chunk
        stop = max(start + 1, int(np.searchsorted(ends, limit, side="right")))
        texts = nonempty[start:stop]
        lo, hi = offsets[texts[0]], offsets[texts[-1] + 1]
        permuted = folded[lo:hi, None] * a[None, :] + b[None, :]
        out[texts] = np.minimum.reduceat(permuted, offsets[texts] - lo, axis=0)
        start = stop
    return out


def top_cosine(queries: np.ndarray, corpus: np.ndarray, k: int, block: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest corpus rows of each query by cosine, blockwise over the corpus.

    Parameters
    ----------
    queries : numpy.ndarray of float, shape (m, d)
        Unit rows (computed in float32).
    corpus : numpy.ndarray of float, shape (n, d)
        Unit rows.
    k : int
        Neighbours per query (at most n are returned).
    block : int, default 16384
        Corpus rows per block (memory O(m × block)).

    Returns
    -------
    indices : numpy.ndarray of int64, shape (m, min(k, n))
        Corpus rows, most similar first (ties by lower index).
    similarities : numpy.ndarray of float32, shape (m, min(k, n))
        Their cosine similarities.
    """
    m, n = len(queries), len(corpus)
    k = min(k, n)
    best_i = np.zeros((m, 0), np.int64)
    best_s = np.zeros((m, 0), np.float32)
    q = np.asarray(queries, np.float32)
    for start in range(0, n, block):
        sims = q @ np.asarray(corpus[start : start + block], np.float32).T
        kk = min(k, sims.shape[1])
        part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        best_i = np.concatenate([best_i, part + start], axis=1)
        best_s = np.concatenate([best_s, np.take_along_axis(sims, part, axis=1)], axis=1)
        if best_i.shape[1] > k:
            keep = np.argpartition(-best_s, k - 1, axis=1)[:, :k]
            best_i, best_s = np.take_along_axis(best_i, keep, 1), np.take_along_axis(best_s, keep, 1)
    order = np.lexsort((best_i, -best_s), axis=1) if m else np.zeros((0, k), np.int64)
    return np.take_along_axis(best_i, order, 1), np.take_along_axis(best_s, order, 1)


@dataclass
class Contamination:
    """Pairs of eval and train questions found by any pass, and counts per eval split.

    Attributes
    ----------
    pairs : pandas.DataFrame
        One row per (eval question, distinct train question): ``eval_split``, ``eval_row`` (row in
        its split), ``kind`` (the strictest pass it meets: exact, lexical, embedding), ``similarity``
        (1 for exact, else the Jaccard or cosine of its kind), both texts (``eval_question``,
        ``train_question``), ``train_row`` (first train row with that text), ``train_rows`` (train
        rows with it), ``exact``, ``jaccard``, ``cosine`` (nan when the embedding pass did not run).
    summary : pandas.DataFrame
        One row per eval split: ``questions``; questions with an ``exact`` match, a ``lexical``
        one (Jaccard >= threshold), an ``embedding`` one (cosine >= threshold; nan if not run) and
        ``any``, plus ``<column>_share`` of ``questions`` for each.
    settings : dict of str to object
        Thresholds, shingle size, permutations, train rows and distinct train questions
        (:attr:`ContaminationIndex.settings`).
    seconds : dict of str to float
        Wall time of each pass (index building included).
    """

    pairs: pd.DataFrame
    summary: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


class ContaminationIndex:
    """Every train question, indexed for the three passes; :meth:`find` compares eval questions with it.

    Parameters
    ----------
    jaccard_threshold : float, default 0.7
        Lexical threshold (exact shingle Jaccard), in (0, 1].
    cosine_threshold : float, default 0.95
        Embedding threshold, in (0, 1].
    max_matches : int, default 5
        Train questions kept per eval question and pass (at least 1).
    encoder : Encoder, optional
        Encoder for the embedding pass; None skips that pass.
    shingle_words : int, default 3
        Words per shingle.
    num_perm : int, default 128
        MinHash permutations.
    seed : int, default 1
        Seed of the MinHash permutations.

    Raises
    ------
    SpaVLError
        If a threshold is outside (0, 1] or ``max_matches`` is below 1.
    """

    def __init__(
        self,
        *,
        jaccard_threshold: float = JACCARD_THRESHOLD,
        cosine_threshold: float = COSINE_THRESHOLD,
        max_matches: int = MAX_MATCHES,
        encoder: Encoder | None = None,
        shingle_words: int = SHINGLE_WORDS,
        num_perm: int = NUM_PERM,
        seed: int = MINHASH_SEED,
    ):
        for name, value in (("jaccard_threshold", jaccard_threshold), ("cosine_threshold", cosine_threshold)):
            if not 0.0 < value <= 1.0:
                raise SpaVLError(f"{name} {value} is invalid: use a similarity in (0, 1]")
        if max_matches < 1:
            raise SpaVLError(f"max_matches {max_matches} is invalid: use a whole number >= 1")
        self.jaccard_threshold, self.cosine_threshold, self.max_matches = jaccard_threshold, cosine_threshold, max_matches
        self.encoder, self.shingle_words, self.num_perm, self.seed = encoder, shingle_words, num_perm, seed
        self.seconds: dict[str, float] = {}

    def fit(self, train_questions: Sequence[str | None] | pd.Series) -> ContaminationIndex:
        """Group the train questions by normalised text and build the exact and lexical indexes.

        Parameters
        ----------
        train_questions : sequence of str or None, or pandas.Series, length n
            The train questions, in row order (None counts as empty).

        Returns
        -------
        ContaminationIndex
            ``self``, fitted (train embeddings are computed on the first :meth:`find`).

        Raises
        ------
        SpaVLError
            If ``shingle_words`` is below 1.
        """
        from datasketch import LeanMinHash, MinHashLSH

        t0 = time.perf_counter()
        raw = pd.Series(list(train_questions), dtype=object)
        codes, uniques = pd.factorize(normalize_questions(raw), sort=False)
        self.train_rows_total = len(raw)
        self.normalized = pd.Index(uniques)
        self.first_row = np.full(len(uniques), -1, np.int64)
        self.first_row[codes[::-1]] = np.arange(len(codes))[::-1]  # the smallest row of each group wins
        self.rows = np.bincount(codes, minlength=len(uniques))
        self.texts = raw.fillna("").astype(str).to_numpy()[self.first_row]
        self.seconds["exact"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        self.shingles = shingle_hashes(self.normalized.to_numpy(), self.shingle_words)
        signatures = minhash_signatures(self.shingles, self.num_perm, self.seed)
        self.lsh = MinHashLSH(num_perm=self.num_perm, params=(self.num_perm // LSH_ROWS, LSH_ROWS))
        with self.lsh.insertion_session() as session:
            for i in np.flatnonzero(np.diff(self.shingles.offsets) > 0).tolist():
                session.insert(i, LeanMinHash(seed=self.seed, hashvalues=signatures[i], scheme="affine32"), check_duplication=False)
        self.seconds["lexical"] = time.perf_counter() - t0
        self._vectors: np.ndarray | None = None
        return self

    def _train_vectors(self) -> np.ndarray:
        if self._vectors is None:
            if self.encoder is None:
                raise SpaVLError("the embedding pass needs an encoder: pass encoder=Encoder(...)")
            self._vectors = self.encoder.encode(self.texts.tolist())
        return self._vectors

    def find(self, eval_questions: Sequence[str | None] | pd.Series, split: str = "eval") -> tuple[pd.DataFrame, dict]:
        """Pairs of these eval questions with train questions, and their counts.

        Parameters
        ----------
        eval_questions : sequence of str or None, or pandas.Series, length m
            One eval split's questions, in row order.
        split : str, default "eval"
            The split's key, written to ``eval_split``.

        Returns
        -------
        pairs : pandas.DataFrame
            Columns :data:`PAIR_COLUMNS` (see :class:`Contamination`), sorted by eval row, kind,
            similarity (descending) and train row.
        counts : dict of str to number
            ``questions`` (m), and eval questions with an ``exact``, ``lexical``, ``embedding``
            (float; nan without an encoder) and ``any`` match.

        Raises
        ------
        SpaVLError
            If the index has not been fitted.
        """
        from datasketch import LeanMinHash

        if not hasattr(self, "lsh"):
            raise SpaVLError("the contamination index is empty: call fit(train_questions) first")
        raw = pd.Series(list(eval_questions), dtype=object)
        texts = raw.fillna("").astype(str).to_numpy()
        m = len(raw)
        t0 = time.perf_counter()
        normalized = normalize_questions(raw)
        exact = self.normalized.get_indexer(normalized)
        found: dict[tuple[int, int], None] = {(i, int(j)): None for i, j in enumerate(exact) if j >= 0}
        self.seconds["exact"] += time.perf_counter() - t0

        t0 = time.perf_counter()
        shingles = shingle_hashes(normalized, self.shingle_words)
        signatures = minhash_signatures(shingles, self.num_perm, self.seed)
        lexical_hit = np.zeros(m, bool)
        for i in range(m):
            if shingles.offsets[i + 1] == shingles.offsets[i]:
                continue
            candidates = self.lsh.query(LeanMinHash(seed=self.seed, hashvalues=signatures[i], scheme="affine32"))
            scored = sorted((-shingles.jaccard(self.shingles, i, j), j) for j in candidates)
            kept = [j for s, j in scored if -s >= self.jaccard_threshold][: self.max_matches]
            lexical_hit[i] = bool(kept)
            found.update({(i, j): None for j in kept})
        self.seconds["lexical"] += time.perf_counter() - t0

        cosine_hit = np.full(m, np.nan)
        eval_x = None
        if self.encoder is not None and m and len(self.texts):
            t0 = time.perf_counter()
            train_x = self._train_vectors()
            eval_x = self.encoder.encode(texts.tolist())
            idx, sims = top_cosine(eval_x, train_x, self.max_matches)
            hits = sims >= self.cosine_threshold
            cosine_hit = hits.any(axis=1).astype(float)
            found.update({(int(i), int(idx[i, c])): None for i, c in zip(*np.nonzero(hits))})
            self.seconds["embedding"] = self.seconds.get("embedding", 0.0) + time.perf_counter() - t0

        pairs = self._pairs(found, exact, shingles, texts, eval_x, split)
        any_hit = (exact >= 0) | lexical_hit | (np.nan_to_num(cosine_hit) > 0)
        counts = {
            "questions": m,
            "exact": int((exact >= 0).sum()),
            "lexical": int(lexical_hit.sum()),
            "embedding": float(np.sum(cosine_hit)) if eval_x is not None else float("nan"),
            "any": int(any_hit.sum()),
        }
        return pairs, counts

    def _pairs(self, found, exact, shingles, texts, eval_x, split) -> pd.DataFrame:
        if not found:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in PAIR_COLUMNS})
        ij = np.array(list(found), dtype=np.int64).reshape(-1, 2)
        i, j = ij[:, 0], ij[:, 1]
        is_exact = exact[i] == j
        jaccard = np.array([shingles.jaccard(self.shingles, a, b) for a, b in ij.tolist()])
        cosine = (
            np.einsum("ij,ij->i", eval_x[i], self._train_vectors()[j]).astype(np.float64)
            if eval_x is not None
            else np.full(len(ij), np.nan)
        )
        kind = np.where(is_exact, "exact", np.where(jaccard >= self.jaccard_threshold, "lexical", "embedding"))
        similarity = np.where(is_exact, 1.0, np.where(kind == "lexical", jaccard, cosine))
        pairs = pd.DataFrame(
            {
                "eval_split": split,
                "eval_row": i,
                "kind": kind,
                "similarity": similarity,
                "eval_question": texts[i],
                "train_question": self.texts[j],
                "train_row": self.first_row[j],
                "train_rows": self.rows[j],
                "exact": is_exact,
                "jaccard": jaccard,
                "cosine": cosine,
            }
        )
        pairs["kind"] = pd.Categorical(pairs["kind"], categories=list(KINDS), ordered=True)
        pairs = pairs.sort_values(["eval_row", "kind", "similarity", "train_row"], ascending=[True, True, False, True])
        pairs["kind"] = pairs["kind"].astype(str)
        return pairs.reset_index(drop=True)

    @property
    def settings(self) -> dict[str, Any]:
        """The thresholds and shingling this index was built with (recorded in the report)."""
        return {
            "train_rows": self.train_rows_total,
            "train_distinct": len(self.normalized),
            "jaccard_threshold": self.jaccard_threshold,
            "lsh_bands_rows": [self.num_perm // LSH_ROWS, LSH_ROWS],
            "cosine_threshold": self.cosine_threshold,
            "shingle_words": self.shingle_words,
            "num_perm": self.num_perm,
            "max_matches": self.max_matches,
            "embedding_model": getattr(self.encoder, "model_id", None),
        }


def find_contamination(
    train_questions: Sequence[str | None] | pd.Series,
    eval_questions: Mapping[str, Sequence[str | None] | pd.Series],
    *,
    encoder: Encoder | None = None,
    progress: Callable[[int], None] | None = None,
    **kwargs,
) -> Contamination:
    """Every eval split's questions against every train question, in the three passes.

    Parameters
    ----------
    train_questions : sequence of str or None, or pandas.Series, length n
        The n train questions, in row order.
    eval_questions : Mapping of str to sequence of str or None (or pandas.Series)
        Split key → that split's questions, in row order.
    encoder : Encoder, optional
        For the embedding pass (cached); None skips it.
    progress : callable of (int,) -> None, optional
        Called with 1 when the train index is built and after each eval split (``1 + len(eval_questions)`` steps).
    **kwargs
        Thresholds and MinHash parameters of :class:`ContaminationIndex`.

    Returns
    -------
    Contamination
        The pairs of every eval split (concatenated in split order), one summary row per split,
        the index's settings and the time of each pass.

    Raises
    ------
    SpaVLError
        If a parameter of :class:`ContaminationIndex` is out of range.
    """
    index = ContaminationIndex(encoder=encoder, **kwargs).fit(train_questions)
    step = progress or (lambda _: None)
    step(1)
    frames, counts = [], {}
    for split, questions in eval_questions.items():
        pairs, counts[split] = index.find(questions, split)
        frames.append(pairs)
        step(1)
    summary = pd.DataFrame.from_dict(counts, orient="index", columns=["questions", "exact", "lexical", "embedding", "any"])
    for column in ("exact", "lexical", "embedding", "any"):
        summary[f"{column}_share"] = summary[column] / summary["questions"].where(summary["questions"] > 0)
    pairs = pd.concat(frames, ignore_index=True) if frames else index._pairs({}, None, None, None, None, "")
    return Contamination(pairs=pairs, summary=summary, settings=index.settings, seconds=dict(index.seconds))
