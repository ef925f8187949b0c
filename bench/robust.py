"""What explorer.robust's attacks cost over the passes they cannot avoid.

    .venv/bin/python bench/robust.py                       # best device (CUDA when present)
    .venv/bin/python bench/robust.py --device cpu --threads 1 --repeats 5

For EfficientNet-Lite0 (one 224×224 photo, the page's case) and LeNet-5 (one digit, and a
batch of 1,000 test digits, the ε-curve's case), against a baseline measured in the same run:
one forward + backward pass to the input (``torch.autograd.grad`` of the cross-entropy, through
the normalisation, on a fresh input that requires grad).

- FGSM (Captum's ``FGSM`` in pixel space, ``explorer.robust.attacks.fgsm``): goal ≤ 1.3× one
  forward + backward.
- PGD-n (Captum's ``PGD``, n = ``--steps``): goal ≤ 1.2× n·(forward + backward).

Each figure is the median of ``--repeats`` runs after a warm-up; interleaved (baseline, FGSM,
PGD, baseline, ...) so that a busy shared CPU slows all three alike. On a CPU shared with other
work, ``--cpu-time`` measures this process's CPU time instead of the wall clock (with
``--threads 1`` that is the work itself, without the time spent waiting for a core).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from explorer.data.images import load_image  # noqa: E402
from explorer.inference import device_info, pick_device  # noqa: E402
from explorer.robust import attacks  # noqa: E402
from explorer.robust.mnist import test_digits  # noqa: E402
from explorer.weights import load_model  # noqa: E402

SAMPLES = ROOT / "assets" / "samples"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def forward_backward(forward: attacks.PixelModel, x: torch.Tensor, y: torch.Tensor) -> None:
    """The baseline: the gradient of the loss with respect to the input pixels."""
    inp = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(forward(inp), y, reduction="sum")
    torch.autograd.grad(loss, inp)


CLOCK = time.perf_counter


def case(name: str, loaded, x: torch.Tensor, steps: int, repeats: int, device) -> dict:
    forward = attacks.pixel_model(loaded, device)
    x = x.to(forward.mean.device)
    with torch.no_grad():
        y = forward(x).argmax(-1)
    jobs = {
        "fb": lambda: forward_backward(forward, x, y),
        "fgsm": lambda: attacks.fgsm(forward, x, 2 / 255, y),
        "pgd": lambda: attacks.pgd(forward, x, 2 / 255, y, steps=steps),
    }
    times = {k: [] for k in jobs}
    for fn in jobs.values():  # warm-up
        fn()
    sync(device)
    for _ in range(repeats):
        for k, fn in jobs.items():
            t0 = CLOCK()
            fn()
            sync(device)
            times[k].append(CLOCK() - t0)
    fb, fgsm, pgd = (statistics.median(times[k]) for k in ("fb", "fgsm", "pgd"))
    return {"case": name, "fb_ms": fb * 1e3, "fgsm_ms": fgsm * 1e3, "pgd_ms": pgd * 1e3,
            "fgsm_ratio": fgsm / fb, "pgd_ratio": pgd / (steps * fb)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--cpu-time", action="store_true",
                        help="process CPU time instead of wall-clock (a busy shared CPU)")
    args = parser.parse_args()
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    print(f"# device: {device_info() if device.type != 'cpu' else 'cpu'}, "
          f"{torch.get_num_threads()} CPU threads, PGD-{args.steps}, median of {args.repeats}, "
          f"{'process CPU time' if args.cpu_time else 'wall clock'}")
    lite0 = load_model("efficientnet_lite0")
    lenet = load_model("lenet5", "trained")
    photo = attacks.to_pixels(lite0, load_image(SAMPLES / "cat.jpg"))
    digits = test_digits(1000)[0]
    rows = [case("efficientnet_lite0, 1 photo 224×224", lite0, photo, args.steps, args.repeats,
                 device),
            case("lenet5, 1 digit", lenet, digits[:1], args.steps, args.repeats * 4, device),
            case("lenet5, 1,000 digits", lenet, digits, args.steps, args.repeats, device)]
    print(f"{'case':<38} {'fwd+bwd':>9} {'FGSM':>9} {'ratio':>6} {'goal':>5}  "
          f"{'PGD-' + str(args.steps):>9} {'ratio':>6} {'goal':>5}")
    ok = True
    for r in rows:
        g1, g2 = r["fgsm_ratio"] <= 1.3, r["pgd_ratio"] <= 1.2
        ok &= g1 and g2
        print(f"{r['case']:<38} {r['fb_ms']:>7.1f}ms {r['fgsm_ms']:>7.1f}ms "
              f"{r['fgsm_ratio']:>5.2f}× {'✓' if g1 else '✗':>5}  {r['pgd_ms']:>7.1f}ms "
              f"{r['pgd_ratio']:>5.2f}× {'✓' if g2 else '✗':>5}")
    print("# goals: FGSM ≤ 1.3× one forward+backward; PGD-n ≤ 1.2× n·(forward+backward)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
