"""What recording the training history costs: per-epoch time with ``history=`` against without.

    .venv/bin/python bench/train.py                          # lenet5, the committed recipe
    .venv/bin/python bench/train.py --models lenet5 mnist_plain --epochs 2
    .venv/bin/python bench/train.py --subset 6000            # a quick look (see below)

Two runs of the same recipe and seed, one with a history recorder (explorer.train.history) and
one without, take turns every ``--chunk`` batches (interrupted and resumed the way the Train
page's run is), so a swing in the machine's load hits both alike. An epoch's time is the sum
of its turns, the recording included. The script also prints the ratio from the with-history
run's own parts, (training + recording) / training. The goal: with history ≤ 1.10 × without,
per epoch of the
committed recipe (54,000 training images). The recorder's cost is fixed (a pass over the
10,000 test digits, 500 probe digits with gradients), so on a ``--subset`` the ratio is larger;
that is the page's short run, not the recipe. Both runs end in bit-identical weights (checked).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from explorer import train  # noqa: E402
from explorer.data import data_root  # noqa: E402

RECIPES = {  # the committed cards' recipes (assets/<model>.json)
    "lenet5": train.Recipe(lr_steps=((3, 4e-4), (5, 2e-4), (7, 1e-4), (9, 2e-5)), distort=True),
}


class _Pause(Exception):
    """Raised from on_batch to hand the CPU to the other run (as a Streamlit rerun interrupts
    the Train page's run; the trainer resumes where it stopped)."""


def bench(name: str, epochs: int, subset: int | None, data: Path, chunk: int) -> dict:
    recipe = RECIPES.get(name, train.Recipe())
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"with": train.Trainer(name, epochs, data, subset=subset, seed=0, recipe=recipe,
                                      history=Path(tmp) / "history"),
                "without": train.Trainer(name, epochs, data, subset=subset, seed=0, recipe=recipe)}
        times = {"with": [], "without": []}
        spent = {"with": 0.0, "without": 0.0}
        turn = [0]

        def pause(_p: float) -> None:
            turn[0] += 1
            if turn[0] % chunk == 0:
                raise _Pause

        while not all(r.done for r in runs.values()):
            for kind, trainer in runs.items():  # `chunk` batches each, in turn
                if trainer.done:
                    continue
                t0 = time.perf_counter()
                try:
                    row = trainer.run_epoch(on_batch=pause)
                except _Pause:
                    row = None
                spent[kind] += time.perf_counter() - t0
                if row is not None:  # the epoch ended (and, with history, was recorded)
                    times[kind].append(spent[kind])
                    spent[kind] = 0.0
                    print(f"{name} epoch {row['epoch']} {kind:>7} history: {times[kind][-1]:7.1f} s",
                          flush=True)
        rows = [r for r in runs["with"].recorder.rows if r["epoch"] > 0]
        record = [r["record_seconds"] for r in rows]
        parts = [(r["seconds"] + r["record_seconds"]) / r["seconds"] for r in rows]
        a, b = runs["with"].model.state_dict(), runs["without"].model.state_dict()
        same = all(torch.equal(a[k], b[k]) for k in a)
    with_s, without_s = statistics.median(times["with"]), statistics.median(times["without"])
    return {"model": name, "train_images": len(runs["with"].x_train), "epochs": epochs,
            "epoch_s_with": round(with_s, 2), "epoch_s_without": round(without_s, 2),
            "ratio": round(with_s / without_s, 3), "record_s": round(statistics.median(record), 2),
            "ratio_parts": round(statistics.median(parts), 3), "identical_weights": same}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["lenet5"], choices=train.TRAINABLE_MODELS)
    p.add_argument("--epochs", type=int, default=1, help="epochs per run (median per epoch)")
    p.add_argument("--subset", type=int, default=None, help="training images (default: all)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--chunk", type=int, default=20,
                   help="batches each run trains before the other takes its turn")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = data_root("mnist")
    results = [bench(n, args.epochs, args.subset, data, args.chunk) for n in args.models]
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"\n{'model':<17} {'images':>7} {'without':>9} {'with':>9} {'record':>8} "
          f"{'ratio':>6} {'parts':>6}  goal <= 1.10")
    for r in results:
        worst = max(r["ratio"], r["ratio_parts"])
        print(f"{r['model']:<17} {r['train_images']:>7,} {r['epoch_s_without']:>8.1f}s "
              f"{r['epoch_s_with']:>8.1f}s {r['record_s']:>7.1f}s {r['ratio']:>6.3f} "
              f"{r['ratio_parts']:>6.3f}  " + ("ok" if worst <= 1.10 else "OVER")
              + ("" if r["identical_weights"] else "  WEIGHTS DIFFER"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
