"""Classify images from the command line with exactly the Inference page's code path.

    python -m explorer.predict PATH --model NAME [--weights SOURCE] [--topk K] [--json]
                               [--explain METHOD --out DIR]

PATH is an image or a folder of images. A folder holding ``labels.csv`` (columns ``file`` and
``class_index``) also gets top-1 and top-5 accuracy over the labelled files. A file that cannot
be read is reported on its own line and the others go on. ``--weights`` takes a source from
``explorer.weights`` ("auto", "package", "trained", "torchvision", "random") or a path to a
checkpoint file (loaded like an upload: weights only, strict key check).

Exit status: 0 when at least one image was classified, 1 when none could be, 2 for a usage
error (unknown model, weights that cannot be loaded).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def _image_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _labels(folder: Path) -> dict[str, int]:
    path = folder / "labels.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"file", "class_index"} <= set(reader.fieldnames):
            raise ValueError(f"{path} needs the columns file and class_index")
        return {row["file"]: int(row["class_index"]) for row in reader}


def run(argv: list[str] | None = None, out=sys.stdout, err=sys.stderr) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer.predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="an image file or a folder of images")
    parser.add_argument("--model", required=True, help="a model name from the zoo")
    parser.add_argument("--weights", default="auto",
                        help="auto, package, trained, torchvision, random, or a checkpoint file")
    parser.add_argument("--topk", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--explain", metavar="METHOD", help="also save an attribution map "
                        "(saliency, integrated_gradients, smoothgrad, guided_backprop, gradcam, "
                        "guided_gradcam, occlusion)")
    parser.add_argument("--out", type=Path, help="folder for --explain's PNG overlays and .npy maps")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
    args = parser.parse_args(argv)

    from explorer import zoo
    from explorer.data.images import ImageLoadError, load_image
    from explorer.inference import predict
    from explorer.weights import WeightsError, load_model

    if args.explain:
        from explorer.attribution import METHODS
        if args.explain not in METHODS:
            print(f"error: unknown method {args.explain!r}; choose one of {', '.join(METHODS)}",
                  file=err)
            return 2
        if args.out is None:
            print("error: --explain needs --out DIR for the maps", file=err)
            return 2
    if not args.path.exists():
        print(f"error: {args.path} does not exist", file=err)
        return 2
    try:
        zoo.get_spec(args.model)
        weights_path = Path(args.weights)
        if weights_path.suffix and weights_path.is_file():
            loaded = load_model(args.model, "upload", checkpoint=weights_path.read_bytes())
        else:
            loaded = load_model(args.model, args.weights)
    except (WeightsError, KeyError) as exc:
        print(f"error: {exc}", file=err)
        return 2

    files = _image_files(args.path)
    try:
        labels = _labels(args.path) if args.path.is_dir() else {}
    except (ValueError, KeyError) as exc:
        print(f"error: {exc}", file=err)
        return 2
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)

    results, errors = [], []
    top1 = top5 = labelled = 0
    if not args.json:
        print(f"# {args.model}, weights: {loaded.label}", file=out)
    for path in files:
        try:
            image = load_image(path)
        except ImageLoadError as exc:
            errors.append({"file": path.name, "error": str(exc)})
            if not args.json:
                print(f"{path.name}: ERROR {exc}", file=out)
            continue
        x = loaded.preprocess(image)
        pred = predict(loaded, x, topk=max(args.topk, 5), device=args.device)
        record = {"file": path.name, **pred.as_dict()}
        record["top"] = record["top"][:args.topk]
        if path.name in labels:
            truth = labels[path.name]
            labelled += 1
            top1 += pred.indices[0] == truth
            top5 += truth in pred.indices[:5]
            record["label"] = truth
        if args.explain:
            record["explain"] = _explain(loaded, image, x, args, path, err)
        results.append(record)
        if not args.json:
            shown = ", ".join(f"{t['name']} {t['probability']:.1%}" for t in record["top"])
            mark = ""
            if "label" in record:
                mark = "  ✓" if pred.indices[0] == record["label"] else \
                    f"  ✗ (label: {loaded.categories[record['label']]})"
            print(f"{path.name}: {shown}  [{pred.latency_ms:.0f} ms, {pred.device}]{mark}", file=out)

    summary = {"model": args.model, "weights": loaded.source, "label": loaded.label,
               "images": len(results), "errors": len(errors)}
    if labelled:
        summary.update(labelled=labelled, top1=top1 / labelled, top5=top5 / labelled)
    if args.json:
        json.dump({"summary": summary, "results": results, "errors": errors}, out, indent=1)
        out.write("\n")
    else:
        line = f"# {len(results)} images classified, {len(errors)} unreadable"
        if labelled:
            line += (f"; top-1 {summary['top1']:.1%}, top-5 {summary['top5']:.1%} "
                     f"on {labelled} labelled images")
        print(line, file=out)
    return 0 if results else 1


def _explain(loaded, image, x, args, path: Path, err) -> dict:
    import numpy as np

    from explorer.attribution import AttributionError, explain, overlay
    from explorer.inference import tensor_to_image

    try:
        result = explain(loaded, x, args.explain, device=args.device)
    except AttributionError as exc:
        print(f"{path.name}: cannot explain: {exc}", file=err)
        return {"error": str(exc)}
    stem = f"{path.stem}_{args.explain}"
    png, npy = args.out / f"{stem}.png", args.out / f"{stem}.npy"
    overlay(tensor_to_image(x, loaded.preprocess), result.map, 0.5).save(png)
    np.save(npy, result.raw)
    return {"method": result.method, "target": result.target, "seconds": result.seconds,
            "png": str(png), "npy": str(npy)}


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
