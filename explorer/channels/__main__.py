"""Command line for the Channels page's core: top images over a folder, feature visualisation.

    python -m explorer.channels top --model M --layer L [--channel C] --images DIR [--k 9] [--json]
    python -m explorer.channels visualize --model M --layer L --channel C [--steps N] [--size S]
        --out FILE.png [--json]
    python -m explorer.channels layers --model M
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from explorer.channels import featurevis as vis, fields, top


def _load(name: str, source: str):
    from explorer.weights import WeightsError, load_model

    try:
        return load_model(name, source)
    except WeightsError as exc:
        sys.exit(f"error: {exc}")


def _check_layer(loaded, layer: str) -> None:
    layers = [r.path for r in fields.channel_layers(loaded.name)]
    if layer not in layers:
        sys.exit(f"error: {loaded.name} has no layer {layer!r} with a feature map; "
                 f"`python -m explorer.channels layers --model {loaded.name}` lists them "
                 f"(e.g. {', '.join(layers[:4])}, …)")


def _cmd_layers(args) -> int:
    for r in fields.channel_layers(args.model):
        print(f"{r.path:<40} {r.type:<20} {r.channels:>5} × {r.hw[0]}×{r.hw[1]}  "
              f"RF {r.receptive_field}")
    return 0


def _cmd_top(args) -> int:
    loaded = _load(args.model, args.weights)
    _check_layer(loaded, args.layer)
    try:
        images = top.ImageSet.from_folder(args.images)
    except FileNotFoundError as exc:
        sys.exit(f"error: {exc}")
    t0 = time.perf_counter()

    def progress(done, total):
        if not args.json:
            print(f"\r{done}/{total} images", end="", file=sys.stderr, flush=True)

    result, cached = top.cached_layer_top(
        loaded, args.layer, images, root=args.cache, progress=progress, batch=args.batch,
        workers=args.workers)
    if not args.json:
        print(file=sys.stderr)
    if args.channel is not None and not 0 <= args.channel < result.channels:
        sys.exit(f"error: {args.layer} has {result.channels} channels (0–{result.channels - 1})")
    channels = [args.channel] if args.channel is not None else list(range(result.channels))
    out = {"model": loaded.name, "weights": loaded.source, "layer": args.layer,
           "images": str(args.images), "count": len(images), "failed": result.failed,
           "cached": cached, "seconds": round(time.perf_counter() - t0, 3),
           "feature_map": list(result.hw), "input": list(result.input_hw), "channels": {}}
    name = loaded.name
    size = (len(loaded.preprocess.mean), *result.input_hw)
    row = fields.layer_row(name, args.layer, size)
    for c in channels:
        def entry(e):
            return {"image": e.name, "value": round(e.value, 5), "pos": list(e.pos),
                    "box": list(fields.rf_box(row, e.pos, result.input_hw))}

        out["channels"][str(c)] = {"top": [entry(e) for e in result.ranked(c, args.k)],
                                   "bottom": [entry(e) for e in result.ranked(c, args.k, True)]}
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    if loaded.is_random:
        print("note: random weights — these rankings show an untrained network")
    print(f"{name} {args.layer}: {len(images)} images, feature map {result.hw[0]}×{result.hw[1]}"
          f"{' (from the cache)' if cached else ''}")
    for c in channels:
        print(f"channel {c}:")
        for e in out["channels"][str(c)]["top"]:
            print(f"  {e['value']:>10.4f}  {e['image']}  at {tuple(e['pos'])}  "
                  f"box {tuple(e['box'])}")
    return 0


def _cmd_visualize(args) -> int:
    loaded = _load(args.model, args.weights)
    objective = args.objective
    if objective != "class":
        _check_layer(loaded, args.layer)
    settings = vis.settings_for(loaded.name, steps=args.steps, size=args.size, lr=args.lr)

    def progress(step, steps, image):
        if not args.json and (step % 16 == 0 or step == steps):
            print(f"\rstep {step}/{steps}", end="", file=sys.stderr, flush=True)

    try:
        result = vis.visualize(loaded, args.layer, args.channel, objective=objective,
                               settings=settings, seed=args.seed, device=args.device,
                               progress=progress)
    except (KeyError, IndexError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    if not args.json:
        print(file=sys.stderr)
    from PIL import Image

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(result.image).save(args.out)
    info = {**result.to_dict(), "out": str(args.out), "weights": loaded.source}
    info["history"] = [round(v, 5) for v in result.history]
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        what = "class logit" if objective == "class" else f"{objective} of {args.layer}"
        print(f"{loaded.name} {what} {args.channel}: {result.final:.4f} on the visualisation, "
              f"{result.grey:.4f} on a grey image ({result.seconds:.1f} s, {result.device}) "
              f"-> {args.out}")
        if loaded.is_random:
            print("note: random weights — the picture shows an untrained network")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m explorer.channels", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def common(q):
        q.add_argument("--model", required=True)
        q.add_argument("--weights", default="auto",
                       help="weights source: auto, package, trained, torchvision, random")

    q = sub.add_parser("layers", help="list the layers with channels")
    q.add_argument("--model", required=True)
    q.set_defaults(fn=_cmd_layers)

    q = sub.add_parser("top", help="top (and bottom) images of a layer's channels")
    common(q)
    q.add_argument("--layer", required=True)
    q.add_argument("--channel", type=int)
    q.add_argument("--images", required=True, type=Path, help="folder of images")
    q.add_argument("--k", type=int, default=9)
    q.add_argument("--batch", type=int, default=32)
    q.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    q.add_argument("--cache", type=Path, help="cache folder (default: $CNN_EXPLORER_CACHE/channels "
                                              "or ~/.cache/cnn-explorer/channels)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(fn=_cmd_top)

    q = sub.add_parser("visualize", help="feature visualisation of a channel, unit or class")
    common(q)
    q.add_argument("--layer", default=vis.LOGITS, help=f"layer path ({vis.LOGITS} for a class)")
    q.add_argument("--channel", type=int, required=True, help="channel (or class) index")
    q.add_argument("--objective", choices=vis.OBJECTIVES, default=None,
                   help="channel mean (default), neuron (centre unit) or class logit")
    q.add_argument("--steps", type=int)
    q.add_argument("--size", type=int)
    q.add_argument("--lr", type=float)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--device")
    q.add_argument("--out", required=True, type=Path)
    q.add_argument("--json", action="store_true")
    q.set_defaults(fn=_cmd_visualize)

    args = p.parse_args(argv)
    if args.command == "visualize" and args.objective is None:
        args.objective = "class" if args.layer == vis.LOGITS else "channel"
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
