"""How much the Inference page's code costs over the bare model, as ratios measured in one run.

    .venv/bin/python bench/inference.py [--model efficientnet_lite0] [--repeats 7] [--device cpu]

1. prediction: ``explorer.inference.predict`` (what the page and the CLI call: transfer,
   channels-last + autocast on CUDA, softmax, top-k, copy back) vs a bare ``model(x)`` under
   ``inference_mode`` on the same preprocessed input. Goal ≤ 1.10×.
2. Grad-CAM: ``explorer.attribution.explain(..., "gradcam")`` (module copy, Captum's
   LayerGradCam, upsampling) vs one forward + backward to the input. Goal ≤ 1.5×.
3. Integrated Gradients, 50 steps: ``explain`` with its internal batching vs Captum's default
   (all 50 scaled images in one batch), plus peak GPU memory on CUDA.
4. Integrated Gradients as the page runs it, steps chosen by the convergence delta
   (``explorer.ig``), vs the same number of scaled images through forward + backward in the
   same batches. Goal ≤ 1.10×.
5. The model switch (``--switch``, default resnet50): random initialisation alone, loading with
   its weights, the first prediction and the two default maps, once, cold.

Timings are medians over ``--repeats`` runs, the two sides of each ratio interleaved so that
load from other processes hits both alike. Runs on every available device (CPU, and CUDA when
there is one) unless ``--device`` names one.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

# As the app's server runs torch (explorer.ui.warmup): passive OpenMP threads, which a busy
# shared CPU does not turn into spinning waits. Set OMP_WAIT_POLICY=ACTIVE to compare.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer.data import data_root  # noqa: E402
from explorer import attribution, inference  # noqa: E402
from explorer.attribution.methods import ig_batch  # noqa: E402
from explorer.data.images import load_image  # noqa: E402
from explorer.weights import load_model  # noqa: E402

PHOTO = data_root("imagenet-samples") / "n01440764_tench.JPEG"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def interleaved(a, b, repeats: int, device: torch.device, warmup: int = 2):
    """Median seconds of ``a()`` and ``b()``, run alternately."""
    for _ in range(warmup):
        a(), b()
    ta, tb = [], []
    for i in range(repeats):
        pairs = ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta))  # no order bias
        for fn, times in pairs:
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb)


def bench(model_name: str, device: torch.device, repeats: int) -> None:
    loaded = load_model(model_name)
    x = loaded.preprocess(load_image(PHOTO))
    model = inference.model_on(loaded.model, device)
    # The bare baseline: the same weights, fp32, input already on the device.
    x_dev = x.to(device)
    target = inference.predict(loaded, x, device=device).indices[0]
    print(f"\n== {model_name} ({loaded.source} weights), input {tuple(x.shape)}, device "
          f"{device} ({inference.device_info() if device.type != 'cpu' else f'{torch.get_num_threads()} threads'})")

    def bare_forward():
        with torch.inference_mode():
            inference.logits_of(model(x_dev))

    def page_predict():
        inference.predict(loaded, x, topk=5, device=device)

    t_page, t_bare = interleaved(page_predict, bare_forward, repeats, device)
    print(f"prediction   page path {t_page * 1e3:8.2f} ms | bare model(x) {t_bare * 1e3:8.2f} ms "
          f"| ratio {t_page / t_bare:5.2f}×  (goal ≤ 1.10×)")

    def forward_backward():
        xi = x_dev.clone().requires_grad_(True)
        out = inference.logits_of(model(xi))
        torch.autograd.grad(out[0, target], xi)

    def gradcam():
        attribution.explain(loaded, x, "gradcam", target=target, device=device)

    t_cam, t_fb = interleaved(gradcam, forward_backward, repeats, device)
    print(f"Grad-CAM     explain   {t_cam * 1e3:8.2f} ms | forward+backward {t_fb * 1e3:8.2f} ms "
          f"| ratio {t_cam / t_fb:5.2f}×  (goal ≤ 1.5×)")

    from captum.attr import IntegratedGradients

    forward = lambda inp: inference.logits_of(model(inp))  # noqa: E731
    peaks = {}

    def ours():
        _reset_peak(device)
        attribution.explain(loaded, x, "integrated_gradients", target=target, n_steps=50,
                            device=device)
        peaks["ours"] = _peak(device)

    def captum_default():
        _reset_peak(device)
        xi = x_dev.clone().requires_grad_(True)
        IntegratedGradients(forward).attribute(xi, baselines=torch.zeros_like(xi),
                                               target=target, n_steps=50)
        peaks["captum"] = _peak(device)

    ig_repeats = max(2, repeats // 3)
    t_ours, t_captum = interleaved(ours, captum_default, ig_repeats, device, warmup=1)
    batch = ig_batch(device)
    mem = (f" | peak GPU memory {peaks['ours'] / 2**20:.0f} MiB vs {peaks['captum'] / 2**20:.0f} MiB"
           if device.type == "cuda" else "")
    print(f"IG, 50 steps ours (batch {batch}) {t_ours:7.2f} s | Captum default (batch 50) "
          f"{t_captum:7.2f} s | ratio {t_ours / t_captum:5.2f}×{mem}")

    # IG as the page runs it: steps chosen by the convergence delta (explorer.ig), against its
    # bare arithmetic: the same number of scaled images through forward + backward, same batches.
    notes = {}

    def ig_auto():
        notes.update(attribution.explain(loaded, x, "integrated_gradients", target=target,
                                         device=device).notes)

    ig_auto()  # learns the step count the search settles on for this image
    points = notes["n_steps"] + 1

    def grads_only():
        for start in range(0, points, batch):
            k = min(batch, points - start)
            xi = x_dev.expand(k, *x_dev.shape[1:]) * torch.linspace(0, 1, k, device=device).view(
                -1, 1, 1, 1)
            if device.type == "cuda":
                xi = xi.contiguous(memory_format=torch.channels_last)
            xi.requires_grad_(True)
            out = inference.logits_of(model(xi))[:, target]
            torch.autograd.grad(out.sum(), xi)

    t_auto, t_grads = interleaved(ig_auto, grads_only, ig_repeats, device, warmup=0)
    print(f"IG, steps by delta: {notes['n_steps']} steps, delta {notes['convergence_delta']:.3g} "
          f"({notes['relative_delta']:.1%} of f(x) − f(b)), tried {notes['steps_tried']}")
    print(f"             explain   {t_auto:8.2f} s  | {points} images forward+backward in "
          f"batches of {batch} {t_grads:6.2f} s | ratio {t_auto / t_grads:5.2f}×  (goal ≤ 1.10×)")


def switch(name: str, device: torch.device) -> None:
    """What the Inference page does on a switch to ``name``: build it with its weights (random
    ones when torchvision's are not cached), the first prediction, the two default maps."""
    from explorer import zoo

    t0 = time.perf_counter()
    zoo.build(name)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    loaded = load_model(name)
    t_load = time.perf_counter() - t0
    x = loaded.preprocess(load_image(PHOTO))
    t0 = time.perf_counter()
    pred = inference.predict(loaded, x, device=device)
    _sync(device)
    t_pred = time.perf_counter() - t0
    t0 = time.perf_counter()
    for method in ("saliency", "gradcam"):
        attribution.explain(loaded, x, method, target=pred.indices[0], device=device)
    _sync(device)
    t_maps = time.perf_counter() - t0
    print(f"\n== model switch to {name} ({loaded.source} weights), device {device}, "
          f"{torch.get_num_threads()} threads, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    print(f"random init alone {t_build:5.2f} s | load {t_load:5.2f} s | first prediction "
          f"{t_pred:5.2f} s | saliency + Grad-CAM {t_maps:5.2f} s | switch total "
          f"{t_load + t_pred + t_maps:5.2f} s")


def _reset_peak(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device):
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append",
                        help="zoo model (repeatable); default efficientnet_lite0")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", action="append", help="cpu / cuda (repeatable)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--switch", default="resnet50", help="model for the switch timing")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device(d) for d in (args.device or (["cpu"] + (["cuda"] if torch.cuda.is_available() else [])))]
    for device in devices:
        for name in args.model or ["efficientnet_lite0"]:
            bench(name, device, args.repeats)
        switch(args.switch, device)


if __name__ == "__main__":
    main()
