"""The report's image, response-model and explorer sections (registered :class:`~spa_vl.analysis.report.sections.Section` s).

Each section says in its numbers why a part is missing (no provenance, no image_info) rather than
leaving it out silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from spa_vl.taxonomy import QUESTION_TYPE

from ..inputs import images as image_input
from ..metrics import images as image_metrics
from ..metrics import response_models
from . import explorer, section_plots
from .sections import Plot, Section, SectionInputs, Table

IMAGE_INFO_GROUPS = ("class1", QUESTION_TYPE)


@dataclass
class ImageSection(Section):
    """Duplicate images (exact and dhash), image properties, size agreement with image_info, image_info fields.

    Parameters
    ----------
    images : rows hashed.
    duplicates : :attr:`spa_vl.analysis.metrics.images.Duplicates.summary`.
    examples : :attr:`spa_vl.analysis.metrics.images.Duplicates.examples`.
    hash, near_threshold_bits : the hash and the near-duplicate distance.
    properties : :func:`spa_vl.analysis.metrics.images.image_properties`.
    size_agreement : :func:`spa_vl.analysis.metrics.images.size_agreement`, None without image_info.
    image_info : per group (class1, question_type), :func:`spa_vl.analysis.metrics.images.image_info_stats` of
        train, None without image_info.
    shown : the example pairs drawn side by side, and ``pictures`` their bytes by (split, row).
    """

    key = "images"
    title = "Images"
    stage = "images"
    order = 60

    images: int
    duplicates: pd.DataFrame
    examples: pd.DataFrame
    hash: str
    near_threshold_bits: int
    properties: pd.DataFrame
    size_agreement: pd.DataFrame | None
    image_info: dict[str, pd.DataFrame | None]
    shown: pd.DataFrame
    pictures: dict = field(default_factory=dict, repr=False)

    @classmethod
    def compute(cls, inputs: SectionInputs) -> ImageSection:
        """Compute the section from the report's inputs.

        Parameters
        ----------
        inputs : SectionInputs
            The frame, source, settings, encoder and earlier sections.

        Returns
        -------
        ImageSection
        """
        source = inputs.source
        images = image_input.image_table(source, progress=inputs.progress)
        dup = image_metrics.find_duplicates(image_metrics.with_image_names(images, inputs.frame))
        shown = dup.examples.groupby(["scope", "kind"], sort=False).head(2)  # a few pairs of every kind
        wanted = [(r.split_a, r.row_a) for r in dup.examples.itertuples()] + [(r.split_b, r.row_b) for r in dup.examples.itertuples()]
        return cls(
            images=len(images), duplicates=dup.summary, examples=dup.examples, hash=dup.hash, near_threshold_bits=dup.threshold,
            properties=image_metrics.image_properties(images), size_agreement=image_metrics.size_agreement(images, inputs.frame),
            image_info={by: image_metrics.image_info_stats(inputs.train, by) for by in IMAGE_INFO_GROUPS},
            shown=shown, pictures=image_input.fetch_images(source, wanted) if wanted else {},
        )

    def numbers(self) -> dict[str, Any]:
        """The section's numbers for ``stats.json``.

        Returns
        -------
        dict
            JSON-ready, the same for the same inputs and seed.
        """
        out: dict[str, Any] = {
            "images": self.images,
            "hash": self.hash,
            "near_threshold_bits": self.near_threshold_bits,
            "duplicates": self.duplicates.to_dict(orient="records"),
            "examples": self.examples.to_dict(orient="records"),
            "properties": self.properties.to_dict(orient="index"),
            "size_agreement": image_metrics.NO_IMAGE_INFO if self.size_agreement is None else self.size_agreement.to_dict(orient="index"),
        }
        for by, stats in self.image_info.items():
            out[f"image_info_by_{by}"] = (
                image_metrics.NO_IMAGE_INFO if stats is None
                else {" / ".join(map(str, k)): v for k, v in stats.to_dict(orient="index").items()}
            )
        return out

    def summary(self) -> list[str]:
        """Markdown lines for the report's summary list.

        Returns
        -------
        list of str
        """
        records = [d for d in self.duplicates.to_dict(orient="records") if d["rows"]]
        reuse = "".join(
            f" {d['scope']}: {d['duplicated_images']:,} of {d['images']:,} image names are asked about in more than one row "
            f"({d['duplicated_rows']:,} of {d['rows']:,} rows; by design, three questions per image);"
            for d in records if d["kind"] == "reuse"
        )
        found = "; ".join(
            f"{d['scope']} {d['kind']} {d['duplicated_images']:,} of {d['images']:,}" for d in records if d["kind"] != "reuse"
        )
        return [
            f"- Images: {self.images:,} rows hashed (`{self.hash}`, near = distance ≤ {self.near_threshold_bits} bits);{reuse} "
            f"duplicates (same bytes under different names, or near; distinct images with one, of distinct images): {found}"
        ]

    def tables(self) -> list[Table]:
        """The section's titled tables, in the order shown.

        Returns
        -------
        list of Table
        """
        out = [
            Table("image_duplicates", "Duplicate images: within train and train vs every other split", self.duplicates.set_index(["scope", "kind"])),
            Table("image_properties", "Image properties per split (from the Parquet bytes' headers)", self.properties),
        ]
        if self.size_agreement is not None:
            out.append(Table("image_size_agreement", "Image sizes: headers vs image_info", self.size_agreement))
        labels = {"class1": "domain", QUESTION_TYPE: "question type"}
        out += [Table(f"image_info_by_{by}", f"image_info fields per {labels[by]} (train)", stats)
                for by, stats in self.image_info.items() if stats is not None]
        return out

    def draw(self) -> list[Plot]:
        """Draw the section's figures from its computed tables.

        Returns
        -------
        list of Plot
        """
        return [
            Plot("image_duplicates", "Duplicate images (exact: same bytes; near: dhash distance), side by side",
                 section_plots.duplicate_pairs(self.shown, self.pictures)),
            Plot("image_info", "image_info: image–caption similarity and OCR text elements per domain",
                 section_plots.image_info_boxes(self.image_info.get("class1"))),
        ]


@dataclass
class ModelSection(Section):
    """Chosen vs rejected per response model (overall, per domain, per question type), pair matrix, pair distances.

    Parameters
    ----------
    note : why there is no provenance, or None.
    rows, rows_with_provenance : train rows, and those whose two models are known.
    overall, by_domain, by_type : :func:`spa_vl.analysis.metrics.response_models.model_outcomes` overall, per class1, per question type.
    matrix : :func:`spa_vl.analysis.metrics.response_models.pair_matrix`.
    distances : :func:`spa_vl.analysis.metrics.response_models.pair_distances` on the diversity sample, or None.
    """

    key = "response_models"
    title = "Response models"
    stage = "response models"
    order = 70

    note: str | None
    rows: int
    rows_with_provenance: int
    overall: pd.DataFrame
    by_domain: pd.DataFrame
    by_type: pd.DataFrame
    matrix: pd.DataFrame
    distances: pd.DataFrame | None

    @classmethod
    def compute(cls, inputs: SectionInputs) -> ModelSection:
        """Compute the section from the report's inputs.

        Parameters
        ----------
        inputs : SectionInputs
            The frame, source, settings, encoder and earlier sections.

        Returns
        -------
        ModelSection
        """
        frame = inputs.frame
        rows = inputs.train if len(inputs.train) else frame
        note = response_models.provenance_note(frame)
        overall = response_models.model_outcomes(rows)
        if note is not None:
            empty = pd.DataFrame()
            return cls(note, len(rows), 0, overall, empty, empty, empty, None)
        known = int(((rows[response_models.CHOSEN_MODEL] != "unknown") & (rows[response_models.REJECTED_MODEL] != "unknown")).sum())
        # distances on the diversity sample (same rows and seed: the encoder's cache answers)
        sample, distances = inputs.diversity_sample, None
        if len(sample):
            chosen = inputs.encoder.encode(sample["chosen"].tolist())
            rejected = inputs.encoder.encode(sample["rejected"].tolist())
            distances = response_models.pair_distances(sample, chosen, rejected)
        return cls(
            None, len(rows), known, overall, response_models.model_outcomes(rows, "class1"),
            response_models.model_outcomes(rows, QUESTION_TYPE), response_models.pair_matrix(rows), distances,
        )

    def numbers(self) -> dict[str, Any]:
        """The section's numbers for ``stats.json``.

        Returns
        -------
        dict
            JSON-ready, the same for the same inputs and seed.
        """
        out: dict[str, Any] = {"provenance": self.note or "chosen_model / rejected_model known"}
        if self.note is None:
            out.update({
                "rows_with_provenance": self.rows_with_provenance,
                "rows": self.rows,
                "overall": self.overall.to_dict(orient="records"),
                "by_class1": self.by_domain.to_dict(orient="records"),
                "by_question_type": self.by_type.to_dict(orient="records"),
                "pair_matrix": self.matrix.to_dict(orient="index"),
            })
            if self.distances is not None:
                out["pair_distances"] = self.distances.to_dict(orient="records")
        return out

    def summary(self) -> list[str]:
        """Markdown lines for the report's summary list.

        Returns
        -------
        list of str
        """
        return [f"- Response models: {self.note or 'chosen_model / rejected_model known'}"]

    def tables(self) -> list[Table]:
        """The section's titled tables, in the order shown.

        Returns
        -------
        list of Table
        """
        if self.note is not None:
            return []
        out = [
            Table("model_outcomes", "Response models: chosen vs rejected (Wilson 95 %)", self.overall.set_index("model")),
            Table("model_outcomes_by_class1", "Response models per domain", self.by_domain.set_index(["class1", "model"])),
            Table("model_outcomes_by_question_type", "Response models per question type", self.by_type.set_index([QUESTION_TYPE, "model"])),
            Table("model_pairs", "Chosen model (rows) vs rejected model (columns)", self.matrix),
        ]
        if self.distances is not None:
            keys = [response_models.CHOSEN_MODEL, response_models.REJECTED_MODEL]
            out.append(Table("model_pair_distances", "Chosen↔rejected cosine distance per model pair", self.distances.set_index(keys)))
        return out

    def draw(self) -> list[Plot]:
        """Draw the section's figures from its computed tables.

        Returns
        -------
        list of Plot
        """
        out = [Plot("model_outcomes", "Response models: chosen share and counts", section_plots.model_outcome_bars(self.overall))]
        if self.note is None:
            out += [
                Plot("model_share_by_domain", "Response models: chosen share per domain", section_plots.model_share_heatmap(self.by_domain, "class1")),
                Plot("model_pairs", "Response models: chosen vs rejected pairs", section_plots.model_pair_heatmap(self.matrix)),
            ]
        return out


@dataclass
class ExplorerSection(Section):
    """The interactive explorer, written as ``explorer.html`` beside the report.

    Parameters
    ----------
    rows, of_rows : rows on the map, and rows in the source.
    projection : ``"PCA"`` or ``"UMAP"``.
    page : the self-contained HTML page.
    """

    key = "explorer"
    title = "Explorer"
    stage = "explorer"
    order = 80

    rows: int
    of_rows: int
    projection: str
    page: str = field(repr=False)

    @classmethod
    def compute(cls, inputs: SectionInputs, max_points: int = explorer.MAX_POINTS) -> ExplorerSection:
        """Compute the section from the report's inputs.

        Parameters
        ----------
        inputs : SectionInputs
            The frame, source, settings, encoder and earlier sections.

        Returns
        -------
        ExplorerSection
        """
        rows, method = explorer.explorer_rows(inputs.frame, source=inputs.source, encoder=inputs.encoder, max_points=max_points,
                                              random_state=inputs.settings.seed)
        page = explorer.explorer_html(rows, total_rows=len(inputs.frame), method=method, source=inputs.source.description)
        return cls(len(rows), len(inputs.frame), method, page)

    def numbers(self) -> dict[str, Any]:
        """The section's numbers for ``stats.json``.

        Returns
        -------
        dict
            JSON-ready, the same for the same inputs and seed.
        """
        return {"rows": self.rows, "of_rows": self.of_rows, "projection": self.projection, "bytes": len(self.page.encode("utf-8"))}

    def summary(self) -> list[str]:
        """Markdown lines for the report's summary list.

        Returns
        -------
        list of str
        """
        return [
            f"- Explorer: [explorer.html](explorer.html), {self.rows:,} of {self.of_rows:,} rows on a {self.projection} map, "
            f"{len(self.page.encode('utf-8')) / 1e6:.1f} MB"
        ]

    def pages(self) -> dict[str, str]:
        """Extra files written beside the report.

        Returns
        -------
        dict
            File name → text.
        """
        return {"explorer.html": self.page}


__all__ = ["ImageSection", "ModelSection", "ExplorerSection"]
