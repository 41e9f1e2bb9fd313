"""How long a report run will spend encoding: texts not yet in the embedding cache × measured throughput.

Questions and responses are timed apart (a 2-core machine encodes ~230 short questions/s but ~40
long responses/s). The calibration batches are real work: their vectors go to the cache, so the
run does not encode them again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..embeddings.encoder import text_keys
from ..inputs.frames import SPLIT
from .sections import EVAL_SPLITS, SectionInputs

CALIBRATION = {"questions": 48, "responses": 16}


@dataclass(frozen=True)
class EncodingEstimate:
    """Texts a run still has to encode, and how fast this machine encodes them.

    Parameters
    ----------
    questions, responses : distinct texts not yet in the embedding cache (after calibration).
    questions_per_second, responses_per_second : throughput measured on the calibration batches
        (0 when nothing was left to measure).
    """

    questions: int
    responses: int
    questions_per_second: float
    responses_per_second: float

    @property
    def seconds(self) -> float:
        """Estimated encoding time."""
        return sum(n / rate for n, rate in ((self.questions, self.questions_per_second), (self.responses, self.responses_per_second)) if n and rate)

    def describe(self) -> str:
        """One line for the user.

        Returns
        -------
        str
            E.g. ``93,258 questions and 186,516 responses not yet cached: about 1 h 40 min on this machine (…)``.
        """
        if not self.questions and not self.responses:
            return "nothing: every text is in the embedding cache"
        rates = ", ".join(f"{rate:,.0f} {what}/s" for what, rate in (("questions", self.questions_per_second), ("responses", self.responses_per_second)) if rate)
        return (f"{self.questions:,} questions and {self.responses:,} responses not yet cached: "
                f"about {duration(self.seconds)} on this machine ({rates} measured)")


def duration(seconds: float) -> str:
    """A rounded duration: ``40 s``, ``7 min``, ``1 h 40 min``.

    Parameters
    ----------
    seconds : the duration.

    Returns
    -------
    str
    """
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def texts_to_encode(inputs: SectionInputs) -> dict[str, list[str]]:
    """Distinct question and response texts the report's sections ask the encoder for.

    Parameters
    ----------
    inputs : the report's inputs (frame, settings).

    Returns
    -------
    ``{"questions": [...], "responses": [...]}``: questions of the diversity sample (plus every train and
    eval question when the contamination check embeds them), chosen and rejected of the diversity sample.
    """
    sample, frame = inputs.diversity_sample, inputs.frame
    questions = [sample["question"]]
    if inputs.settings.contamination_embeddings:
        questions += [inputs.train["question"], frame.loc[frame[SPLIT].isin(EVAL_SPLITS), "question"]]

    def distinct(parts: list[pd.Series]) -> list[str]:
        return pd.unique(pd.concat(parts, ignore_index=True).fillna("").astype(str)).tolist() if parts else []

    return {"questions": distinct(questions), "responses": distinct([sample["chosen"], sample["rejected"]])}


def estimate_encoding(inputs: SectionInputs, calibration: dict[str, int] | None = None) -> EncodingEstimate:
    """Count the texts not in the embedding cache and time a calibration batch of each kind.

    Parameters
    ----------
    inputs : the report's inputs; ``inputs.encoder`` is used (and its cache filled by the calibration).
    calibration : texts timed per kind (``questions``, ``responses``); default :data:`CALIBRATION`.

    Returns
    -------
    EncodingEstimate of what is left after the calibration batches.
    """
    calibration = calibration or CALIBRATION
    encoder = inputs.encoder
    left, rates = {}, {}
    shown, encoder.progress = encoder.progress, False
    try:
        for kind, texts in texts_to_encode(inputs).items():
            cache = encoder.cache
            missing = [t for t, row in zip(texts, cache.lookup(text_keys(texts)) if cache is not None and texts else np.full(len(texts), -1)) if row < 0]
            batch = missing[: calibration[kind]]
            rate = 0.0
            if batch:
                warm, timed = (batch[:2], batch[2:]) if len(batch) > 2 else ([], batch)
                if warm:
                    encoder.encode(warm)  # load the model and warm up outside the timing
                start = time.perf_counter()
                encoder.encode(timed)
                rate = len(timed) / max(time.perf_counter() - start, 1e-9)
            left[kind], rates[kind] = len(missing) - (len(batch) if cache is not None else 0), rate
    finally:
        encoder.progress = shown
    return EncodingEstimate(left["questions"], left["responses"], rates["questions"], rates["responses"])


__all__ = ["EncodingEstimate", "estimate_encoding", "texts_to_encode", "duration"]
