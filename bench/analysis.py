"""Time and peak memory of analysing the whole zoo: explorer.analysis.analyze against
torchinfo's summary on the same models at each model's input size.

    .venv/bin/python bench/analysis.py [--models a,b,...] [--skip-torchinfo-cpu]

Each tool runs in a child process of its own, so that its peak memory (the growth of peak RSS
over the process's size after imports, from ``resource.getrusage``; ``tracemalloc`` sees only
Python objects, not torch's tensor memory) is not blurred by the other's. Three runs:

- ``ours``: ``analyze(name)`` for every model, lru_cache cleared first (cold: meta build and
  one traced forward each);
- ``torchinfo-cpu``: torchinfo's usual use: build the real model (random weights) and
  ``summary(model, input_size=(1, C, H, W), device="cpu")``; build and summary timed apart;
- ``torchinfo-meta``: the same summary on a meta-device build, torchinfo's best case.

Each child first runs its tool once on a tiny net outside the zoo, so torch's one-time lazy
imports are not charged to the first zoo model; the zoo results themselves are not cached.

Wall-clock and CPU time (``time.process_time``) are both printed: on a shared machine other
processes stretch wall-clock. Nothing is asserted; the numbers are printed as measured.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(tool: str, names: list[str]) -> dict:
    import torch

    from explorer import zoo
    from explorer.analysis.layers import analyze, clear_cache

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if tool.startswith("torchinfo"):
        from torchinfo import summary
    base_rss = _rss_mb()
    base_peak = _peak_mb()

    def one(name: str) -> dict:
        spec = zoo.get_spec(name)
        t0, c0 = time.perf_counter(), time.process_time()
        row = {"name": name}
        if tool == "ours":
            a = analyze(name)
            row.update(params=a.params_pytorch, macs=a.macs)
            build_s = 0.0
        else:
            if tool == "torchinfo-meta":
                with torch.device("meta"):
                    model = zoo.build(name)
                device = "meta"
            else:
                model = zoo.build(name)
                device = "cpu"
            build_s = time.perf_counter() - t0
            s = summary(model, input_size=(1, *spec.input_size), device=device, verbose=0)
            row.update(params=s.total_params, macs=s.total_mult_adds)
            del model, s
        row.update(wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0,
                   build_s=build_s, peak_rss_growth_mb=_peak_mb() - base_peak)
        return row

    # One-time process costs (torch imports its meta kernels and references lazily, on first
    # use) are paid by each tool on a tiny net outside the zoo, not by the first zoo model.
    tiny = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(4, 2))
    if tool == "ours":
        analyze(tiny, (3, 16, 16))
    else:
        summary(tiny.to("meta") if tool == "torchinfo-meta" else tiny, input_size=(1, 3, 16, 16),
                device="meta" if tool == "torchinfo-meta" else "cpu", verbose=0)

    # timed pass: no tracemalloc (it slows every Python allocation several times over)
    clear_cache()
    t_all, c_all = time.perf_counter(), time.process_time()
    rows = [one(name) for name in names]
    total = {"wall_s": time.perf_counter() - t_all, "cpu_s": time.process_time() - c_all}
    total.update(peak_rss_mb=_peak_mb(), rss_after_imports_mb=base_rss,
                 peak_over_imports_mb=_peak_mb() - base_rss, tracemalloc_peak_mb=None)
    if tool != "torchinfo-cpu":  # untimed second pass for the Python-heap peak
        clear_cache()
        tracemalloc.start()
        for name in names:
            one(name)
        total["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return {"tool": tool, "rows": rows, "total": total}


def run_child(tool: str, names: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", tool, "--models", ",".join(names)],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{tool} run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="comma-separated names (default: the whole zoo)")
    parser.add_argument("--skip-torchinfo-cpu", action="store_true",
                        help="leave out torchinfo on real weights (the slow run)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.models:
        names = args.models.split(",")
    else:
        from explorer import zoo

        names = zoo.list_models()
    if args.child:
        print(json.dumps(child(args.child, names)))
        return

    tools = ["ours", "torchinfo-meta"] + ([] if args.skip_torchinfo_cpu else ["torchinfo-cpu"])
    print(f"{len(names)} models, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())} at start", flush=True)
    results = {}
    for tool in tools:
        results[tool] = run_child(tool, names)
        print(f"  {tool}: done in {results[tool]['total']['wall_s']:.2f} s", flush=True)

    by = {tool: {r["name"]: r for r in res["rows"]} for tool, res in results.items()}
    head = f"{'model':<20}" + "".join(f"{t + ' s':>16}" for t in tools)
    if "torchinfo-cpu" in tools:
        head += f"{'(of it build s)':>16}"
    head += f"{'our MACs':>16}{'torchinfo MACs':>16}"
    print("\nPer model, wall-clock seconds (cold):")
    print(head)
    for name in names:
        line = f"{name:<20}" + "".join(f"{by[t][name]['wall_s']:>16.3f}" for t in tools)
        if "torchinfo-cpu" in tools:
            line += f"{by['torchinfo-cpu'][name]['build_s']:>16.3f}"
        line += f"{by['ours'][name]['macs']:>16,}{by['torchinfo-meta'][name]['macs']:>16,}"
        print(line)
    print("\nTotals:")
    print(f"{'tool':<16}{'wall s':>10}{'CPU s':>10}{'peak RSS over imports MB':>27}"
          f"{'tracemalloc peak MB':>22}")
    for tool in tools:
        t = results[tool]["total"]
        tm = t["tracemalloc_peak_mb"]
        tm = "n/a" if tm is None else f"{tm:.1f}"
        print(f"{tool:<16}{t['wall_s']:>10.2f}{t['cpu_s']:>10.2f}{t['peak_over_imports_mb']:>27.1f}"
              f"{tm:>22}")
    ours = results["ours"]["total"]
    for tool in tools[1:]:
        t = results[tool]["total"]
        print(f"{tool} / ours: wall {t['wall_s'] / ours['wall_s']:.1f}×, "
              f"CPU {t['cpu_s'] / ours['cpu_s']:.1f}×")
    print(f"goal: whole zoo under 2 s -> ours took {ours['wall_s']:.2f} s wall, "
          f"{ours['cpu_s']:.2f} s CPU")
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
