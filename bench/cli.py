"""`python -m explorer.predict` on a busy CPU, against a bare process doing the same work, in one run.

    .venv/bin/python bench/cli.py [--runs 3] [--busy N] [--mnist 1000] [--mnist-model lenet5]
                                  [--photo-model efficientnet_lite0] [--skip mnist|photos]
                                  [--app CHECKOUT]

Two folders: ``--mnist`` digits of the MNIST test set written as PNG files into a temporary
folder (read through ``explorer.data.mnist``), and the 100 sample photos
(``data_root("imagenet-samples")``). For each, two fresh processes, alternately, ``--runs``
times, timed from start to exit:

- the CLI: ``python -m explorer.predict FOLDER --model M --json`` (output discarded), of this
  checkout or of ``--app`` (another checkout's, e.g. an older commit's, for "before");
- the yardstick: a bare ``python -c`` that loads the same model, decodes and preprocesses the
  same files in a loop (``load_image`` and the model's preprocess) and classifies them in
  batches of 64 under ``torch.inference_mode``: what the CLI has to do, with nothing else;
  twice, with torch's default threads and with one thread (on a CPU other work keeps busy, one
  is often faster). The ratio is against the faster of the two.

Beside both run ``--busy`` CPU-bound processes (default: one per core), busy loops started
before the first measurement and stopped at the end (each also stops by itself after
``--busy-limit`` seconds, should this script die). Goal: the CLI ≤ 1.5× the bare process.
Both are fresh processes, so both pay for Python, torch's import and the model's load, and both
import ``explorer`` first, which sets the OpenMP wait policy (``explorer.OMP_WAIT_POLICY``).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BUSY = "import time\nend = time.time() + {limit}\nwhile time.time() < end:\n    pass\n"
BARE = r'''
import sys
from pathlib import Path
import explorer  # noqa: F401  (the OpenMP wait policy, as every entry point)
import torch
from explorer.data.images import ImageLoadError, image_files, load_image
from explorer.weights import load_model

if int(sys.argv[3]):
    torch.set_num_threads(int(sys.argv[3]))
loaded = load_model(sys.argv[2])
xs = []
for f in image_files(Path(sys.argv[1])):
    try:
        xs.append(loaded.preprocess(load_image(f)))
    except ImageLoadError:
        pass
top = []
with torch.inference_mode():
    for i in range(0, len(xs), 64):
        top.append(loaded.model(torch.cat(xs[i:i + 64])).softmax(-1).topk(5).indices)
print(len(torch.cat(top)))
'''


def write_mnist(folder: Path, n: int) -> Path:
    """The first ``n`` MNIST test digits as PNG files (grey, 28×28, as MNIST has them)."""
    from PIL import Image

    from explorer.data.mnist import load_mnist, mnist_root

    root, missing = mnist_root()
    if missing:
        sys.exit(f"MNIST is not on this machine (looked for {root}); see explorer/data.")
    digits, _labels = load_mnist(root, train=False)
    for i, digit in enumerate(digits[:n].numpy()):
        Image.fromarray(digit).save(folder / f"{i:05d}.png")
    return folder


def timed(cmd: list[str], cwd: Path = ROOT) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} … failed:\n{proc.stderr[-2000:]}")
    return seconds


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s (runs: {', '.join(f'{v:.2f}' for v in values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 1,
                        help="CPU-bound processes beside the measurements (default: one per core)")
    parser.add_argument("--busy-limit", type=float, default=1200.0,
                        help="seconds after which each busy process stops by itself")
    parser.add_argument("--mnist", type=int, default=1000, help="MNIST test digits to write")
    parser.add_argument("--mnist-model", default="lenet5")
    parser.add_argument("--photo-model", default="efficientnet_lite0")
    parser.add_argument("--skip", nargs="*", default=[], choices=["mnist", "photos"])
    parser.add_argument("--app", type=Path, default=ROOT,
                        help="checkout whose explorer.predict to run (default: this one); "
                             "the bare process always runs this checkout's code")
    args = parser.parse_args()
    app = args.app.resolve()

    from explorer.data import data_root

    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        cases = []
        if "mnist" not in args.skip:
            folder = write_mnist(Path(tmp), args.mnist)
            cases.append((f"{args.mnist:,} MNIST PNGs", folder, args.mnist_model))
        if "photos" not in args.skip:
            photos = Path(data_root("imagenet-samples"))
            n = sum(1 for p in photos.iterdir() if p.suffix.lower() in (".jpeg", ".jpg"))
            cases.append((f"{n} sample photos", photos, args.photo_model))

        busy = [subprocess.Popen([sys.executable, "-c", BUSY.format(limit=args.busy_limit)])
                for _ in range(args.busy)]
        try:
            time.sleep(0.5)  # let them reach their loops
            print(f"bench/cli.py: {os.cpu_count()} CPUs, {len(busy)} busy-loop processes "
                  f"beside the measurements, load average {os.getloadavg()[0]:.2f}; medians "
                  f"of {args.runs} fresh processes per side, alternately; CLI of {app}",
                  flush=True)
            for what, folder, model in cases:
                cli, bare, bare1 = [], [], []
                for _ in range(args.runs):
                    bare.append(timed([sys.executable, "-c", BARE, str(folder), model, "0"]))
                    cli.append(timed([sys.executable, "-m", "explorer.predict", str(folder),
                                      "--model", model, "--json"], cwd=app))
                    bare1.append(timed([sys.executable, "-c", BARE, str(folder), model, "1"]))
                best = min(statistics.median(bare), statistics.median(bare1))
                ratio = statistics.median(cli) / best
                print(f"\npredict, {what}, {model}\n"
                      f"  python -m explorer.predict           {fmt(cli)}\n"
                      f"  decode + batched forward, bare       {fmt(bare)}  (torch's threads)\n"
                      f"  decode + batched forward, bare       {fmt(bare1)}  (one thread)\n"
                      f"  ratio {ratio:5.2f}× the faster bare process  (goal ≤ 1.5×)",
                      flush=True)
        finally:
            for p in busy:
                p.terminate()
            for p in busy:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        print(f"\nbusy-loop processes stopped; load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
