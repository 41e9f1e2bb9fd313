"""A deterministic synthetic SPA-VL in the exact hub layout (the embedded sample).

Layout written: ``README.md`` (the hub's YAML configs and features), ``data/train-0000K-of-0000N``
shards, ``validation/validation-00000-of-00001``, ``test/harm-*``, ``test/help-*``, and
``meta_files/split/{easy,hardq,hards}.json`` for question types and ``meta_files/prefer/`` for
the (stand-in) models that wrote each chosen and rejected response. Images are small real JPEGs in
the ``datasets`` Image struct. Taxonomy labels come only from the reference names. Split sizes
keep the hub's proportions (93,258 : 7,000 : 265 : 265), at least 10 rows per split.
Same arguments, same library versions → byte-identical files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from . import sample_text
from .atomic import staged_dir
from .cache import cache_root
from .card import card_metadata, dataset_info_entry
from .errors import SpaVLError
from .features import HUB_COLUMNS, hub_features
from .layout import CARD_FILE, CONFIGS, HUB_SPLIT_ROWS, HUB_TRAIN_SHARDS, META_DIR, hub_card_configs, render_card, shard_name, split_file_stem
from .taxonomy import LEVELS, QUESTION_TYPES, reference_paths

DEFAULT_ROWS = 1200
DEFAULT_SEED = 0
DEFAULT_IMAGE_SIZE = 32
MIN_SPLIT_ROWS = 10
#: Images at least this large get photo-like noise, so JPEG sizes approach the hub's (~30-40 KB at 256 px).
_NOISY_FROM_PX = 128


def split_sizes(rows: int) -> dict[tuple[str, str], int]:
    """Rows per ``(config, split)`` in the hub's proportions, every split at least 10 rows."""
    total = sum(HUB_SPLIT_ROWS.values())
    if rows < MIN_SPLIT_ROWS * len(HUB_SPLIT_ROWS):
        raise SpaVLError(f"--rows {rows} is too small: the sample needs at least {MIN_SPLIT_ROWS * len(HUB_SPLIT_ROWS)} rows")
    sizes = {key: max(MIN_SPLIT_ROWS, round(rows * n / total)) for key, n in HUB_SPLIT_ROWS.items() if key[0] != "train"}
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
        # Each image carries up to three questions, one per type, as in SPA-VL.
        n_images = -(-n // len(QUESTION_TYPES))
        image_paths = rng.choice(len(paths), size=n_images, p=weights)
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
    image_id, path_index = np.concatenate(image_ids), np.concatenate(path_index)
    qtypes = np.concatenate(qtypes)
    topics = np.asarray([p[2] for p in paths], dtype=object)[path_index]
    return _Rows(
        config=np.concatenate(configs),
        split=np.concatenate(splits),
        paths=paths,
        path_index=path_index,
        image_id=image_id,
        image_number=_number_within_folder(image_id, path_index, offset),
        question_type=qtypes,
        text=sample_text.texts(rng, topics, qtypes),
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


def _jpeg(rng: np.random.Generator, size: int, hue: int, shape: int) -> bytes:
    base = np.array([(hue * 53) % 256, (hue * 101 + 80) % 256, (hue * 29 + 160) % 256], dtype=np.float32)
    noise_scale = 60.0 if size >= _NOISY_FROM_PX else 12.0
    pixels = base + rng.normal(0.0, noise_scale, (size, size, 3)).astype(np.float32)
    lo, hi = size // 4, size // 4 + max(2, size // 2)
    band = slice(lo + shape % 3, hi - shape % 5)
    pixels[band, lo:hi] = 255 - base  # a block whose placement depends on the subcategory
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _image_paths(rows: _Rows, image_name_style: str) -> list[str]:
    full = [f"{c1}/{c2}/{c3}/{n}.jpg" for (c1, c2, c3), n in zip((rows.paths[i] for i in rows.path_index), rows.image_number)]
    return full if image_name_style == "path" else [p.rsplit("/", 1)[1] for p in full]


def _table(config: str, rows: pa.Table) -> pa.Table:
    schema = hub_features(config).arrow_schema  # carries the `huggingface` features metadata, as hub files do
    return rows.select(list(HUB_COLUMNS[config])).cast(schema)


def generate_sample(
    out: str | os.PathLike,
    rows: int = DEFAULT_ROWS,
    seed: int = DEFAULT_SEED,
    image_size: int = DEFAULT_IMAGE_SIZE,
    *,
    train_shards: int = HUB_TRAIN_SHARDS,
    image_name_style: str = "path",
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write a synthetic SPA-VL of ``rows`` rows to ``out`` (built aside, renamed into place).

    ``image_name_style="bare"`` writes train ``image_name`` as a bare file name (``170.jpg``), the
    other form the real data may take; labels then come from the meta files. ``progress`` shows a
    bar over the images (the slow part: ~2 minutes at 100,788 rows and 256 px).
    """
    if image_size < 8:
        raise SpaVLError(f"--image-size {image_size} is too small: use at least 8 pixels")
    if image_name_style not in ("path", "bare"):
        raise SpaVLError(f"image_name_style {image_name_style!r} is not 'path' or 'bare'")
    rng = np.random.default_rng(seed)
    data = _draw_rows(rows, rng)
    full_paths = _image_paths(data, "path")
    names = _image_paths(data, image_name_style)
    class_index = {c1: i for i, c1 in enumerate(dict.fromkeys(p[0] for p in data.paths))}
    # One JPEG per image (rows of the same image share it), drawn in image-id order. Rows are
    # assembled shard by shard, so memory holds the unique JPEGs plus one shard, not every row's bytes.
    _, first_rows = np.unique(data.image_id, return_index=True)
    from tqdm.auto import tqdm

    jpegs = pa.array(
        [
            _jpeg(rng, image_size, class_index[data.paths[data.path_index[r]][0]], int(data.path_index[r]))
            for r in tqdm(first_rows, desc="images", unit="img", disable=not progress)
        ],
        pa.large_binary(),
    )
    image_ids, file_names = pa.array(data.image_id), pa.array([p.rsplit("/", 1)[1] for p in full_paths])
    classes = np.asarray(data.paths, dtype=object)[data.path_index]
    texts = pa.table(
        {
            **{k: pa.array(v, pa.string()) for k, v in data.text.items()},
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
        _write_meta(tmp, data, full_paths, rng)
        metadata = card_metadata(hub_card_configs(), infos, pretty_name="SPA-VL (synthetic sample)")
        (tmp / CARD_FILE).write_text(render_card(metadata, _SAMPLE_BODY.format(rows=rows, seed=seed)), encoding="utf-8")
    return Path(out)


#: Stand-in names of the 12 response models (the sample does not claim which real VLMs they are).
RESPONSE_MODELS: tuple[str, ...] = tuple(f"vlm-{i:02d}" for i in range(1, 13))


def _response_models(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A chosen and a different rejected model per row, some models far more common than others."""
    weights = rng.dirichlet(np.full(len(RESPONSE_MODELS), 1.0))
    chosen = rng.choice(len(RESPONSE_MODELS), size=n, p=weights)
    shift = rng.integers(1, len(RESPONSE_MODELS), size=n)  # never the chosen model
    names = np.asarray(RESPONSE_MODELS, dtype=object)
    return names[chosen], names[(chosen + shift) % len(RESPONSE_MODELS)]


def _write_meta(root: Path, data: _Rows, full_paths: list[str], rng: np.random.Generator) -> None:
    """``split/`` (question types) and ``prefer/`` (which models wrote chosen and rejected)."""
    chosen_model, rejected_model = _response_models(rng, len(full_paths))
    for kind in ("split", "prefer"):
        (root / META_DIR / kind).mkdir(parents=True)
    for qtype in QUESTION_TYPES:
        idx = np.flatnonzero(data.question_type == qtype)
        items = [{"id": int(i), "image": full_paths[i], "question": data.text["question"][i]} for i in idx]
        prefer = [{**item, "chosen_model": chosen_model[i], "rejected_model": rejected_model[i]} for item, i in zip(items, idx)]
        for kind, records in (("split", items), ("prefer", prefer)):
            text = json.dumps(records, ensure_ascii=False, indent=1)
            (root / META_DIR / kind / f"{qtype}.json").write_text(text, encoding="utf-8")


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
    """Hash of the code and reference data the sample is generated from."""
    digest = hashlib.sha256()
    for name in _GENERATOR_FILES:
        digest.update((Path(__file__).parent / name).read_bytes())
    digest.update(f"{pa.__version__}/{np.__version__}".encode())
    return digest.hexdigest()[:12]


def ensure_sample(rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED, image_size: int = DEFAULT_IMAGE_SIZE) -> Path:
    """The embedded sample's folder, generated on first use (safe under concurrent callers)."""
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
