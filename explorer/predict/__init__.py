"""Classify images from the command line with exactly the Inference page's code path.

    python -m explorer.predict PATH --model NAME [--weights SOURCE] [--topk K] [--json]
                               [--explain METHOD --out DIR] [--batch-size N] [--workers N]

PATH is an image or a folder of images. A folder holding ``labels.csv`` (columns ``file`` and
``class_index``) also gets top-1 and top-5 accuracy over the labelled files. A file that cannot
be read is reported on its own line and the others go on. The images are decoded in a
DataLoader (in worker processes when there is more than one batch; ``--workers N`` sets how
many, 0 for none) and classified ``--batch-size`` at a time (64) in one forward pass each; a
result's ``latency_ms`` is its share of its batch's pass. ``--weights`` takes a source from
``explorer.weights`` ("auto", "package", "trained", "torchvision", "random") or a path to a
checkpoint file (loaded like an upload: weights only, strict key check).

Exit status: 0 when at least one image was classified, 1 when none could be, 2 for a usage
error (unknown model, weights that cannot be loaded).

:func:`run` is the whole command with its options as arguments; ``__main__.py`` only parses the
flags and calls it (tests call it directly).
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

__all__ = ["run", "read_labels"]


def read_labels(folder: Path) -> dict[str, int]:
    """``{file name: class index}`` from ``folder/labels.csv`` (columns ``file`` and
    ``class_index``); empty when there is no such file. ValueError for a file without them."""
    path = folder / "labels.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"file", "class_index"} <= set(reader.fieldnames):
            raise ValueError(f"{path} needs the columns file and class_index")
        return {row["file"]: int(row["class_index"]) for row in reader}


def run(path: Path, model: str, weights: str = "auto", topk: int = 5, as_json: bool = False,
        explain: str | None = None, out_dir: Path | None = None, device: str | None = None,
        out=None, err=None, batch_size: int | None = None, workers: int | None = None,
        threads: int | None = None) -> int:
    """``python -m explorer.predict PATH --model MODEL ...``: the arguments are the flags
    (``as_json`` is ``--json``, ``out_dir`` is ``--out``; ``batch_size``, ``workers`` and
    ``threads`` are ``--batch-size``, ``--workers`` and ``--threads``, None: automatic).
    Writes the results to ``out`` and errors to ``err`` (default: stdout and stderr); returns
    the exit status."""
    import torch

    from explorer.predict.batches import forward_threads

    before = torch.get_num_threads()
    torch.set_num_threads(threads or forward_threads())
    try:
        return _run(path, model, weights, topk, as_json, explain, out_dir, device, out, err,
                    batch_size, workers)
    finally:
        torch.set_num_threads(before)  # as it was, for a caller in the same process


def _run(path, model, weights, topk, as_json, explain, out_dir, device, out, err, batch_size,
         workers) -> int:
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    path = Path(path)
    out_dir = Path(out_dir) if out_dir is not None else None
    from explorer import zoo
    from explorer.data.images import image_files
    from explorer.predict.batches import BATCH_SIZE, classify_files
    from explorer.weights import WeightsError, load_model

    if explain:
        from explorer.attribution import METHODS
        if explain not in METHODS:
            print(f"error: unknown method {explain!r}; choose one of {', '.join(METHODS)}",
                  file=err)
            return 2
        if out_dir is None:
            print("error: --explain needs --out DIR for the maps", file=err)
            return 2
    if not path.exists():
        print(f"error: {path} does not exist", file=err)
        return 2
    try:
        zoo.get_spec(model)
        weights_path = Path(weights)
        if weights_path.suffix and weights_path.is_file():
            loaded = load_model(model, "upload", checkpoint=weights_path.read_bytes())
        else:
            loaded = load_model(model, weights)
    except (WeightsError, KeyError) as exc:
        print(f"error: {exc}", file=err)
        return 2

    files = image_files(path)
    try:
        labels = read_labels(path) if path.is_dir() else {}
    except (ValueError, KeyError) as exc:
        print(f"error: {exc}", file=err)
        return 2
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)

    results, errors = [], []
    top1 = top5 = labelled = 0
    if not as_json:
        print(f"# {model}, weights: {loaded.label}", file=out)
    # Decoded in a DataLoader, classified a batch per forward pass, reported in file order.
    for item in classify_files(loaded, files, topk=max(topk, 5), device=device,
                               batch_size=batch_size or BATCH_SIZE, workers=workers):
        file, pred, x = item.file, item.prediction, item.x
        if item.error is not None:
            errors.append({"file": file.name, "error": item.error})
            if not as_json:
                print(f"{file.name}: ERROR {item.error}", file=out)
            continue
        record = {"file": file.name, **pred.as_dict()}
        record["top"] = record["top"][:topk]
        if file.name in labels:
            truth = labels[file.name]
            labelled += 1
            top1 += pred.indices[0] == truth
            top5 += truth in pred.indices[:5]
            record["label"] = truth
        if explain:
            record["explain"] = _explain(loaded, x, explain, out_dir, device, file, err)
        results.append(record)
        if not as_json:
            shown = ", ".join(f"{t['name']} {t['probability']:.1%}" for t in record["top"])
            mark = ""
            if "label" in record:
                mark = "  ✓" if pred.indices[0] == record["label"] else \
                    f"  ✗ (label: {loaded.categories[record['label']]})"
            print(f"{file.name}: {shown}  [{pred.latency_ms:.0f} ms, {pred.device}]{mark}", file=out)

    summary = {"model": model, "weights": loaded.source, "label": loaded.label,
               "images": len(results), "errors": len(errors)}
    if labelled:
        summary.update(labelled=labelled, top1=top1 / labelled, top5=top5 / labelled)
    if as_json:
        json.dump({"summary": summary, "results": results, "errors": errors}, out, indent=1)
        out.write("\n")
    else:
        line = f"# {len(results)} images classified, {len(errors)} unreadable"
        if labelled:
            line += (f"; top-1 {summary['top1']:.1%}, top-5 {summary['top5']:.1%} "
                     f"on {labelled} labelled images")
        print(line, file=out)
    return 0 if results else 1


def _explain(loaded, x, method: str, out_dir: Path, device, path: Path, err) -> dict:
    import numpy as np

    from explorer.attribution import AttributionError, explain, overlay
    from explorer.inference import tensor_to_image

    try:
        result = explain(loaded, x, method, device=device)
    except AttributionError as exc:
        print(f"{path.name}: cannot explain: {exc}", file=err)
        return {"error": str(exc)}
    stem = f"{path.stem}_{method}"
    png, npy = out_dir / f"{stem}.png", out_dir / f"{stem}.npy"
    overlay(tensor_to_image(x, loaded.preprocess), result.map, 0.5).save(png)
    np.save(npy, result.raw)
    return {"method": result.method, "target": result.target, "seconds": result.seconds,
            "png": str(png), "npy": str(npy)}
