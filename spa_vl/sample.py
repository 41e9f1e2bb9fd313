"""A deterministic synthetic SPA-VL in the real hub layout (the embedded sample).

Layout written (see ``../shared/reference/hub_layout.md``): ``README.md`` (the hub's YAML configs
and features), ``data/train-0000K-of-0000N`` shards whose ``image_name`` is a bare global file name
(``'19902.jpg'``) and which have no class columns, ``validation/validation-00000-of-00001`` and
``test/harm-*``, ``test/help-*`` with their class columns, and every meta file with the documented
fields: ``image_info/meta.json`` (train labels and image fields), ``split/{easy,hardq,hards}.json``
(question types), ``prefer/`` (+ ``reason1``/``reason2``), ``model_answer/`` (one answer per each of
the 12 response-model keys; chosen and rejected are two of them) and ``safety/`` (a stand-in: the
real fields are undocumented). Meta records use per-folder image names (``170.jpg``), not
``image_name``, and are in another order than the rows, as on the hub: only content matches them.

Questions carry the real whitespace quirks, responses realistic lengths; all 53 subcategories
occur in train and (from ~1,000 rows up) in each eval split, which at ``rows=100788`` holds each
subcategory exactly 5 times. Images are small real JPEGs in the ``datasets`` Image struct, each a
seeded texture of its own; in every split ~1% of the images are planted near copies and ~0.5% exact
copies of a train image (:func:`planted_duplicates`), and no other two images are near. Split
sizes keep the hub's proportions (93,258 : 7,000 : 265 : 265), at least 10 rows per split. Same
arguments, same library versions → byte-identical files.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import sample_text
from .atomic import staged_dir
from .cache import cache_root
from .errors import UsageError
from .layout import (
    CARD_FILE,
    CONFIGS,
    HUB_COLUMNS,
    HUB_SPLIT_ROWS,
    HUB_TRAIN_SHARDS,
    META_DIR,
    hub_card_configs,
    render_card,
    shard_name,
    split_file_stem,
)
from .taxonomy import LEVELS, QUESTION_TYPES, RESPONSE_MODELS, reference_paths

DEFAULT_ROWS = 1200
DEFAULT_SEED = 0
DEFAULT_IMAGE_SIZE = 32
MIN_SPLIT_ROWS = 10
#: Images at least this large get photo-like grain, so JPEG sizes approach the hub's (~30-40 KB at 256 px).
_NOISY_FROM_PX = 128
#: Side of the random colour grid each image's texture is interpolated from.
_TEXTURE_CELLS = 12
#: Shares of each split's images planted as near and as exact copies of a train image.
_NEAR_SHARE, _EXACT_SHARE = 0.01, 0.005
#: Sub-streams of the seed: images and the planting plan draw from their own generators.
_IMAGE_STREAM, _PLANT_STREAM = 1, 2


def split_sizes(rows: int) -> dict[tuple[str, str], int]:
    """Rows per ``(config, split)`` in the hub's proportions, every split at least 10 rows.

    Eval splits get at least one row per subcategory (53) once ``rows // 20`` allows it; train
    takes what the other splits leave.

    Parameters
    ----------
    rows : int
        Rows over all splits.

    Returns
    -------
    dict of (str, str) to int
        Rows per ``(config, split)``, train first; the values sum to ``rows``.

    Raises
    ------
    UsageError
        If ``rows`` is under 10 per split (40); its parameter is ``rows``.
    """
    total = sum(HUB_SPLIT_ROWS.values())
    if rows < MIN_SPLIT_ROWS * len(HUB_SPLIT_ROWS):
        raise UsageError(f"rows {rows} is too small: the sample needs at least {MIN_SPLIT_ROWS * len(HUB_SPLIT_ROWS)} rows ({{option}})", parameter="rows", value=MIN_SPLIT_ROWS * len(HUB_SPLIT_ROWS))
    # eval splits get one row per subcategory once the sample is large enough to afford it
    floor = {key: max(MIN_SPLIT_ROWS, min(len(reference_paths()), rows // 20)) if key[0] == "eval" else MIN_SPLIT_ROWS for key in HUB_SPLIT_ROWS}
    sizes = {key: max(floor[key], round(rows * n / total)) for key, n in HUB_SPLIT_ROWS.items() if key[0] != "train"}
    return {("train", "train"): rows - sum(sizes.values()), **sizes}


@dataclass(frozen=True)
class _Rows:
    """All rows of the sample, in write order, as plain columns."""

    config: np.ndarray
    split: np.ndarray
    paths: list[tuple[str, str, str]]
    path_index: np.ndarray
    image_id: np.ndarray
    image_number: np.ndarray
    question_type: np.ndarray
    text: dict[str, list[str]]


def _draw_rows(rows: int, rng: np.random.Generator) -> _Rows:
    sizes = split_sizes(rows)
    paths = reference_paths()
    weights = rng.dirichlet(np.full(len(paths), 2.0))  # an uneven taxonomy, as in the real data
    configs, splits, image_ids, path_index, qtypes = [], [], [], [], []
    offset = 0
    for (config, split), n in sizes.items():
        if config == "eval":
            # HarmEval / HelpEval: one image per question, subcategories round-robin (5 each at full size)
            n_images, local = n, np.arange(n)
            image_paths = rng.permutation(np.arange(n) % len(paths))
            types = np.full(n, None, dtype=object)
        else:
            # Each image carries up to three questions, one per type, as in SPA-VL; the first images
            # cover every subcategory once, so train holds all 53.
            n_images = -(-n // len(QUESTION_TYPES))
            image_paths = rng.choice(len(paths), size=n_images, p=weights)
            if config == "train":
                covered = min(n_images, len(paths))
                image_paths[:covered] = rng.permutation(len(paths))[:covered]
            local = np.repeat(np.arange(n_images), len(QUESTION_TYPES))[:n]
            types = np.tile(np.asarray(QUESTION_TYPES, dtype=object), n_images)[:n]
            order = rng.permutation(n)
            local, types = local[order], types[order]
        configs.append(np.full(n, config, dtype=object))
        splits.append(np.full(n, split, dtype=object))
        image_ids.append(local + offset)
        path_index.append(image_paths[local])
        qtypes.append(types)
        offset += n_images
    image_id, row_paths = np.concatenate(image_ids), np.concatenate(path_index)
    row_types = np.concatenate(qtypes)
    topics = np.asarray([p[2] for p in paths], dtype=object)[row_paths]
    return _Rows(
        config=np.concatenate(configs),
        split=np.concatenate(splits),
        paths=paths,
        path_index=row_paths,
        image_id=image_id,
        image_number=_number_within_folder(image_id, row_paths, offset),
        question_type=row_types,
        text=sample_text.texts(rng, topics, np.where(row_types == None, "easy", row_types)),  # noqa: E711 (eval: any template)
    )


def _number_within_folder(image_id: np.ndarray, path_index: np.ndarray, n_images: int) -> np.ndarray:
    """Per row, its image's number inside its subcategory folder (1, 2, ... by first appearance)."""
    first_row = np.full(n_images, len(image_id))
    np.minimum.at(first_row, image_id, np.arange(len(image_id)))
    folder = np.empty(n_images, dtype=np.int64)
    folder[image_id] = path_index
    order = np.lexsort((first_row, folder))
    start = np.searchsorted(folder[order], folder[order], side="left")
    number = np.empty(n_images, dtype=np.int64)
    number[order] = np.arange(n_images) - start + 1
    return number[image_id]


def _pixels(seed: int, image_id: int, size: int, hue: int) -> np.ndarray:
    """One image's seeded texture: a smooth random colour field tinted by class, plus grain.

    Seeded by ``(seed, image_id)`` alone, so an image does not depend on the order it is drawn in.
    Independent fields put two images ~32 of 64 dhash bits apart, far beyond the near-duplicate
    threshold; only :func:`planted_duplicates` makes images near.
    """
    from PIL import Image  # generating only: finding an existing sample imports neither PIL nor datasets

    rng = np.random.default_rng([seed, _IMAGE_STREAM, image_id])
    tint = np.array([(hue * 53) % 256, (hue * 101 + 80) % 256, (hue * 29 + 160) % 256], dtype=np.float32)
    coarse = (0.7 * rng.uniform(0, 255, (_TEXTURE_CELLS, _TEXTURE_CELLS, 3)) + 0.3 * tint).astype(np.uint8)
    field = np.asarray(Image.fromarray(coarse, "RGB").resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
    grain = 45.0 if size >= _NOISY_FROM_PX else 8.0
    return field + rng.normal(0.0, grain, (size, size, 3)).astype(np.float32)


def _encode(pixels: np.ndarray, quality: int = 85) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _plan_duplicates(data: _Rows, seed: int) -> dict[int, tuple[int, str]]:
    """Which images are planted copies of which train image: ``{copy_id: (source_id, kind)}``.

    In every split, ~1% of its images (at least one) become a ``near`` copy of a train image
    (re-encoded at another JPEG quality, slightly brighter) and ~0.5% (at least one) an ``exact``
    copy (the same bytes under the copy's own name). Sources are distinct train images that are
    not copies themselves, so every planted pair is the only near or exact pair its images are in.
    """
    rng = np.random.default_rng([seed, _PLANT_STREAM])
    train_images = np.unique(data.image_id[data.config == "train"])
    plan: dict[int, tuple[int, str]] = {}
    chosen: set[int] = set()
    for config, split in dict.fromkeys(zip(data.config, data.split)):
        images = np.unique(data.image_id[(data.config == config) & (data.split == split)])
        for kind, share in (("near", _NEAR_SHARE), ("exact", _EXACT_SHARE)):
            count = max(1, round(share * len(images)))
            copies = rng.permutation(np.setdiff1d(images, np.fromiter(chosen, np.int64, len(chosen))))[:count]
            chosen.update(int(c) for c in copies)
            sources = rng.permutation(np.setdiff1d(train_images, np.fromiter(chosen, np.int64, len(chosen))))[: len(copies)]
            chosen.update(int(s) for s in sources)
            plan.update({int(c): (int(s), kind) for c, s in zip(copies, sources)})
    return plan


def planted_duplicates(rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> dict[str, dict[str, int]]:
    """How many near and exact image copies the sample of ``rows`` rows and ``seed`` plants, per split.

    Parameters
    ----------
    rows : int
        Rows over all splits, as given to :func:`generate_sample`.
    seed : int
        Its seed.

    Returns
    -------
    dict of str to dict of str to int
        ``{"<config>/<split>": {"near": n, "exact": m}}``: images of that split that are a near or
        exact copy of another (train) image. No other pair of the sample's images is near or exact.
    """
    data = _draw_rows(rows, np.random.default_rng(seed))
    plan = _plan_duplicates(data, seed)
    split_of = {int(i): f"{c}/{s}" for i, c, s in zip(data.image_id, data.config, data.split)}
    counts: dict[str, dict[str, int]] = {key: {"near": 0, "exact": 0} for key in dict.fromkeys(f"{c}/{s}" for c, s in zip(data.config, data.split))}
    for copy, (_, kind) in plan.items():
        counts[split_of[copy]][kind] += 1
    return counts


def _image_names(rows: _Rows, style: str) -> list[str]:
    """Each row's image name in one of three styles.

    ``global`` (the hub's train image_name, ``19902.jpg``), ``folder`` (the meta files' per-folder
    ``170.jpg``) or ``path`` (``<class1>/<class2>/<class3>/170.jpg``, the training repo's).
    """
    if style == "global":
        return [f"{i}.jpg" for i in rows.image_id]
    if style == "folder":
        return [f"{n}.jpg" for n in rows.image_number]
    return [f"{c1}/{c2}/{c3}/{n}.jpg" for (c1, c2, c3), n in zip((rows.paths[i] for i in rows.path_index), rows.image_number)]


def _table(config: str, rows: pa.Table) -> pa.Table:
    from .features import hub_features

    schema = hub_features(config).arrow_schema  # carries the `huggingface` features metadata, as hub files do
    return rows.select(list(HUB_COLUMNS[config])).cast(schema)


def generate_sample(
    out: str | os.PathLike,
    rows: int = DEFAULT_ROWS,
    seed: int = DEFAULT_SEED,
    image_size: int = DEFAULT_IMAGE_SIZE,
    *,
    train_shards: int = HUB_TRAIN_SHARDS,
    image_name_style: str = "global",
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write a synthetic SPA-VL of ``rows`` rows to ``out`` (built aside, renamed into place).

    Parameters
    ----------
    out : str or os.PathLike
        The folder to create (refused if it holds files, unless ``overwrite``).
    rows : int
        Rows over all splits (``100788`` gives the hub's split sizes).
    seed : int
        Seed of every random choice: same arguments, same bytes.
    image_size : int
        Side of the square JPEGs in pixels (from 128 up they get photo-like noise, ~30 KB at 256).
    train_shards : int
        Number of train Parquet shards.
    image_name_style : str
        ``"global"`` (the hub: ``19902.jpg``, labels from image_info) or ``"path"``
        (``<class1>/<class2>/<class3>/<n>.jpg``, the training repo's form, parsed for labels).
    overwrite : bool
        Replace an existing folder (in one rename).
    progress : bool
        Show a bar over the images (the slow part: ~2 minutes at 100,788 rows and 256 px).

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    UsageError
        If ``image_size`` is under 8, ``image_name_style`` is unknown, ``rows`` is too small for
        every split to get 10 rows, or ``out`` holds files and ``overwrite`` is false.
    SpaVLError
        If ``out`` exists and is not a folder.
    """
    if image_size < 8:
        raise UsageError(f"image size {image_size} is too small: use at least 8 pixels ({{option}})", parameter="image_size", value=8)
    if image_name_style not in ("global", "path"):
        raise UsageError(f"image_name_style {image_name_style!r} is not 'global' or 'path'")
    rng = np.random.default_rng(seed)
    data = _draw_rows(rows, rng)
    names = _image_names(data, image_name_style)
    class_index = {c1: i for i, c1 in enumerate(dict.fromkeys(p[0] for p in data.paths))}
    # One JPEG per image (rows of the same image share it), drawn in image-id order. Rows are
    # assembled shard by shard, so memory holds the unique JPEGs plus one shard, not every row's bytes.
    _, first_rows = np.unique(data.image_id, return_index=True)
    from .progress import progress_bar

    plan = _plan_duplicates(data, seed)
    hues = [class_index[data.paths[data.path_index[r]][0]] for r in first_rows]
    payloads: list[bytes] = [
        b"" if int(data.image_id[r]) in plan else _encode(_pixels(seed, int(data.image_id[r]), image_size, hue))
        for r, hue in zip(progress_bar(len(first_rows), "images", "img", enabled=progress, iterable=first_rows), hues)
    ]
    for copy, (source, kind) in plan.items():  # image ids are 0..n-1 in first-row order
        if kind == "exact":
            payloads[copy] = payloads[source]
        else:
            payloads[copy] = _encode(_pixels(seed, source, image_size, hues[source]) + 4.0, quality=70)
    jpegs = pa.array(payloads, pa.large_binary())
    image_ids, file_names = pa.array(data.image_id), pa.array([n.rsplit("/", 1)[-1] for n in names])
    classes = np.asarray(data.paths, dtype=object)[data.path_index]
    texts = pa.table(
        {
            **{k: pa.array(data.text[k], pa.string()) for k in ("question", "chosen", "rejected")},
            "image_name": pa.array(names, pa.string()),
            **{level: pa.array(classes[:, i], pa.string()) for i, level in enumerate(LEVELS)},
        }
    )

    def rows_table(config: str, rows: np.ndarray) -> pa.Table:
        take = pa.array(rows, pa.int64())
        image = pa.StructArray.from_arrays(
            [jpegs.take(image_ids.take(take)).cast(pa.binary()), file_names.take(take)], names=["bytes", "path"]
        )
        return _table(config, texts.take(take).append_column("image", image))

    from .card import card_metadata, dataset_info_entry  # the card's YAML helpers import datasets
    from .features import hub_features

    with staged_dir(out, overwrite=overwrite, what="sample") as tmp:
        infos = []
        for config, layout in CONFIGS.items():
            split_sizes = {}
            for split in layout.splits:
                idx = np.flatnonzero((data.config == config) & (data.split == split))
                folder, stem = split_file_stem(config, split)
                count = min(train_shards, len(idx)) if config == "train" else 1
                nbytes = 0
                for k, part in enumerate(np.array_split(idx, count)):
                    table = rows_table(config, part)
                    target = tmp / folder / shard_name(stem, k, count)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    pq.write_table(table, target, row_group_size=500, compression="snappy")
                    nbytes += table.nbytes
                split_sizes[split] = (len(idx), nbytes)
            infos.append(dataset_info_entry(layout.hub_name, hub_features(config), split_sizes))
        _write_meta(tmp, data, jpegs, image_size, rng)
        metadata = card_metadata(hub_card_configs(), infos, pretty_name="SPA-VL (synthetic sample)")
        (tmp / CARD_FILE).write_text(render_card(metadata, _SAMPLE_BODY.format(rows=rows, seed=seed)), encoding="utf-8")
    return Path(out)


#: Models more likely to write the chosen answer (the sample's stand-in for "safer" models).
_SAFER = ("gemini", "LLaVA1.5", "QwenVL", "InternLMXComposer", "InstructBLIP")


def _response_models(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A chosen and a different rejected model key per row; safer models win more often."""
    safer = np.asarray([m in _SAFER for m in RESPONSE_MODELS])
    chosen_w = rng.dirichlet(np.full(len(RESPONSE_MODELS), 2.0)) * np.where(safer, 3.0, 1.0)
    rejected_w = rng.dirichlet(np.full(len(RESPONSE_MODELS), 2.0)) * np.where(safer, 1.0, 3.0)
    chosen = rng.choice(len(RESPONSE_MODELS), size=n, p=chosen_w / chosen_w.sum())
    rejected = rng.choice(len(RESPONSE_MODELS), size=n, p=rejected_w / rejected_w.sum())
    clash = rejected == chosen
    rejected[clash] = (rejected[clash] + rng.integers(1, len(RESPONSE_MODELS), int(clash.sum()))) % len(RESPONSE_MODELS)
    return chosen, rejected


def _write_json(path: Path, records: list[dict]) -> None:
    import orjson

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(records, option=orjson.OPT_INDENT_2))


def _write_meta(root: Path, data: _Rows, jpegs: pa.Array, image_size: int, rng: np.random.Generator) -> None:
    """Every meta file in the hub's layout, records in another order than the rows."""
    text, meta = data.text, root / META_DIR
    folder_names = _image_names(data, "folder")
    # image_info: one record per train image, keyed by the train image_name
    train = np.flatnonzero(data.config == "train")
    images, first = np.unique(data.image_id[train], return_index=True)
    first = train[first]
    n = len(first)
    similarity = np.round(rng.uniform(0.15, 0.45, n), 4)
    text_count = rng.poisson(1.5, n)
    info = []
    for k in rng.permutation(n):
        r = int(first[k])
        c1, c2, c3 = data.paths[data.path_index[r]]
        info.append(
            {
                "image": f"{images[k]}.jpg", "width": image_size, "height": image_size,
                "url": f"https://example.invalid/laion/{images[k]}.jpg",
                "md5": hashlib.md5(jpegs[int(images[k])].as_py()).hexdigest(),
                "caption_laion": text["caption_laion"][r], "text_similarity": float(similarity[k]),
                "text_count": int(text_count[k]), "gemini_caption": text["gemini_caption"][r],
                "class1": c1, "class2": c2, "class3": c3,
            }
        )
    _write_json(meta / "image_info" / "meta.json", info)
    # split / prefer / model_answer / safety: train and validation items, one file per question type
    rated = np.flatnonzero(data.config != "eval")
    chosen_model, rejected_model = _response_models(rng, len(data.config))
    pool = [*text["chosen"], *text["rejected"]]
    others = sample_text.other_answers(rng, pool, len(RESPONSE_MODELS), len(data.config))
    for qtype in QUESTION_TYPES:
        idx = rng.permutation(rated[data.question_type[rated] == qtype])
        base = [{"image": folder_names[i], "question": text["question"][i]} for i in idx]
        pair = [{**b, "chosen": text["chosen"][i], "rejected": text["rejected"][i]} for b, i in zip(base, idx)]
        answers = []
        for b, i in zip(base, idx):
            record = {**b, **dict(zip(RESPONSE_MODELS, others[i]))}
            record[RESPONSE_MODELS[chosen_model[i]]] = text["chosen"][i]
            record[RESPONSE_MODELS[rejected_model[i]]] = text["rejected"][i]
            answers.append(record)
        _write_json(meta / "split" / f"{qtype}.json", pair)
        _write_json(meta / "prefer" / f"{qtype}.json", [{**p, "reason1": text["reason1"][i], "reason2": text["reason2"][i]} for p, i in zip(pair, idx)])
        _write_json(meta / "model_answer" / f"{qtype}.json", answers)
        _write_json(meta / "safety" / f"{qtype}.json", [{**b, "chosen_safe": True, "rejected_safe": False} for b in base])


_SAMPLE_BODY = """
# SPA-VL — synthetic sample

A synthetic stand-in for [sqrti/SPA-VL](https://huggingface.co/datasets/sqrti/SPA-VL) in its exact
file layout, written by `spa-vl sample` ({rows} rows, seed {seed}). Texts are templated from the
known harm taxonomy and question types; images are generated JPEGs. Not for training.
"""


# ---------------------------------------------------------------------------------------------
# The embedded sample, built on first use into a cache folder keyed by everything it depends on

_GENERATOR_FILES = ("sample.py", "sample_text.py", "features.py", "layout.py", "card.py", "data/taxonomy.json")


def generator_fingerprint() -> str:
    """Hash of the code and reference data the sample is generated from.

    Returns
    -------
    str
        The first 12 hex digits of the SHA-256 of the generator modules, ``data/taxonomy.json``
        and the pyarrow and numpy versions.
    """
    digest = hashlib.sha256()
    for name in _GENERATOR_FILES:
        digest.update((Path(__file__).parent / name).read_bytes())
    digest.update(f"{pa.__version__}/{np.__version__}".encode())
    return digest.hexdigest()[:12]


def ensure_sample(rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED, image_size: int = DEFAULT_IMAGE_SIZE) -> Path:
    """The embedded sample's folder, generated on first use (safe under concurrent callers).

    The folder lives under :func:`~spa_vl.cache.cache_root`, named by the arguments and
    :func:`generator_fingerprint`; a file lock serialises concurrent generation.

    Parameters
    ----------
    rows : int, default 1200
        Rows over all splits.
    seed : int, default 0
        Seed of every random choice.
    image_size : int, default 32
        Side of the square JPEGs in pixels.

    Returns
    -------
    pathlib.Path
        The sample's folder, in the hub layout.

    Raises
    ------
    UsageError
        If the arguments cannot make a sample (see :func:`generate_sample`).
    """
    from filelock import FileLock

    root = cache_root()
    path = root / f"sample-r{rows}-s{seed}-px{image_size}-{generator_fingerprint()}"
    if path.is_dir():
        return path
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if not path.is_dir():
            generate_sample(path, rows=rows, seed=seed, image_size=image_size)
    return path
