"""The report's image, response-model and explorer sections (steps of :func:`analysis.report.compute_report`).

Each step fills ``report.stats`` / ``report.tables`` / ``report.figures`` (and ``report.pages`` for
the explorer) and says in ``stats`` why a part is missing (no provenance, no image_info) rather
than leaving it out silently.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from spa_vl.taxonomy import QUESTION_TYPE

from . import explorer, image_analysis, response_models, section_plots
from .frames import SPLIT
from .sampling import stratified_sample

TRAIN = "train/train"


def image_section(source, frame: pd.DataFrame, report, *, progress: bool = False) -> None:
    """Duplicates (exact and dhash), image properties, size agreement with image_info, image_info fields."""
    images = image_analysis.image_table(source, progress=progress)
    dup = image_analysis.find_duplicates(images)
    section: dict[str, Any] = {
        "images": len(images),
        "hash": dup.hash,
        "near_threshold_bits": dup.threshold,
        "duplicates": dup.summary.to_dict(orient="records"),
        "examples": dup.examples.to_dict(orient="records"),
    }
    report.tables["image_duplicates"] = dup.summary.set_index(["scope", "kind"])
    report.tables["image_properties"] = image_analysis.image_properties(images)
    section["properties"] = report.tables["image_properties"].to_dict(orient="index")
    agreement = image_analysis.size_agreement(images, frame)
    if agreement is None:
        section["size_agreement"] = image_analysis.NO_IMAGE_INFO
    else:
        report.tables["image_size_agreement"] = agreement
        section["size_agreement"] = agreement.to_dict(orient="index")
    train = frame[frame[SPLIT] == TRAIN]
    for by in ("class1", QUESTION_TYPE):
        stats = image_analysis.image_info_stats(train, by)
        if stats is None:
            section[f"image_info_by_{by}"] = image_analysis.NO_IMAGE_INFO
        else:
            report.tables[f"image_info_by_{by}"] = stats
            section[f"image_info_by_{by}"] = {" / ".join(map(str, k)): v for k, v in stats.to_dict(orient="index").items()}
    wanted = [(r.split_a, r.row_a) for r in dup.examples.itertuples()] + [(r.split_b, r.row_b) for r in dup.examples.itertuples()]
    shown = dup.examples.groupby(["scope", "kind"], sort=False).head(2)  # a few pairs of every kind
    report.figures["image_duplicates"] = section_plots.duplicate_pairs(shown, image_analysis.fetch_images(source, wanted) if wanted else {})
    report.figures["image_info"] = section_plots.image_info_boxes(train)
    report.stats["images"] = section


def model_section(frame: pd.DataFrame, report, encoder) -> None:
    """Chosen vs rejected per response model (overall, per domain, per question type), pair matrix, pair distances."""
    note = response_models.provenance_note(frame)
    section: dict[str, Any] = {"provenance": note or "chosen_model / rejected_model known"}
    train = frame[frame[SPLIT] == TRAIN]
    rows = train if len(train) else frame
    overall = response_models.model_outcomes(rows)
    report.figures["model_outcomes"] = section_plots.model_outcome_bars(overall)
    if note is None:
        known = int(((rows[response_models.CHOSEN_MODEL] != "unknown") & (rows[response_models.REJECTED_MODEL] != "unknown")).sum())
        section["rows_with_provenance"] = known
        section["rows"] = len(rows)
        by_domain = response_models.model_outcomes(rows, "class1")
        by_type = response_models.model_outcomes(rows, QUESTION_TYPE)
        matrix = response_models.pair_matrix(rows)
        report.tables["model_outcomes"] = overall.set_index("model")
        report.tables["model_outcomes_by_class1"] = by_domain.set_index(["class1", "model"])
        report.tables["model_outcomes_by_question_type"] = by_type.set_index([QUESTION_TYPE, "model"])
        report.tables["model_pairs"] = matrix
        section["overall"] = overall.to_dict(orient="records")
        section["by_class1"] = by_domain.to_dict(orient="records")
        section["by_question_type"] = by_type.to_dict(orient="records")
        section["pair_matrix"] = matrix.to_dict(orient="index")
        report.figures["model_share_by_domain"] = section_plots.model_share_heatmap(by_domain, "class1")
        report.figures["model_pairs"] = section_plots.model_pair_heatmap(matrix)
        # distances on the diversity sample (same rows and seed: the encoder's cache answers)
        settings = report.settings
        limit = len(train) if settings.diversity_sample is None else settings.diversity_sample
        sample = train.loc[stratified_sample(train, limit, "class1", settings.seed)] if len(train) else train
        if len(sample):
            chosen = encoder.encode(sample["chosen"].tolist())
            rejected = encoder.encode(sample["rejected"].tolist())
            distances = response_models.pair_distances(sample, chosen, rejected)
            report.tables["model_pair_distances"] = distances.set_index([response_models.CHOSEN_MODEL, response_models.REJECTED_MODEL])
            section["pair_distances"] = distances.to_dict(orient="records")
    report.stats["response_models"] = section


def explorer_section(source, frame: pd.DataFrame, report, encoder, max_points: int = explorer.MAX_POINTS) -> None:
    """The explorer page (written as ``explorer.html`` beside the report)."""
    rows, method = explorer.explorer_rows(frame, source=source, encoder=encoder, max_points=max_points, random_state=report.settings.seed)
    page = explorer.explorer_html(rows, total_rows=len(frame), method=method, source=report.source)
    report.pages["explorer.html"] = page
    report.stats["explorer"] = {"rows": len(rows), "of_rows": len(frame), "projection": method, "bytes": len(page.encode("utf-8"))}


__all__ = ["image_section", "model_section", "explorer_section"]
