"""The ``spa-vl`` command line.

Exit codes: 0 success, 1 a user error (one line, no traceback unless ``--debug``), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence

from .errors import SpaVLError

EPILOG = """examples:
  spa-vl sample out/sample --rows 2000 --seed 1
  spa-vl stats                       # the embedded sample
  spa-vl doctor /data/SPA-VL         # does a mirror hold what the layout promises?
  spa-vl stats /data/SPA-VL --name validation --json stats.json
  spa-vl report --out report         # HTML/Markdown/PNG/JSON report of the sample
  spa-vl ablate --out subsets --sizes 100,500 --seed 0
  spa-vl ablate --verify subsets
  spa-vl card /data/SPA-VL           # typed README YAML for plain datasets.load_dataset
"""


def _source(args: argparse.Namespace):
    from .opening import open_source

    return open_source(args.source, revision=args.revision, allow_partial=args.allow_partial, strict=args.strict)


def _add_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="?", default="sample", help="'sample' (default), a mirror folder, or a hub id (e.g. sqrti/SPA-VL)")
    p.add_argument("--revision", help="hub sources: branch, tag or commit sha (default: the default branch); resolved to one commit for the whole command")
    p.add_argument("--allow-partial", action="store_true", help="read splits with missing shards (says how many rows are missing)")
    p.add_argument("--strict", action="store_true", help="new label names or unparseable image paths are errors; ablate: so are unreadable image bytes and rows without text")


def _cmd_sample(args: argparse.Namespace) -> int:
    from .sample import generate_sample

    out = generate_sample(
        args.out, rows=args.rows, seed=args.seed, image_size=args.image_size, overwrite=args.overwrite, progress=_progress(args)
    )
    print(f"wrote a {args.rows}-row synthetic SPA-VL to {out}")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from .atomic import atomic_write_text
    from .stats import compute_stats

    source = _source(args)
    stats = compute_stats(source, [args.name] if args.name else None)
    pinned = {"_source": {"hub": source.label, "revision": source.revision}} if source.revision else {}
    text = json.dumps({**pinned, **stats}, indent=2, ensure_ascii=False)
    if args.json:
        atomic_write_text(args.json, text + "\n")
        print(f"wrote {args.json}")
    else:
        print((f"source: {source.description}\n" if source.revision else "") + _stats_table(stats))
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from .atomic import atomic_write_text
    from .doctor import diagnose, render_doctor

    report = diagnose(_source(args))
    print(render_doctor(report))
    if args.json:
        atomic_write_text(args.json, json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.json}")
    return 1 if report.failures else 0


def _stats_table(stats: dict) -> str:
    lines = []
    for key, entry in stats.items():
        lines.append(f"{key}: {entry['rows']} rows")
        for column in ("class1", "question_type"):
            shown = ", ".join(f"{label} {count}" for label, count in entry[column].items())
            lines.append(f"  {column}: {shown}")
        lines.append(f"  class2: {len(entry['class2'])} labels, class3: {len(entry['class3'])} labels")
    return "\n".join(lines)


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


#: Modules of the ``analysis`` extra, checked before a command that needs them starts.
ANALYSIS_MODULES: tuple[str, ...] = ("matplotlib", "seaborn", "sklearn", "sentence_transformers", "imagehash", "plotly", "markdown_it", "datasketch")


def _require_analysis(what: str) -> None:
    """One clear line when the ``analysis`` extra is not installed (instead of an ImportError mid-run)."""
    import importlib.util

    missing = [m for m in ANALYSIS_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise SpaVLError(f"{what} needs the analysis extra ({', '.join(missing)} not installed): pip install 'spa-vl[analysis]'")


def _cmd_report(args: argparse.Namespace) -> int:
    _require_analysis("spa-vl report")
    from spa_vl.analysis.report.build import ReportSettings, build_report

    settings = ReportSettings(
        diversity_sample=None if args.full else args.sample, model=args.model, seed=args.seed, batch_size=args.batch_size,
        device=args.device, backend=args.backend,
    )

    def announce(estimate: str) -> None:  # --full: what is left to encode and how long it takes here, before it starts
        print(f"spa-vl: --full encodes {estimate}", file=sys.stderr, flush=True)

    out = build_report(_source(args), args.out, settings, overwrite=args.overwrite, progress=_progress(args),
                       announce=None if args.quiet else announce, embeddings=args.embeddings)
    explorer = ", explorer.html" if (out / "explorer.html").is_file() else ""
    print(f"wrote {out}/report.html{explorer}, report.md, stats.json, timings.json and the figures")
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    _require_analysis("spa-vl embed")
    from spa_vl.analysis.embeddings.engines import embed_source

    result = embed_source(
        _source(args), args.out, fields=args.fields.split(","), model=args.model, engine=args.engine, address=args.address,
        batch_size=args.batch_size, num_gpus=args.num_gpus, workers=args.workers, device=args.device, progress=_progress(args),
    )
    print(result.describe())
    return 0


def _model_groups(specs: list[str] | None) -> dict[str, list[str]] | None:
    if not specs:
        return None
    groups = {}
    for spec in specs:
        name, _, members = spec.partition("=")
        if not name or not members:
            raise SpaVLError(f"--model-group {spec!r} is not NAME=M1,M2,...: e.g. --model-group safe=gemini,LLaVA1.5")
        groups[name] = [m.strip() for m in members.split(",") if m.strip()]
    return groups


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.replace("_", "").split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None


def _question_embeddings(args: argparse.Namespace, pool):
    from spa_vl.analysis.embeddings.encoder import Encoder

    return Encoder(args.model, progress=_progress(args), store=args.embeddings).encode(pool["question"].tolist())


#: Data a recipe's ``sample`` takes besides the pool (its class lists them in ``inputs``) → how the CLI computes it.
SAMPLER_INPUTS: dict[str, Callable] = {"embeddings": _question_embeddings}


#: ``spa-vl ablate`` options that belong to some recipe (argparse destinations), and the options an input brings.
RECIPE_OPTIONS = ("sizes", "n", "level", "k", "models", "model_group", "model", "embeddings", "max_refusal_share")
INPUT_OPTIONS: dict[str, tuple[str, ...]] = {"embeddings": ("model", "embeddings")}


def _refuse_foreign_options(args: argparse.Namespace, cls) -> None:
    """One line when an option the recipe does not read was given (``--recipe scale --n 100``)."""
    takes = set(cls.cli_parameters.values()) | {o for name in cls.inputs for o in INPUT_OPTIONS.get(name, ())}
    foreign = [dest for dest in RECIPE_OPTIONS if getattr(args, dest, None) is not None and dest not in takes]
    if foreign:
        flags = ", ".join("--" + d.replace("_", "-") for d in foreign)
        own = ", ".join("--" + d.replace("_", "-") for d in RECIPE_OPTIONS if d in takes) or "no recipe options"
        raise SpaVLError(f"the {cls.name} recipe does not use {flags}: it takes {own} (and --seed); "
                         f"drop {flags} or choose another --recipe")


def _sampler(args: argparse.Namespace, pool):
    """The ``--recipe`` sampler (its class reads its own options) and the data its ``sample`` takes."""
    from spa_vl.analysis.subsets.recipes import RECIPES

    cls = RECIPES[args.recipe]
    _refuse_foreign_options(args, cls)
    if args.recipe == "scale" and args.sizes is None:
        from spa_vl.analysis.subsets.ablation import DEFAULT_SIZES, default_sizes

        sizes = default_sizes(len(pool))
        print(f"scale: sizes {', '.join(f'{s:,}' for s in sizes)} (the paper's ladder "
              f"{', '.join(f'{s:,}' for s in DEFAULT_SIZES)} capped at the pool's {len(pool):,} rows; --sizes to choose)")
    sampler = cls.from_cli(argparse.Namespace(**{**vars(args), "model_group": _model_groups(args.model_group)}))
    return sampler, {name: SAMPLER_INPUTS[name](args, pool) for name in cls.inputs}


ABLATE_EXAMPLES = """spa-vl ablate /data/SPA-VL --out subsets --recipe scale --sizes 30000,90000 --seed 0
  spa-vl ablate --out subsets --recipe question-type --n 200
  spa-vl ablate --verify subsets
  spa-vl ablate --relocate subsets      # after moving the folder: rewrite its absolute paths

from a subset to a training run (each subset's TRAIN.md has the full commands with its paths):
  SPA-VL-RLHF  spa-vl ablate /data/SPA-VL --out /work/subsets --sizes 30000 --format rlhf
               cd SPA-VL-RLHF && accelerate launch --config_file ./scripts/config.yaml ./train_dpo.py \\
                 --config_train_path /work/subsets/scale-30000/rlhf/config_train.json \\
                 --keywords hardq hardd easy --image_folder /work/subsets/scale-30000/images ...
               (train_rm.py also takes --config_test_path .../rlhf/config_test.json)
  TRL          spa-vl ablate /data/SPA-VL --out /work/subsets --sizes 30000 --format trl
               trl dpo --dataset_name /work/subsets/scale-30000/trl --model_name_or_path Qwen/Qwen2.5-VL-3B-Instruct ...
  LLaMA-Factory  spa-vl ablate /data/SPA-VL --out /work/subsets --sizes 30000 --format llamafactory
               llamafactory-cli train dpo.yaml   # dataset_dir: /work/subsets/scale-30000/llamafactory,
                                                 # dataset: spa_vl_scale-30000, eval_dataset: spa_vl_scale-30000_eval"""


def _cmd_ablate(args: argparse.Namespace) -> int:
    from spa_vl.analysis.writers.export import export_subsets, relocate_tree, verify_tree

    if args.relocate:
        for folder, moved in relocate_tree(args.relocate).items():
            print(f"{folder}: {'paths rewritten' if moved else 'already where it was written'}")
        print(f"check with: spa-vl ablate --verify {args.relocate}")
        return 0
    if args.verify:
        results = verify_tree(args.verify)
        for folder, problems in results.items():
            print(f"{folder}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
            for problem in problems:
                print(f"  {problem}")
        bad = sum(bool(p) for p in results.values())
        if bad:
            raise SpaVLError(f"{bad} of {len(results)} subset(s) do not match their manifest{_moved_hint(args.verify, results)}")
        return 0
    if not args.out:
        raise SpaVLError("spa-vl ablate needs --out DIR (or --verify DIR)")
    from spa_vl.analysis.subsets.ablation import train_pool

    source = _source(args)
    pool = _pair_quality_pool(args, source, train_pool(source))
    sampler, inputs = _sampler(args, pool)
    subsets = sampler.sample(pool, **inputs)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    folders = export_subsets(
        source, subsets, args.out, pool=pool, formats=formats, seed=args.seed, overwrite=args.overwrite,
        progress=_progress(args), eval_from=args.eval_from, eval_size=args.eval_size, strict=args.strict,
    )
    for subset, folder in zip(subsets, folders):
        print(f"{folder}: {len(subset)} rows")
        for key, value in subset.metrics.items():  # e.g. the subset's and the pool's chosen-longer share
            print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    if set(formats) - {"parquet"}:
        print(f"training commands: {folders[0] / 'TRAIN.md'}" + (" (one per subset)" if len(folders) > 1 else ""))
    return 0


def _moved_hint(root: str, results: dict[str, list[str]]) -> str:
    """``--verify``'s fix for moved subsets: one ``--relocate`` per distinct folder that fixes them all (usually ``root``)."""
    from spa_vl.analysis.writers.export import moved_subsets, relocate_command, relocate_roots

    moved = moved_subsets(root)
    if not moved:
        return ""
    roots = relocate_roots(root)
    commands = " and ".join(f"`{relocate_command(folder)}`" for folder in roots) + (" rewrite" if len(roots) > 1 else " rewrites")
    if len(results) == 1 and list(moved) == list(results):  # root is the subset, or holds just this one
        return f"; it was moved from {next(iter(moved.values()))}: {commands} its paths"
    parents = {os.path.dirname(old) for old in moved.values()}
    moved_from = f" from {parents.pop()}" if len(parents) == 1 else ""
    broken = [folder for folder, problems in results.items() if problems]
    names = ", ".join(os.path.basename(folder) for folder in moved)
    which = f"all {len(moved)} were" if len(moved) == len(broken) > 1 else f"{names} {'was' if len(moved) == 1 else 'were'}"
    hint = f"; {which} moved{moved_from}: {commands} {'its' if len(moved) == 1 else 'their'} paths"
    others = ", ".join(os.path.basename(folder) for folder in broken if folder not in moved)
    return hint + (f"; the problems of {others} are listed above" if others else "")


def _pair_quality_pool(args: argparse.Namespace, source, pool):
    """The pool with pair features where the recipe or ``--drop-no-signal`` needs them, less the no-signal pairs if asked."""
    from spa_vl.analysis.subsets.recipes import RECIPES, drop_no_signal, with_pair_features

    if not (args.drop_no_signal or getattr(RECIPES[args.recipe], "needs_pair_features", False)):
        return pool
    pool = with_pair_features(pool, source)
    if args.drop_no_signal:
        kinds = [k.strip() for k in args.drop_no_signal.split(",") if k.strip()]
        kept = drop_no_signal(pool, kinds)
        print(f"--drop-no-signal {','.join(kinds)}: {len(pool) - len(kept)} of {len(pool)} pairs left out, {len(kept)} in the pool")
        pool = kept
    return pool


def _cmd_publish(args: argparse.Namespace) -> int:
    from spa_vl.analysis.writers.publish import SHARD_BYTES, publish, push

    if args.format == "rlhf":
        from spa_vl.analysis.writers.official import CONFIG_FILE, write_training_files

        if args.push:
            raise SpaVLError("--push uploads the datasets folder (--format hub); leave it out with --format rlhf")
        files = write_training_files(_source(args), args.out, image_folder=args.image_folder, overwrite=args.overwrite,
                                     progress=_progress(args))
        print(f"wrote {files.folder}: {', '.join(f'{k} {n}' for k, n in files.rows.items())} items, "
              f"{files.images_written} images written, left out {files.skipped} in {files.seconds:.1f} s")
        print(f"--config_train_path {files.folder.resolve() / CONFIG_FILE} --image_folder {files.image_folder}")
        return 0
    if args.image_folder:
        raise SpaVLError("--image-folder goes with --format rlhf (the datasets folder embeds the images)")
    result = publish(_source(args), args.out, overwrite=args.overwrite, image_info=args.image_info, reasons=args.reasons,
                     shard_bytes=int(args.max_shard_mb * 1e6) if args.max_shard_mb else SHARD_BYTES, progress=_progress(args))
    for s in result.splits:
        print(f"{s.config}/{s.split}: {s.rows} rows, {len(s.files)} shard(s), {s.file_bytes / 1e6:.1f} MB")
    print(f"wrote {result.folder}: {result.rows} rows, {result.shards} shard(s), {result.file_bytes / 1e6:.1f} MB "
          f"in {result.seconds:.1f} s (fingerprint {result.fingerprint})")
    if args.push:
        sha, url = push(result.folder, args.push, private=args.private)
        print(f"pushed {args.push} @ {sha}: {url}")
    return 0


def _cmd_card(args: argparse.Namespace) -> int:
    from .card import write_card

    print(f"wrote {write_card(args.folder, overwrite=args.overwrite)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs).

    Returns
    -------
    argparse.ArgumentParser
        ``spa-vl`` with one sub-parser per command; ``--recipe`` choices come from the recipe registry.
    """
    parser = argparse.ArgumentParser(
        prog="spa-vl",
        description="Load, measure and subset SPA-VL (hub id, local mirror folder, or the embedded sample).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # --debug and --quiet work before or after the subcommand (the subcommand's copy leaves the
    # global value alone unless given)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks on errors")
    common.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars or warnings")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or warnings")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Callable, help: str, example: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=f"example:\n  {example}", parents=[common],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    p = add("sample", _cmd_sample, "write a deterministic synthetic SPA-VL in the hub layout",
            "spa-vl sample out/sample --rows 2000 --seed 1")
    p.add_argument("out", help="output folder")
    p.add_argument("--rows", type=int, default=1200, help="total rows over all splits (default 1200)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--image-size", type=int, default=32, help="image side in pixels (default 32)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing folder")

    p = add("stats", _cmd_stats, "row and label counts per config/split (images are never read)",
            "spa-vl stats /data/SPA-VL --json stats.json")
    _add_source(p)
    p.add_argument("--name", help="one config: train, validation, eval (aliases default, test)")
    p.add_argument("--json", metavar="FILE", help="write the stats as JSON to FILE")

    p = add("doctor", _cmd_doctor, "check a source against the hub layout: configs, meta files, label coverage",
            "spa-vl doctor /data/SPA-VL --json doctor.json")
    _add_source(p)
    p.add_argument("--json", metavar="FILE", help="write the diagnosis as JSON to FILE")
    p.epilog = (
        "exit 1 when a join the layout promises covers less than 99% of a split. Promised joins: class1..3 of\n"
        "every split (validation/eval: own columns; train: meta_files/image_info/meta.json by image_name),\n"
        "train question_type (meta_files/split/*.json by question, chosen, rejected) and train\n"
        "chosen_model/rejected_model (meta_files/model_answer/*.json). Validation's are reported, not promised.\n\n"
        + (p.epilog or "")
    )

    from spa_vl.analysis.embeddings.backends import BACKENDS  # --backend's choices (numpy only: parsing needs no extra)

    p = add("report", _cmd_report, "the full report: taxonomy, difficulty, diversity (HTML, Markdown, PNG, JSON; timings.json)",
            "spa-vl report /data/SPA-VL --out report --sample 2000")
    _add_source(p)
    p.add_argument("--out", default="spa-vl-report", help="output folder (default spa-vl-report)")
    p.add_argument("--sample", type=int, default=1000, help="train rows embedded per text field, stratified by class1 (default 1000)")
    p.add_argument("--full", action="store_true", help="embed every train row (slow once, then cached)")
    p.add_argument("--model", help="sentence-transformers model name or path (default: packaged all-MiniLM-L6-v2)")
    p.add_argument("--batch-size", type=int, default=64, help="encoder batch size (default 64)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu", help="encoder device; auto = a GPU when torch sees one (default cpu)")
    p.add_argument("--backend", choices=list(BACKENDS), default="torch",
                   help="encoder runtime: fp32 torch (default), torch-int8, onnx, onnx-int8, openvino (the spa-vl[encoders] extra)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report folder")
    p.add_argument("--embeddings", metavar="STORE", help="take vectors from this store (spa-vl embed); only texts it lacks are encoded")

    from spa_vl.analysis.embeddings.engines import ENGINES  # --engine's choices

    p = add("embed", _cmd_embed, "embed every distinct text of a source once into a store that report and ablate reuse "
            "(locally or on a Ray cluster; docs/scale_out.md)", "spa-vl embed /data/SPA-VL --out store --engine ray --address auto")
    _add_source(p)
    p.add_argument("--out", required=True, metavar="STORE", help="the store: a folder or an fsspec URL; an existing store is extended")
    p.add_argument("--fields", default="question,chosen,rejected", help="comma-separated text fields (default question,chosen,rejected)")
    p.add_argument("--model", help="sentence-transformers model name or path (default: packaged all-MiniLM-L6-v2)")
    p.add_argument("--engine", choices=list(ENGINES), default="local", help="local: this process (default); ray: Ray Data (spa-vl[ray])")
    p.add_argument("--address", help="ray: 'auto' or host:port / ray://host:port of a running cluster (default: start a local one)")
    p.add_argument("--batch-size", type=int, default=64, help="texts per forward pass (default 64)")
    p.add_argument("--num-gpus", type=float, help="ray: GPUs per actor (default 1 when the cluster has GPUs, else 0)")
    p.add_argument("--workers", type=int, help="ray: actors embedding (default: GPUs / --num-gpus, else CPUs - 1)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu", help="local: encoder device (default cpu)")

    from spa_vl.analysis.subsets.recipes import RECIPES  # the recipe registry: --recipe's choices and help

    p = add("ablate", _cmd_ablate, "write ablation subsets (scale ladder or diversity recipes) for datasets, "
            "SPA-VL-RLHF, TRL and LLaMA-Factory", ABLATE_EXAMPLES)
    _add_source(p)
    p.add_argument("--out", help="folder that receives one subfolder per subset")
    p.add_argument("--recipe", default="scale", choices=list(RECIPES),
                   help="; ".join(f"{name}: {cls.description}" for name, cls in RECIPES.items()).replace("%", "%%") + " (default scale)")
    p.add_argument("--sizes", type=_int_list, help="scale: comma-separated sizes (default 100,1000,5000,10000,30000,90000 capped at the pool)")
    p.add_argument("--n", type=int, help="diversity recipes: rows in each subset")
    p.add_argument("--level", choices=["class1", "class2"], help="taxonomy: level to cover (default class1)")
    p.add_argument("--k", type=_int_list, help="taxonomy: numbers of categories (default 1..all)")
    p.add_argument("--models", type=_int_list, help="response-models: numbers of models m (default 2,4,8,12)")
    p.add_argument("--model-group", action="append", metavar="NAME=M1,M2,...",
                   help="response-models: a named group of model keys (repeatable); gives one subset per group plus models-all, "
                        "e.g. --model-group safe=gemini,LLaVA1.5,QwenVL")
    p.add_argument("--model", help="embedding: sentence-transformers model name or path")
    p.add_argument("--embeddings", metavar="STORE", help="embedding: take question vectors from this store (spa-vl embed)")
    p.add_argument("--max-refusal-share", type=float, metavar="S", help="refusal: highest share of pairs whose chosen answer refuses (0..1)")
    p.add_argument("--drop-no-signal", nargs="?", const="both-refuse,both-comply,identical", metavar="KINDS",
                   help="any recipe: leave pairs without signal out of the pool first; KINDS comma-separated from both-refuse, "
                        "both-comply, identical (default all three); docs/pair_quality.md")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--format", default="parquet,rlhf",
                   help="comma-separated: parquet, rlhf (SPA-VL-RLHF), trl, llamafactory, swift (ms-swift) (default parquet,rlhf)")
    p.add_argument("--eval-from", default="validation", choices=["validation", "train"],
                   help="held-out eval rows for rlhf/trl/llamafactory: the validation config (default) or train rows in no subset")
    p.add_argument("--eval-size", type=int, default=1000, help="at most this many eval rows (default 1000)")
    p.add_argument("--overwrite", action="store_true", help="replace existing subset folders")
    p.add_argument("--verify", metavar="DIR", help="re-hash the files of DIR's subsets against their manifests")
    p.add_argument("--relocate", metavar="DIR", help="after moving DIR, rewrite the absolute paths its subsets' files hold")

    p = add("publish", _cmd_publish, "the whole dataset, labelled (ClassLabel ids) and typed, as a dataset repo folder for plain "
            "datasets.load_dataset; --push uploads it", "spa-vl publish /data/SPA-VL --out SPA-VL-labelled --push me/SPA-VL-labelled")
    _add_source(p)
    p.add_argument("--out", required=True, help="the folder to write (docs/publish.md)")
    p.add_argument("--push", metavar="REPO_ID", help="then upload it to this Hub dataset repo as one commit and print its URL")
    p.add_argument("--private", action="store_true", help="with --push: create the repo private")
    p.add_argument("--image-info", action="store_true", help="add the meta_files/image_info fields to train")
    p.add_argument("--reasons", action="store_true", help="add prefer's reason1 and reason2 to train and validation")
    p.add_argument("--max-shard-mb", type=float, help="most MB of Arrow data per Parquet file (default 500, as datasets' push_to_hub)")
    p.add_argument("--format", choices=["hub", "rlhf"], default="hub",
                   help="hub: the datasets folder (default); rlhf: SPA-VL-RLHF's {easy,hardq,hardd}_train.json + config_train.json "
                        "for every labelled train row, images in train.zip's class-path layout")
    p.add_argument("--image-folder", metavar="DIR",
                   help="with --format rlhf: an already-unzipped train.zip; its images are checked, not copied")
    p.add_argument("--overwrite", action="store_true", help="replace an existing folder")

    p = add("card", _cmd_card, "write README.md YAML with typed (ClassLabel) features for a folder",
            "spa-vl card /data/SPA-VL")
    p.add_argument("folder", help="a folder in the SPA-VL hub layout")
    p.add_argument("--overwrite", action="store_true",
                   help="rewrite an existing README.md (its body and YAML keys other than configs/dataset_info are kept)")
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    from .taxonomy import SpaVLWarning

    if issubclass(category, SpaVLWarning):  # about the user's data: one plain line
        print(f"spa-vl: warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _system_allocator() -> None:
    # pyarrow's default mimalloc pool keeps freed arenas: a full-scale column scan peaks ~30% higher
    # (about 300 MB instead of 230 MB for `spa-vl stats`). An explicit ARROW_DEFAULT_MEMORY_POOL wins.
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())


def cli_option(parameter: str, value: object) -> str:
    """A library parameter as its command-line flag: ``overwrite=True`` → ``--overwrite``.

    Parameters
    ----------
    parameter : str
        The library's parameter name (``allow_partial``).
    value : object
        The value the fix gives it; ``True`` for a switch.

    Returns
    -------
    str
        ``--allow-partial`` for a switch, ``--revision REV`` for a value.
    """
    flag = "--" + parameter.replace("_", "-")
    return flag if value is True else f"{flag} {value}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``spa-vl``.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (``sys.argv[1:]`` when None).

    Returns
    -------
    int
        The exit code: 0 success, 1 a user error (one line on stderr), 2 usage, 130 interrupted.
    """
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the subcommand's usage, not the top level's, names what was mistyped
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        subparsers.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    _system_allocator()
    if args.debug:  # hub retries and other progress notes of the library
        import logging

        logging.basicConfig(format="spa-vl: debug: %(message)s")
        logging.getLogger("spa_vl").setLevel(logging.DEBUG)
    with warnings.catch_warnings():
        if args.quiet:
            warnings.simplefilter("ignore")
        warnings.showwarning = _show_warning
        try:
            return args.func(args)
        except BrokenPipeError:
            # output piped into `head` and the like: stop quietly, as Unix tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except (SpaVLError, OSError) as e:
            # OSError: a path we cannot read or write (permissions, a full disk): still one line
            if args.debug:
                raise
            if isinstance(e, SpaVLError):
                message = e.render(cli_option)
            else:
                from .atomic import describe_os_error

                message = describe_os_error(e)
            print(f"spa-vl: error: {message}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("spa-vl: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
