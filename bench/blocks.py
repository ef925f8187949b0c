"""How fast does the Blocks page move one step, compared with one forward pass of the model?

    .venv/bin/python bench/blocks.py [--repeats 5]

For a few real blocks, on the CPU, with an image:
  forward   one full forward pass of the model (the baseline, median of --repeats)
  capture   running the model up to and through the block with every step summarised
            (what the page does once per image and block; then it is cached)
  step      drawing one step from the cached capture: the DOT diagram with the step
            highlighted, the step's facts, the colour-mapped maps, the branch table
            (median over all the block's steps)
and, for the page itself (googlenet.inception3a, the page's default), the time of a whole
Streamlit rerun after moving the slider, with the model and the capture cached (AppTest).
Every time is printed with its ratio to the forward pass measured in the same run.
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

from explorer import weights  # noqa: E402

from explorer.analysis import blocks  # noqa: E402

from explorer.data import images  # noqa: E402

BLOCKS = [("googlenet", "inception3a"), ("resnet18", "layer2.0"),
          ("densenet121", "features.denseblock1")]


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _render(trace, acts, i: int) -> None:
    blocks.block_dot(trace, i)
    blocks.step_facts(trace.steps[i])
    blocks.colorize(acts[i].mean_map)
    for _, m in acts[i].channels:
        blocks.colorize(m)
    blocks.branch_stats(trace, acts)


def bench_core(repeats: int, image) -> dict[str, float]:
    forwards = {}
    for name, path in BLOCKS:
        loaded = weights.load_model(name, "random")
        x = loaded.preprocess(image)
        with torch.inference_mode():
            loaded.model(x)  # warm-up
            fwd = _median(lambda: loaded.model(x), repeats)
        cap = _median(lambda: blocks.capture_trace(loaded.model, path, x), max(1, repeats // 2))
        trace, acts = blocks.capture_trace(loaded.model, path, x)
        step = statistics.median(_median(lambda: _render(trace, acts, i), 3)
                                 for i in range(len(trace.steps)))
        forwards[name] = fwd
        print(f"{name}.{path}: {len(trace.steps)} steps, input {tuple(x.shape)}\n"
              f"  forward {fwd * 1e3:8.1f} ms   (1.00)\n"
              f"  capture {cap * 1e3:8.1f} ms   ({cap / fwd:.2f} × forward, once per image)\n"
              f"  step    {step * 1e3:8.1f} ms   ({step / fwd:.3f} × forward, cached capture)")
    return forwards


def bench_page(repeats: int, forward: float) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "blocks.py"), default_timeout=300)
    t = time.perf_counter()
    at.run()  # loads the model, traces and captures once
    first = time.perf_counter() - t
    assert not at.exception, at.exception
    n = at.slider(key="blk_step").max
    times = []
    for k in range(repeats * 2):
        value = 1 + (k * 7) % n
        t = time.perf_counter()
        at.slider(key="blk_step").set_value(value).run()
        times.append(time.perf_counter() - t)
        assert not at.exception, at.exception
    step = statistics.median(times)
    print(f"page (AppTest, googlenet.inception3a, sample image):\n"
          f"  first run        {first * 1e3:8.1f} ms   (model load + trace + capture)\n"
          f"  move one step    {step * 1e3:8.1f} ms   ({step / forward:.2f} × googlenet forward;"
          f" worst {max(times) * 1e3:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    image = images.load_image(next(iter(images.sample_images("photo").values())))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    forwards = bench_core(args.repeats, image)
    bench_page(args.repeats, forwards["googlenet"])


if __name__ == "__main__":
    main()
