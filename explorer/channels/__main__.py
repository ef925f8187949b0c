"""Command line for the Channels page's core: top images over a folder, feature visualisation,
a layer's atlas.

    python -m explorer.channels top --model M --layer L [--channel C] --images DIR [--k 9] [--json]
        [--interior]
    python -m explorer.channels visualize --model M --layer L --channel C [--steps N] [--size S]
        [--peak W] [--negative] [--n N] --out FILE.png [--json]
    python -m explorer.channels atlas --model M --layer L --images DIR [--out DIR]
        [--channels 0-39] [--steps N] [--k 8] [--json]
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


def _model_and_images(args):
    """``--model``/``--weights`` loaded with ``--layer`` checked, and the ``--images`` folder."""
    loaded = _load(args.model, args.weights)
    _check_layer(loaded, args.layer)
    try:
        return loaded, top.ImageSet.from_folder(args.images)
    except FileNotFoundError as exc:
        sys.exit(f"error: {exc}")


def _cmd_layers(args) -> int:
    for r in fields.channel_layers(args.model):
        print(f"{r.path:<40} {r.type:<20} {r.channels:>5} × {r.hw[0]}×{r.hw[1]}  "
              f"RF {r.receptive_field}")
    return 0


def _cmd_top(args) -> int:
    loaded, images = _model_and_images(args)
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
    interior = bool(args.interior and result.has_interior)
    share, chance = result.border_share()
    out = {"model": loaded.name, "weights": loaded.source, "layer": args.layer,
           "images": str(args.images), "count": len(images), "failed": result.failed,
           "cached": cached, "seconds": round(time.perf_counter() - t0, 3),
           "feature_map": list(result.hw), "input": list(result.input_hw),
           "interior": interior, "border_share": round(share, 4),
           "border_chance": round(chance, 4), "channels": {}}
    name = loaded.name
    size = (len(loaded.preprocess.mean), *result.input_hw)
    row = fields.layer_row(name, args.layer, size)
    for c in channels:
        def entry(e):
            return {"image": e.name, "value": round(e.value, 5), "pos": list(e.pos),
                    "box": list(fields.rf_box(row, e.pos, result.input_hw))}

        ties = result.ties(c, args.k, interior=interior)
        out["channels"][str(c)] = {
            "top": [entry(e) for e in result.ranked(c, args.k, interior=interior)],
            "bottom": [entry(e) for e in result.ranked(c, args.k, True, interior=interior)],
            "border_share": round(result.border_share(c)[0], 4),
            "ties": None if ties is None else {"count": ties.count, "value": ties.value}}
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    if loaded.is_random:
        print("note: random weights — these rankings show an untrained network")
    print(f"{name} {args.layer}: {len(images)} images, feature map {result.hw[0]}×{result.hw[1]}"
          f"{' (from the cache)' if cached else ''}; maxima on the border: {share:.0%} "
          f"(border units: {chance:.0%} of the map)" + (", ranked by interior units" if interior
                                                        else ""))
    for c in channels:
        ties = out["channels"][str(c)]["ties"]
        print(f"channel {c}:" + (f" {ties['count']} images reach {ties['value']:.4g}: these "
                                 f"are a sample" if ties else ""))
        for e in out["channels"][str(c)]["top"]:
            print(f"  {e['value']:>10.4f}  {e['image']}  at {tuple(e['pos'])}  "
                  f"box {tuple(e['box'])}")
    return 0


def _cmd_visualize(args) -> int:
    loaded = _load(args.model, args.weights)
    objective = args.objective
    if objective != "class":
        _check_layer(loaded, args.layer)
    settings = vis.settings_for(loaded.name, preset=args.preset, steps=args.steps,
                                size=args.size, lr=args.lr, peak=args.peak, n=args.n,
                                negative=args.negative or None)

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
    pictures = [Image.fromarray(a) for a in (result.images or [result.image])]
    sheet = Image.new(pictures[0].mode, (sum(p.width for p in pictures), pictures[0].height))
    for n, picture in enumerate(pictures):
        sheet.paste(picture, (n * picture.width, 0))
    sheet.save(args.out)
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


def _channel_list(text: str | None, total: int) -> list[int] | None:
    if not text:
        return None
    out = []
    for part in text.split(","):
        lo, _sep, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    bad = [c for c in out if not 0 <= c < total]
    if bad:
        sys.exit(f"error: channel {bad[0]} is not in 0–{total - 1}")
    return out


def _cmd_atlas(args) -> int:
    from explorer.channels import atlas

    loaded, images = _model_and_images(args)
    total = next(r.channels for r in fields.channel_layers(loaded.name) if r.path == args.layer)
    settings = atlas.AtlasSettings(
        k=args.k, seed=args.seed,
        vis=vis.settings_for(loaded.name, preset=args.preset, steps=args.steps, size=args.size))
    last = [0.0]

    def progress(done, total_, stage):
        now = time.perf_counter()
        if not args.json and (now - last[0] > 0.5 or done >= total_):
            last[0] = now
            print(f"\r{stage}: {done:.0f}/{total_:.0f}   ", end="", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    result = atlas.build_atlas(loaded, args.layer, images, root=args.out, settings=settings,
                               channels=_channel_list(args.channels, total), progress=progress,
                               device=args.device, chunk=args.chunk)
    if not args.json:
        print(file=sys.stderr)
    info = {"path": str(result.path), "model": loaded.name, "weights": loaded.source,
            "layer": args.layer, "channels": result.channels, "images": len(images),
            "seconds": round(time.perf_counter() - t0, 2), "top": {}}
    for c in result.channels:
        entry = result.channel(c)
        info["top"][str(c)] = [{"image": n, "value": round(p.value, 5), "box": list(p.box),
                                "kind": p.kind} for n, p in zip(entry.names, entry.placed)]
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        print(f"{loaded.name} {args.layer}: {len(result.channels)} of {result.total} channels "
              f"over {len(images)} images in {info['seconds']:.0f} s -> {result.path}")
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
    q.add_argument("--interior", action="store_true",
                   help="rank by the units off the map's outermost ring (no padding effects)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(fn=_cmd_top)

    q = sub.add_parser("visualize", help="feature visualisation of a channel, unit or class")
    common(q)
    q.add_argument("--layer", default=vis.LOGITS, help=f"layer path ({vis.LOGITS} for a class)")
    q.add_argument("--channel", type=int, required=True, help="channel (or class) index")
    q.add_argument("--objective", choices=vis.OBJECTIVES, default=None,
                   help="channel mean (default), neuron (centre unit) or class logit")
    q.add_argument("--preset", choices=list(vis.FAMILY_SETTINGS),
                   help="settings preset (default: the model's family)")
    q.add_argument("--steps", type=int)
    q.add_argument("--size", type=int)
    q.add_argument("--lr", type=float)
    q.add_argument("--peak", type=float, help="weight of the channel's peak in the objective")
    q.add_argument("--negative", action="store_true", help="drive the target down instead")
    q.add_argument("--n", type=int, help="several images with diversity (PNG: side by side)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--device")
    q.add_argument("--out", required=True, type=Path)
    q.add_argument("--json", action="store_true")
    q.set_defaults(fn=_cmd_visualize)

    q = sub.add_parser("atlas", help="a layer's grid: every channel's visualisation beside "
                                     "its top images, written for the page to read")
    common(q)
    q.add_argument("--layer", required=True)
    q.add_argument("--images", required=True, type=Path, help="folder of images")
    q.add_argument("--out", type=Path, help="atlas folder (default: the page's own, "
                                            "$CNN_EXPLORER_CACHE/channels/atlas; give the page "
                                            "another one with CNN_EXPLORER_ATLAS=DIR)")
    q.add_argument("--channels", help="e.g. 0-39 or 3,7,15 (default: all)")
    q.add_argument("--k", type=int, default=8, help="top images kept per channel")
    q.add_argument("--preset", choices=list(vis.FAMILY_SETTINGS))
    q.add_argument("--steps", type=int)
    q.add_argument("--size", type=int)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--chunk", type=int, help="channels visualised per batch")
    q.add_argument("--device")
    q.add_argument("--json", action="store_true")
    q.set_defaults(fn=_cmd_atlas)

    args = p.parse_args(argv)
    if args.command == "visualize" and args.objective is None:
        args.objective = "class" if args.layer == vis.LOGITS else "channel"
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
