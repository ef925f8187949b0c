"""Are the Channels page's visualisations clean and strong? Eight EfficientNet-Lite0 channels
against the 600 photos of the ImageNet pool, measured in the same run.

    .venv/bin/python bench/channels_quality.py                   # ~15–25 min on a busy CPU
    .venv/bin/python bench/channels_quality.py --steps 64 --channels features.1:15
    .venv/bin/python bench/channels_quality.py --set blur=0.6 --set decay=1.2   # try settings

For each channel (features.1 ch 15, features.2 ch 5, features.3 ch 4 and 20, features.4 ch 23,
features.5 ch 3, features.6 ch 7, features.7 ch 296) the visualisation made with the page's
default settings (``settings_for``) is compared with the pool, each photo as the network sees it
(resized, centre-cropped to 224×224):

- **grain**: the share of spectral power at periods under 4 px (``featurevis.spectral_share``:
  mean removed, Hann window, colours summed), against the distribution over the 600 photos.
  Goal: below their 95th percentile.
- **peak** (the channel's largest unit, what top images are ranked by) and **mean** (the
  channel's mean over the map, what the classic objective maximises), against the best photo
  of the pool for each. Goal: above on both, for every channel.

The pool's numbers are cached in ``--out`` (``pool_*.npz``, default a folder in the system's
temporary directory) for reruns; the visualisations are written there as PNGs, and the table as
``quality.json``. One thread by default: the machine is shared.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from explorer import channels as ch  # noqa: E402
from explorer.channels import featurevis as vis  # noqa: E402
from explorer.data import data_root  # noqa: E402
from explorer.inference.shared import capture  # noqa: E402
from explorer.weights import load_model  # noqa: E402

CHANNELS = [("features.1", 15), ("features.2", 5), ("features.3", 4), ("features.3", 20),
            ("features.4", 23), ("features.5", 3), ("features.6", 7), ("features.7", 296)]


def pool_stats(lite, targets, out: Path, batch: int = 25) -> dict:
    """Per photo: the grain of its network view, and every target layer's channel peaks and
    means (cached per layer in ``out``)."""
    layers = sorted({layer for layer, _c in targets}, key=lambda p: int(p.split(".")[1]))
    stats: dict[str, np.ndarray] = {}
    for name in ["grain"] + layers:
        path = out / f"pool_{name}.npz"
        if path.exists():
            with np.load(path) as z:
                stats.update({k: z[k] for k in z.files})
    missing = [layer for layer in layers if f"peak:{layer}" not in stats]
    if not missing and "grain" in stats:
        return stats
    pool = ch.ImageSet.from_folder(data_root("imagenet-pool"))
    loader = torch.utils.data.DataLoader(ch.top._Dataset(pool, lite.preprocess),
                                         batch_size=batch, num_workers=0)
    peaks = {layer: [] for layer in missing}
    means = {layer: [] for layer in missing}
    grain = []
    mean_t = torch.tensor(lite.preprocess.mean).view(1, -1, 1, 1)
    std_t = torch.tensor(lite.preprocess.std).view(1, -1, 1, 1)
    done = 0
    for x, ok in loader:
        assert ok.all()
        if "grain" not in stats:
            views = ((x * std_t + mean_t).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1)
            grain += [vis.spectral_share(v.numpy()) for v in views]
        if missing:
            maps = capture(lite.model, missing, x)
            for layer in missing:
                m = maps[layer].float()
                peaks[layer].append(m.flatten(2).amax(2).numpy())
                means[layer].append(m.mean((2, 3)).numpy())
        done += len(x)
        print(f"\rpool {done}/{len(pool)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if "grain" not in stats:
        stats["grain"] = np.array(grain)
        np.savez(out / "pool_grain.npz", grain=stats["grain"])
    for layer in missing:
        new = {f"peak:{layer}": np.concatenate(peaks[layer]),
               f"mean:{layer}": np.concatenate(means[layer])}
        np.savez(out / f"pool_{layer}.npz", **new)
        stats.update(new)
    return stats


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, help="override the preset's steps")
    p.add_argument("--preset", help="a featurevis.FAMILY_SETTINGS name (default: Lite0's)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override one VisSettings field (a Python literal)")
    p.add_argument("--channels", help="layer:channel,... (default: the eight of issue 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path,
                   default=Path(tempfile.gettempdir()) / "cnn-explorer-channels-quality",
                   help="where the pool's numbers, the PNGs and quality.json go")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    targets = CHANNELS
    if args.channels:
        targets = [(t.split(":")[0], int(t.split(":")[1])) for t in args.channels.split(",")]
    lite = load_model("efficientnet_lite0")
    settings = vis.settings_for(lite.name, preset=args.preset, steps=args.steps)
    import ast

    for item in args.set:
        field, value = item.split("=", 1)
        settings = replace(settings, **{field: ast.literal_eval(value)})
    print(f"settings: {settings}")
    t0 = time.perf_counter()
    stats = pool_stats(lite, targets, args.out)
    grain = stats["grain"]
    p95 = float(np.percentile(grain, 95))
    print(f"pool: {len(grain)} photos, grain median {np.median(grain):.2%}, 95th percentile "
          f"{p95:.2%} ({time.perf_counter() - t0:.0f} s)")
    rows = []
    header = (f"{'channel':<16} {'grain':>7} {'pctile':>7} {'peak':>8} {'best':>8} "
              f"{'mean':>8} {'best':>8} {'s':>5}  verdict")
    print(header)
    for layer, c in targets:
        r = ch.visualize(lite, layer, c, settings=settings, seed=args.seed)
        g = vis.spectral_share(r.image)
        pct = float((grain < g).mean() * 100)
        best_peak = float(stats[f"peak:{layer}"][:, c].max())
        best_mean = float(stats[f"mean:{layer}"][:, c].max())
        ok = g < p95 and r.peak > best_peak and r.final > best_mean
        Image.fromarray(r.image).save(args.out / f"{layer}_{c}.png")
        row = {"layer": layer, "channel": c, "grain": g, "grain_percentile": pct,
               "peak": r.peak, "best_photo_peak": best_peak, "mean": r.final,
               "best_photo_mean": best_mean, "seconds": r.seconds, "ok": bool(ok)}
        rows.append(row)
        print(f"{layer + ' ch ' + str(c):<16} {g:>7.2%} {pct:>6.1f}% {r.peak:>8.3f} "
              f"{best_peak:>8.3f} {r.final:>8.3f} {best_mean:>8.3f} {r.seconds:>5.0f}  "
              f"{'ok' if ok else 'MISSED: ' + ', '.join(w for w, bad in (('grain', g >= p95), ('peak', r.peak <= best_peak), ('mean', r.final <= best_mean)) if bad)}",
              flush=True)
    (args.out / "quality.json").write_text(json.dumps(
        {"settings": repr(settings), "pool_grain_median": float(np.median(grain)),
         "pool_grain_p95": p95, "rows": rows}, indent=1))
    print(f"{sum(r['ok'] for r in rows)}/{len(rows)} channels meet all three goals; "
          f"{time.perf_counter() - t0:.0f} s in all -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
