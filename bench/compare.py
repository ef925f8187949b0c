"""What layer similarity (CKA) costs on top of the forward passes, and how its memory grows.

    .venv/bin/python bench/compare.py                       # resnet18 vs mobilenet_v2, CPU
    .venv/bin/python bench/compare.py --threads 1           # on a shared, busy CPU
    .venv/bin/python bench/compare.py --nets resnet50 mobilenet_v2 --device cuda

1. Time: CKA between every stage of two networks over ``--images`` ImageNet photos (minibatches
   of ``--batch``) against the same forward passes alone, measured in this run. Overhead =
   (CKA time - preprocessing - forwards) / forwards; the goal is <= 0.5. Preprocessing (JPEG
   decode, resize, crop) is timed separately: both runs do the same.
2. Memory: peak memory of the whole CKA computation as the number of images grows
   (``--sizes``), each size in a fresh process so one run's heap cannot hide another's. CPU:
   peak resident set size above the level after the models are loaded and warmed up, sampled
   every millisecond; CUDA: ``torch.cuda.max_memory_allocated`` above the level before. Goal:
   flat, not linear. For contrast it prints what keeping the captured activations for a
   full-batch CKA would take.

Weights are random (``zoo.build``, seeded): timing and memory do not depend on them.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from explorer.data import data_root  # noqa: E402
from explorer import zoo  # noqa: E402
from explorer.analysis import cka, features  # noqa: E402
from explorer.analysis import analyze  # noqa: E402
from explorer.inference import imagenet_preprocess, model_on  # noqa: E402
from explorer.inference.shared import capture  # noqa: E402

DATA = data_root("imagenet-samples")


def photos(n: int) -> list[Path]:
    paths = sorted(DATA.glob("*.JPEG"))
    if not paths:
        sys.exit(f"no ImageNet samples in {DATA}")
    return [paths[i % len(paths)] for i in range(n)]  # cycles when n > 100


def networks(names, device):
    torch.manual_seed(0)
    models = [model_on(zoo.build(n), device) for n in names]
    layers = [list(features.stage_layers(n).values()) for n in names]
    return models, layers


def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Samples the resident set size every millisecond in a background thread."""

    def __enter__(self):
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.001)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def time_it(args) -> None:
    device = args.device
    models, layers = networks(args.nets, device)
    prep = imagenet_preprocess(crop=args.crop, resize=round(args.crop * 256 / 224))
    images = cka.ImageViews(photos(args.images))
    chunks = [list(range(s, min(s + args.batch, len(images))))
              for s in range(0, len(images), args.batch)]
    warm = torch.cat([prep(images[i]) for i in chunks[0]]).to(device)
    with torch.inference_mode():
        for m in models:
            m(warm)
    sync(device)

    t_prep = t_fwd = t_cap = 0.0
    for chunk in chunks:
        t0 = time.perf_counter()
        x = torch.cat([prep(images[i]) for i in chunk]).to(device)
        sync(device)
        t1 = time.perf_counter()
        with torch.inference_mode():
            for m in models:
                m(x)
        sync(device)
        t2 = time.perf_counter()
        for m, ls in zip(models, layers):
            capture(m, ls, x, reduce=cka.spatial_pool)
        sync(device)
        t3 = time.perf_counter()
        t_prep, t_fwd, t_cap = t_prep + t1 - t0, t_fwd + t2 - t1, t_cap + t3 - t2

    t0 = time.perf_counter()
    acc = cka.cka_accumulate([(models[0], prep), (models[1], prep)], layers[0], layers[1],
                             images, args.batch)
    biased, debiased = acc.result(False), acc.result(True)
    sync(device)
    t_cka = time.perf_counter() - t0

    overhead = (t_cka - t_prep - t_fwd) / t_fwd
    print(f"== time: {' vs '.join(args.nets)}, {len(images)} images, minibatch {args.batch}, "
          f"crop {args.crop}, {device} ({torch.get_num_threads()} CPU threads)")
    print(f"preprocessing (decode, resize, crop)      {t_prep:8.2f} s")
    print(f"forward passes alone (full networks)      {t_fwd:8.2f} s   = 1.00")
    print(f"capture of all stages (to deepest, pool)  {t_cap:8.2f} s   = {t_cap / t_fwd:.2f}")
    print(f"CKA, both estimators, incl. preprocessing {t_cka:8.2f} s")
    print(f"CKA overhead over the forwards: (CKA - preprocessing - forwards) / forwards = "
          f"{overhead:+.2f}  (goal <= 0.50)")
    print(f"  of which accumulation + result: (CKA - preprocessing - capture) / forwards = "
          f"{(t_cka - t_prep - t_cap) / t_fwd:+.2f}")
    print(f"  CKA stage x stage (biased):\n{biased.round(2)}")


def worker(args) -> None:
    """One memory measurement in this process: prints JSON."""
    device = args.device
    models, layers = networks(args.nets, device)
    prep = imagenet_preprocess(crop=args.crop, resize=round(args.crop * 256 / 224))
    images = cka.ImageViews(photos(args.worker))
    warm = torch.cat([prep(images[i % len(images)]) for i in range(args.batch)]).to(device)
    for m, ls in zip(models, layers):  # warm up the allocator at the minibatch size
        capture(m, ls, warm, reduce=cka.spatial_pool)
    del warm
    sync(device)
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = rss_bytes()
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        acc = cka.cka_accumulate([(models[0], prep), (models[1], prep)], layers[0],
                                 layers[1], images, args.batch)
        acc.result(False)
        acc.result(True)
        sync(device)
        seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) if cuda else rss.peak
    print(json.dumps({"n": len(images), "peak": peak - base, "seconds": seconds}))


def memory(args) -> None:
    shapes = {}
    for n in args.nets:
        rows = {r.name: r for r in analyze(n, (3, args.crop, args.crop)).layers if r.call == 0}
        shapes[n] = [rows[p].output_shape[1:] for p in features.stage_layers(n).values()]
    per_image = sum(4 * c * h * w for n in args.nets for c, h, w in shapes[n])
    what = "GPU memory allocated" if torch.device(args.device).type == "cuda" else "resident memory"
    print(f"\n== memory: peak {what} during CKA above the warmed-up level, minibatch {args.batch}")
    print(f"{'images':>7} {'peak MB':>9} {'x first':>8} {'seconds':>8} "
          f"{'keep-all activations MB':>25}")
    first = None
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--worker", str(n), "--nets", *args.nets,
               "--batch", str(args.batch), "--crop", str(args.crop), "--device", args.device,
               "--threads", str(torch.get_num_threads())]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        first = first or r["peak"]
        print(f"{n:7d} {r['peak'] / 2**20:9.1f} {r['peak'] / first:8.2f} {r['seconds']:8.1f} "
              f"{n * per_image / 2**20:25.1f}")
    print(f"memory ratio {args.sizes[-1]} / {args.sizes[0]} images: {r['peak'] / first:.2f} "
          f"(linear would be {args.sizes[-1] / args.sizes[0]:.0f})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nets", nargs=2, default=["resnet18", "mobilenet_v2"])
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (on a shared, busy machine 1 avoids OpenMP spinning)")
    p.add_argument("--skip-time", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        worker(args)
        return
    if not args.skip_time:
        time_it(args)
    if not args.skip_memory:
        memory(args)


if __name__ == "__main__":
    main()
