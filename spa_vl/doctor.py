"""``spa-vl doctor``: what a first real user runs, to learn whether a source is what the layout promises.

It lists the configs with their row counts against the card, every meta file with its record
count and fields (documented, missing, unknown), and for each config/split how many rows each
label join covers, with two examples of rows it misses. Joins the hub layout promises:

* every split's ``class1..3`` (validation and eval: their own columns; train: ``image_info/meta.json``
  by ``image_name``, or a class path in ``image_name``);
* train's ``question_type`` (``split/<type>.json``, by question, chosen and rejected);
* train's ``chosen_model`` and ``rejected_model`` (``model_answer/<type>.json``).

A promised join covering less than :data:`PROMISED_COVERAGE` of a split is a failure (exit 1).
Meta records that contradict each other (two image_info records of one image with different
classes; one item under two question types) leave that label unknown (-1), whatever the
records' order; the doctor counts them, shows examples, and fails when they exceed
:data:`MAX_CONFLICT_SHARE` of the file's images or items.
Validation's question type and models are reported but not promised (the card does not say
whether the meta files list validation items); eval has no responses, so neither.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .columns import IMAGE_NAME, MODEL_COLUMNS, QUESTION_TYPE
from .labels import split_labels
from .layout import CONFIGS, HUB_SPLIT_ROWS, split_key
from .meta import MetaIndex, read_meta_index
from .meta_files import DOCUMENTED_FIELDS, meta_schema
from .opening import open_source
from .sources import Source
from .tables import available_splits, open_parquet, read_columns, split_files
from .taxonomy import RESPONSE_MODELS

#: The share of a split a promised join must cover.
PROMISED_COVERAGE = 0.99
#: The share of a meta file's distinct images (or items) whose records may contradict each other
#: before the doctor fails: 0.1 %. Each one is a label made unknown; a few in 100k images are
#: worth a warning, more mean the file is damaged or merged from two releases.
MAX_CONFLICT_SHARE = 0.001
#: ``(config, join)`` pairs the layout promises; joins are ``classes``, ``question_type``, ``models``.
PROMISED: frozenset[tuple[str, str]] = frozenset(
    {("train", "classes"), ("validation", "classes"), ("eval", "classes"), ("train", "question_type"), ("train", "models")}
)
#: Which meta files each join of train reads (named in failures).
JOIN_FILES: dict[str, str] = {
    "classes": "meta_files/image_info/meta.json",
    "question_type": "meta_files/split/{easy,hardq,hards}.json",
    "models": "meta_files/model_answer/{easy,hardq,hards}.json",
}


@dataclass
class Coverage:
    """One join on one split: rows covered, the share, whether it is promised, two misses.

    Attributes
    ----------
    join : str
        ``"classes"``, ``"question_type"`` or ``"models"``.
    covered : int
        Rows of the split the join labels.
    rows : int
        Rows of the split.
    promised : bool
        Whether the layout promises this join on this config (see :data:`PROMISED`).
    examples : list of dict of str to str
        Up to two rows the join misses: ``"row"`` (index in the split) and, where the split has
        them, the first 80 characters of ``"question"`` and ``"image_name"``.
    """

    join: str
    covered: int
    rows: int
    promised: bool
    examples: list[dict[str, str]] = field(default_factory=list)

    @property
    def share(self) -> float:
        """Covered rows over all rows (1.0 for an empty split)."""
        return self.covered / self.rows if self.rows else 1.0

    @property
    def failed(self) -> bool:
        """A promised join that covers less than :data:`PROMISED_COVERAGE`."""
        return self.promised and self.share < PROMISED_COVERAGE


@dataclass
class DoctorReport:
    """Everything ``spa-vl doctor`` prints (also written as JSON by ``--json``).

    Attributes
    ----------
    source : str
        The source's label (a folder, ``sample`` or a hub id).
    kind : str
        The source's kind (local folder, sample, hub).
    splits : list of dict
        One per config/split present: ``split`` (``config/split`` key), ``rows``, ``card_rows``
        (``None`` when the card does not say), ``hub_rows`` and ``files`` (shard count).
    meta_files : list of dict
        One per meta file: ``path``, ``kind``, ``known``, ``records``, ``fields``,
        ``missing_fields`` (documented but absent) and ``unknown_fields`` (present, undocumented).
    coverage : dict of str to list of Coverage
        The joins of each ``config/split`` key.
    failures : list of str
        One line per promised join covering less than :data:`PROMISED_COVERAGE`, and per kind of
        conflict above :data:`MAX_CONFLICT_SHARE`.
    conflicts : list of dict
        One per kind of contradicting meta records found: ``join`` (``classes`` or
        ``question_type``), ``file``, ``count`` (images or items whose records disagree), ``of``
        (distinct images or items in the file(s)) and ``examples`` (up to three: ``image`` and its
        distinct ``paths``).
    """

    source: str
    kind: str
    splits: list[dict[str, Any]]
    meta_files: list[dict[str, Any]]
    coverage: dict[str, list[Coverage]]
    failures: list[str]
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (coverage shares included).

        Returns
        -------
        dict
            The fields as by :func:`dataclasses.asdict`, each coverage entry with its ``share``
            added (rounded to 6 places).
        """
        out = asdict(self)
        for key, joins in self.coverage.items():
            for entry, data in zip(joins, out["coverage"][key]):
                data["share"] = round(entry.share, 6)
        return out


def _examples(view: pa.Table, texts: pa.Table, missing: pa.Array) -> list[dict[str, str]]:
    rows = pc.indices_nonzero(missing).to_pylist()[:2]
    out = []
    for r in rows:
        example = {"row": str(r)}
        for column in ("question", IMAGE_NAME):
            if column in texts.column_names:
                value = texts.column(column)[r].as_py()
                example[column] = (value or "")[:80]
        out.append(example)
    return out


def diagnose(source: str | os.PathLike | Source = "sample") -> DoctorReport:
    """Check a source against the hub layout (see the module docstring).

    Parameters
    ----------
    source : str or os.PathLike or Source, default "sample"
        A local mirror, ``"sample"``, a hub id, or a resolved source.

    Returns
    -------
    DoctorReport
        ``failures`` lists every promised join under :data:`PROMISED_COVERAGE`, naming the split,
        the share and the meta files it needs (missing ones first).

    Raises
    ------
    SpaVLError
        If the source cannot be resolved or one of its files cannot be read.
    """
    source = open_source(source)
    meta = read_meta_index(source)
    splits = []
    for config, split in available_splits(source):
        files = split_files(source, config, split)

        rows = sum(open_parquet(source, f).metadata.num_rows for f in files)
        card = source.card_rows(CONFIGS[config].hub_name, split)
        splits.append({"split": split_key(config, split), "rows": rows, "card_rows": card, "hub_rows": HUB_SPLIT_ROWS[(config, split)], "files": len(files)})
    missing_files = {kind: meta.missing_type_files(kind) for kind in ("split", "model_answer")}
    if not meta.of_kind("split"):
        missing_files["split"] = ["meta_files/split/*.json"]
    if not meta.of_kind("model_answer"):
        missing_files["model_answer"] = ["meta_files/model_answer/*.json"]
    coverage, failures = {}, []
    # coverage first: building provenance parses model_answer once and notes its fields for the listing
    for entry in split_labels(source, models=True):
        key = split_key(entry.config, entry.split)
        view = entry.view
        texts: pa.Table | None = None  # read only to show examples of unmatched rows
        joins = [("classes", pc.is_valid(view.column("class1")))]
        responses = MODEL_COLUMNS[0] in view.column_names and entry.config != "eval"
        if responses:
            joins.append(("question_type", pc.is_valid(view.column(QUESTION_TYPE))))
            joins.append(("models", pc.and_(pc.is_valid(view.column(MODEL_COLUMNS[0])), pc.is_valid(view.column(MODEL_COLUMNS[1])))))
        entries = []
        for join, ok in joins:
            covered = pc.sum(ok).as_py() or 0
            item = Coverage(join, covered, view.num_rows, (entry.config, join) in PROMISED)
            if covered < view.num_rows:
                if texts is None:
                    texts = read_columns(source, entry.config, entry.split, ["question", IMAGE_NAME])
                item.examples = _examples(view, texts, pc.invert(ok))
            if item.failed:
                absent = {"classes": [] if meta.image_info_file else [JOIN_FILES["classes"]], "question_type": missing_files["split"], "models": missing_files["model_answer"]}[join]
                needs = f"missing: {', '.join(absent)}" if absent else f"reads {JOIN_FILES[join]}"
                failures.append(f"{key}: {join} covers {covered:,} of {view.num_rows:,} rows ({item.share:.1%} < {PROMISED_COVERAGE:.0%}); {needs}")
            entries.append(item)
        coverage[key] = entries
    meta_files = []
    for f in meta.files:
        records, fields = meta_schema(source, f)
        documented = set(DOCUMENTED_FIELDS.get(f.kind, ())) | (set(RESPONSE_MODELS) if f.kind == "model_answer" else set())
        meta_files.append(
            {
                "path": f.relative,
                "kind": f.kind,
                "known": f.known,
                "records": records,
                "fields": fields,
                "missing_fields": sorted(set(DOCUMENTED_FIELDS.get(f.kind, ())) - set(fields)) if f.known else [],
                "unknown_fields": sorted(set(fields) - documented) if f.known and f.kind != "safety" else [],
            }
        )
    conflicts = _conflicts(meta)
    for c in conflicts:
        share = c["count"] / c["of"] if c["of"] else 0.0
        if share > MAX_CONFLICT_SHARE:
            failures.append(
                f"{c['file']}: {c['count']:,} of {c['of']:,} {'images' if c['join'] == 'classes' else 'items'} have contradicting records "
                f"({share:.2%} > {MAX_CONFLICT_SHARE:.1%}); their {c['join']} is unknown (-1): fix or remove the contradicting records, or re-download the file"
            )
    return DoctorReport(source.description, source.kind, splits, meta_files, coverage, failures, conflicts)


def _conflicts(meta: MetaIndex) -> list[dict[str, Any]]:
    found = []
    clash = meta.image_conflicts
    if clash.num_rows:
        examples = [{"image": i, "paths": p} for i, p in zip(clash.column("image").to_pylist()[:3], clash.column("paths").to_pylist()[:3])]
        found.append({"join": "classes", "file": JOIN_FILES["classes"], "count": clash.num_rows, "of": meta.images.num_rows, "examples": examples})
    if meta.of_kind("split") and meta.ambiguous:
        found.append({"join": "question_type", "file": JOIN_FILES["question_type"], "count": meta.ambiguous, "of": len(meta), "examples": []})
    return found


def render_doctor(report: DoctorReport) -> str:
    """The doctor's text output.

    Parameters
    ----------
    report : DoctorReport
        What :func:`diagnose` found.

    Returns
    -------
    str
        Lines for the configs, the meta files, the label coverage (``*`` marks promised joins,
        with unmatched examples) and the failures, or a line saying there are none; no trailing
        newline.
    """
    lines = [f"source: {report.source} ({report.kind})", "", "configs (rows; card; hub):"]
    for s in report.splits:
        card = f"{s['card_rows']:,}" if s["card_rows"] is not None else "-"
        lines.append(f"  {s['split']:<22} {s['rows']:>8,}  card {card:>8}  hub {s['hub_rows']:>7,}  {s['files']} file(s)")
    lines += ["", "meta files (records; fields):"]
    if not report.meta_files:
        lines.append("  none: train has no class labels, question types or response models without them")
    for m in report.meta_files:
        note = "" if m["known"] else "  [not a documented file]"
        if m["missing_fields"]:
            note += f"  [missing documented: {', '.join(m['missing_fields'])}]"
        if m["unknown_fields"]:
            note += f"  [undocumented: {', '.join(m['unknown_fields'])}]"
        fields = ", ".join(m["fields"][:8]) + (f", … ({len(m['fields'])})" if len(m["fields"]) > 8 else "")
        lines.append(f"  {m['path']:<38} {m['records']:>8,}  {fields}{note}")
    lines += ["", "label coverage (* = promised by the layout):"]
    for key, entries in report.coverage.items():
        shown = "   ".join(f"{e.join}{'*' if e.promised else ''} {e.covered:,}/{e.rows:,} {e.share:.1%}" for e in entries)
        lines.append(f"  {key:<22} {shown}")
        for e in entries:
            for ex in e.examples:
                detail = ", ".join(f"{k} {v!r}" for k, v in ex.items() if k != "row")
                lines.append(f"      unmatched {e.join}: row {ex['row']}: {detail}")
    for c in report.conflicts:
        lines.append(f"  conflicts in {c['file']}: {c['count']:,} of {c['of']:,} have contradicting records; their {c['join']} is unknown (-1)")
        for ex in c["examples"]:
            lines.append(f"      conflicting {c['join']}: image {ex['image']!r}: {' vs '.join(map(repr, ex['paths']))}")
    lines.append("")
    if report.failures:
        lines += [f"FAILED: {f}" for f in report.failures]
    else:
        lines.append(f"every promised join covers at least {PROMISED_COVERAGE:.0%} of its split")
    return "\n".join(lines)
