"""What the Channels page's work costs, as ratios to baselines measured in the same run.

    .venv/bin/python bench/channels.py                      # CPU here, CUDA where there is one
    .venv/bin/python bench/channels.py --device cuda --images 600

1. Feature visualisation with the default settings (EfficientNet-Lite0: 256 steps at 224;
   LeNet-5: 128 steps at 32) against ``steps ×`` one forward+backward of the same network on
   an input of the same size, measured here: (a) the network up to the target layer, the work
   one step must do; (b) the whole network. Goal: ratio (a) ≤ 1.3.
2. Top images of a whole layer over the ImageNet pool (600 photos): one pass with every
   channel's maximum and position recorded, against the bare forward passes over the same
   images (same DataLoader, batch and workers: decoding is in both). Goal ≤ 1.2.
3. Switching channels once a layer is cached: reading the layer's result from the disk cache,
   ranking the top and bottom 9, and (cold) cropping their 18 receptive fields from the images.
   Goal: under 0.2 s.
4. A layer's atlas (``--atlas``; EfficientNet-Lite0 features.3, 40 channels): ``build_atlas``
   against its essential work measured in the same run, one batched pass over the images plus
   40 visualisations (each alone, as the page makes one); goal ≤ 1.2. Also against the pass plus
   the 40 visualisations in the atlas's own batches (what the maps, views and files add). Then
   the page's channel switch inside the atlas: read the channel, draw its top images with their
   maps and encode them as the page sends them; goal < 0.2 s.

On a CPU shared with other work, wall times drift by 3× within a run; ``--cpu-time --threads 1
--workers 0`` measures this process's CPU time instead.

Absolute times are printed too. EfficientNet-Lite0 uses its packaged ImageNet weights; speed
does not depend on them.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from explorer import channels as ch  # noqa: E402
from explorer.channels import atlas as atlases  # noqa: E402
from explorer.channels.fields import borrowed_copy, tap  # noqa: E402
from explorer.inference import model_on, pick_device  # noqa: E402
from explorer.weights import load_model  # noqa: E402

try:
    from explorer.data import data_root
except ImportError:  # pragma: no cover
    def data_root(kind):
        return ROOT.parent / "shared" / "data" / kind


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


CLOCK = time.perf_counter  # main() switches to this process's CPU time with --cpu-time


def now(device) -> float:
    sync(device)
    return CLOCK()


def fwd_bwd(loaded, layer, size, steps, device) -> tuple[float, float]:
    """Seconds for ``steps`` forward+backward passes: up to ``layer``, and the whole network,
    on an input of the size the visualisation feeds it (padded and jittered, unless the
    network's size is fixed)."""
    net = model_on(loaded.model, device)
    spec = loaded.spec
    s = ch.settings_for(loaded.name)
    side = size if spec.min_size is None else size + 2 * s.pad - s.jitter - s.jitter2
    x0 = torch.rand(1, spec.input_size[0], side, side, device=device)
    times = []
    with borrowed_copy(net) as clone, torch.enable_grad():
        for target in (layer, None):
            def one():
                x = x0.clone().requires_grad_(True)
                if target is None or target == ch.LOGITS:
                    out = clone(x)
                    out = out[0, 0] if out.dim() == 2 else out.mean()
                else:
                    with tap(clone, target) as run:
                        out = run(x)[0, 0].mean()
                out.backward()

            for _ in range(3):
                one()
            t0 = now(device)
            for _ in range(steps):
                one()
            times.append(now(device) - t0)
    return times[0], times[1]


def bench_vis(name, source, layer, target, objective, device):
    loaded = load_model(name, source)
    s = ch.settings_for(name)
    size = s.size or loaded.spec.input_size[1]
    ch.visualize(loaded, layer, target, objective=objective,
                 settings=ch.settings_for(name, steps=4), device=device)  # warm-up
    # Baselines before and after, averaged: on a shared machine the load drifts.
    before = fwd_bwd(loaded, layer, size, s.steps, device)
    t0 = now(device)
    result = ch.visualize(loaded, layer, target, objective=objective, settings=s, device=device)
    total = now(device) - t0
    after = fwd_bwd(loaded, layer, size, s.steps, device)
    to_layer, whole = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
    print(f"{name} ({loaded.source}) {objective} {layer} {target}: {s.steps} steps at {size}: "
          f"{total:.2f} s; steps × fwd+bwd to the layer {to_layer:.2f} s (before {before[0]:.2f}, "
          f"after {after[0]:.2f}), whole network {whole:.2f} s -> ratio {total / to_layer:.2f} "
          f"(goal ≤ 1.3), {total / whole:.2f} vs the whole network; final {result.final:.3f} "
          f"vs grey {result.grey:.3f}")


def bench_top(loaded, layer, folder, n, device, batch, workers):
    images = ch.ImageSet.from_folder(folder, limit=n)
    net = model_on(loaded.model, device)
    loader = torch.utils.data.DataLoader(ch.top._Dataset(images, loaded.preprocess),
                                         batch_size=batch, num_workers=workers)
    # Bare forward passes over the same images (warm the model first).
    with torch.inference_mode():
        net(torch.rand(batch, 3, 224, 224, device=device))
    t0 = now(device)
    with torch.inference_mode():
        for x, _ok in loader:
            net(x.to(device))
    bare = now(device) - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = now(device)
        result, cached = ch.cached_layer_top(loaded, layer, images, root=Path(tmp), batch=batch,
                                             workers=workers, device=device)
        top = now(device) - t0
        assert not cached
        print(f"top images {loaded.name} {layer} ({result.channels} channels) over {len(images)} "
              f"images: {top:.2f} s; bare forward passes {bare:.2f} s -> ratio {top / bare:.2f} "
              f"(goal ≤ 1.2); batch {batch}, {workers} workers")
        lookups, crops = [], []
        for c in range(0, result.channels, max(1, result.channels // 10))[:10]:
            t0 = now(device)
            again, hit = ch.cached_layer_top(loaded, layer, images, root=Path(tmp))
            examples = again.ranked(c, 9) + again.ranked(c, 9, least=True)
            lookups.append(now(device) - t0)
            assert hit
            t0 = now(device)
            for e in examples:
                ch.crop_example(loaded.name, layer, images.load(e.index), loaded.preprocess, e.pos)
            crops.append(now(device) - t0)
        look, crop = sum(lookups) / len(lookups), sum(crops) / len(crops)
        print(f"switching channels (cached layer): {look * 1000:.1f} ms to read and rank, "
              f"{crop * 1000:.0f} ms to crop 18 images cold -> {look + crop:.3f} s per switch "
              f"(goal < 0.2 s; the page also caches the images it has shown)")


def bench_atlas(lite, layer, folder, n, steps, device, batch, chunk):
    import io
    from dataclasses import replace

    images = ch.ImageSet.from_folder(folder, limit=n)
    vis = replace(ch.settings_for(lite.name), steps=steps)
    channels = list(range(40))
    with tempfile.TemporaryDirectory() as tmp:
        # Baseline: the essential work, each part as the page would run it alone.
        t0 = now(device)
        ch.layer_top(lite.model, lite.preprocess, layer, images, batch=batch, device=device)
        t_pass = now(device) - t0
        t0 = now(device)
        for c in channels:
            ch.visualize(lite, layer, c, settings=vis, device=device)
        t_single = now(device) - t0
        batched = chunk or (16 if device.type == "cuda" else 1)
        t_batched = t_single
        if batched > 1:
            t0 = now(device)
            for start in range(0, len(channels), batched):
                ch.visualize_many(lite, layer, channels[start:start + batched], settings=vis,
                                  device=device, preview_every=0)
            t_batched = now(device) - t0
        t0 = now(device)
        built = ch.build_atlas(lite, layer, images, root=Path(tmp) / "atlas",
                               settings=ch.AtlasSettings(vis=vis), device=device, batch=batch,
                               chunk=chunk)
        t_atlas = now(device) - t0
        assert built.channels == channels
        base = t_pass + t_single
        print(f"atlas {lite.name} {layer} (40 channels, {len(images)} images, {steps} steps): "
              f"{t_atlas:.1f} s; pass {t_pass:.1f} s + 40 visualisations {t_single:.1f} s = "
              f"{base:.1f} s -> ratio {t_atlas / base:.2f} (goal ≤ 1.2); against the pass + the "
              f"40 in batches of {batched} ({t_batched:.1f} s): "
              f"{t_atlas / (t_pass + t_batched):.2f}")
        # The page's channel switch inside the atlas (cold: a fresh Atlas object each time).
        times = []
        for c in range(0, 40, 4):
            t0 = time.perf_counter()
            a = atlases.open_atlas(built.path)
            tiles = atlases.channel_tiles(a, c, k=9)
            for tile, _p, _name in tiles:
                tile.save(io.BytesIO(), format="JPEG", quality=88)
            a.channel(c).vis.tobytes()
            times.append(time.perf_counter() - t0)
        print(f"channel switch inside the atlas: {1000 * sum(times) / len(times):.0f} ms mean, "
              f"{1000 * max(times):.0f} ms worst, 9 top images with their maps "
              f"(goal < 0.2 s)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device")
    p.add_argument("--images", type=int, default=600)
    p.add_argument("--layer", default="features.5")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, help="torch.set_num_threads (CPU)")
    p.add_argument("--skip-vis", action="store_true")
    p.add_argument("--skip-top", action="store_true")
    p.add_argument("--atlas", action="store_true", help="the atlas measurements (4.)")
    p.add_argument("--atlas-only", action="store_true")
    p.add_argument("--atlas-images", type=int, default=200)
    p.add_argument("--atlas-steps", type=int, default=32, help="per visualisation (CPU: few)")
    p.add_argument("--chunk", type=int, help="channels per visualisation batch (default: the "
                                               "atlas's own, 16 on CUDA, 1 on a CPU)")
    p.add_argument("--cpu-time", action="store_true",
                   help="time with this process's CPU time (a busy shared CPU; use --threads 1 "
                        "--workers 0, since worker processes' time is not counted)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.cpu_time:
        global CLOCK
        CLOCK = time.process_time
    device = pick_device(args.device)
    print(f"device: {device}; clock: {'process CPU time' if args.cpu_time else 'wall'}" + (f" ({torch.cuda.get_device_name(device)})"
                                 if device.type == "cuda" else
                                 f" ({torch.get_num_threads()} threads)"))
    lite = load_model("efficientnet_lite0")
    if args.atlas or args.atlas_only:
        bench_atlas(lite, "features.3", data_root("imagenet-pool"), args.atlas_images,
                    args.atlas_steps, device, args.batch, args.chunk)
    if args.atlas_only:
        return 0
    if not args.skip_vis:
        bench_vis("efficientnet_lite0", "auto", args.layer, 0, "channel", device)
        bench_vis("lenet5", "trained", ch.LOGITS, 3, "class", device)
    if not args.skip_top:
        bench_top(lite, args.layer, data_root("imagenet-pool"), args.images, device,
                  args.batch, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
