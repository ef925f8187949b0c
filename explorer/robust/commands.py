"""The command line's work: each ``python -m explorer.robust`` command as a plain function.

``__main__.py`` only parses the flags and calls these (tests call them directly, or run the
module in a subprocess). Each writes text or one JSON document to ``out``, messages to ``err``,
and returns the exit status: 0 done, 1 nothing could be evaluated, 2 a usage error (unknown
model, ε out of range, a class that does not exist, ...).
"""
from __future__ import annotations

import json
import sys
import time
from typing import Sequence

from explorer.robust.attacks import (DEFAULT_STEPS, METHODS, AttackError, check_steps, parse_eps,
                                     resolve_class)
from explorer.robust.corruptions import CORRUPTIONS, SEVERITIES, CorruptionError

__all__ = ["attack_command", "curve_command", "corrupt_command", "train_command"]


def _streams(out, err):
    return (sys.stdout if out is None else out), (sys.stderr if err is None else err)


def _load(model: str, err):
    from explorer.robust.models import load_any, model_names
    from explorer.weights import WeightsError

    if model not in model_names():
        import difflib

        close = difflib.get_close_matches(model, model_names(), n=3)
        print(f"error: unknown model {model!r}"
              + (f"; did you mean {', '.join(close)}?" if close else "")
              + f" Models: {', '.join(model_names())}", file=err)
        return None
    try:
        return load_any(model)
    except WeightsError as exc:
        print(f"error: {exc}", file=err)
        return None


def _progress(err, quiet: bool, what: str):
    state = {"t0": time.perf_counter()}

    def report(done: int, total: int) -> None:
        if quiet:
            return
        end = "\n" if done >= total else ""
        print(f"\r{what}: {done}/{total} ({time.perf_counter() - state['t0']:.0f} s)", end=end,
              file=err, flush=True)

    return report


def _images(loaded, images: str, limit: int | None, err):
    from explorer.robust.evaluate import load_images

    try:
        return load_images(loaded, images, limit)
    except (AttackError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=err)
        return None


def _steps(method: str, steps) -> int:
    """``--steps`` as an int; for PGD within attacks.check_steps' bound (AttackError)."""
    steps = int(steps)
    if method == "pgd":
        try:
            check_steps(steps)
        except AttackError as exc:
            raise AttackError(f"--steps: {exc}") from None
    return steps


def _model_and_images(model: str, images: str, limit: int | None, err):
    """(loaded, image set), or None after an error message on ``err``."""
    loaded = _load(model, err)
    data = None if loaded is None else _images(loaded, images, limit, err)
    return None if data is None else (loaded, data)


def _dump(doc: dict, out) -> None:
    json.dump(doc, out, indent=1, ensure_ascii=False)
    out.write("\n")


def _acc(part: dict) -> str:
    if "accuracy" in part:
        return f"{part['accuracy']:.2f} % ({part['correct']}/{part['labelled']})"
    return f"{part['kept_clean_top1']:.1%} keep the clean top-1"


def attack_command(model: str, images: str, method: str = "fgsm", eps: str = "4/255",
                   steps: int = DEFAULT_STEPS, target: str | None = None, as_json: bool = False,
                   limit: int | None = None, batch: int = 32, device: str | None = None,
                   out=None, err=None) -> int:
    """``attack``: per image clean and adversarial top-1; summary accuracy before and after."""
    out, err = _streams(out, err)
    from explorer.robust.evaluate import MNIST_TEST, attack_set

    if method not in METHODS:
        print(f"error: unknown method {method!r}; choose fgsm or pgd", file=err)
        return 2
    try:
        value = parse_eps(eps)
    except AttackError as exc:
        print(f"error: {exc}", file=err)
        return 2
    loaded = _load(model, err)
    if loaded is None:
        return 2
    try:
        goal = None if target is None else resolve_class(loaded, target)
        steps = _steps(method, steps)
    except AttackError as exc:
        print(f"error: {exc}", file=err)
        return 2
    data = _images(loaded, images, limit, err)
    if data is None:
        return 1 if str(images) != MNIST_TEST else 2
    report = attack_set(loaded, data, method, value, steps, goal, batch, device,
                        _progress(err, as_json, method.upper()),
                        per_image=str(images) != MNIST_TEST)
    if as_json:
        _dump(report, out)
        return 0
    s = report["summary"]
    what = f"{METHODS[method]}" + (f"-{steps}" if method == "pgd" else "")
    print(f"# {model} ({loaded.source}), {what}, ε = {value:.5g} ({value * 255:.3g}/255)"
          + (f", target {goal} {loaded.categories[goal]}" if goal is not None else ""), file=out)
    for r in report["results"]:
        c, a = r["clean"], r["adversarial"]
        mark = "  flipped" if r["flipped"] else ""
        print(f"{r['file']}: {c['name']} {c['probability']:.1%} -> {a['name']} "
              f"{a['probability']:.1%}{mark}", file=out)
    for e in report["errors"]:
        print(f"{e['file']}: SKIPPED {e['error']}", file=err)
    print(f"# {s['images']} images: before {_acc(s['before'])}; after {_acc(s['after'])}; "
          f"{s['flipped']:.1%} flipped", file=out)
    return 0


def curve_command(model: str, images: str, method: str = "fgsm",
                  eps: Sequence[str] = ("0", "0.05", "0.1", "0.15", "0.2", "0.25", "0.3"),
                  steps: int = DEFAULT_STEPS, as_json: bool = False, limit: int | None = None,
                  batch: int = 1000, device: str | None = None, out=None, err=None) -> int:
    """``curve``: accuracy per ε."""
    out, err = _streams(out, err)
    from explorer.robust.evaluate import curve_set

    if method not in METHODS:
        print(f"error: unknown method {method!r}; choose fgsm or pgd", file=err)
        return 2
    try:
        values = [parse_eps(e) for e in eps]
        steps = _steps(method, steps)
    except AttackError as exc:
        print(f"error: {exc}", file=err)
        return 2
    both = _model_and_images(model, images, limit, err)
    if both is None:
        return 2
    loaded, data = both
    report = curve_set(loaded, data, method, values, steps, batch, device,
                       _progress(err, as_json, f"{method.upper()} curve"))
    if as_json:
        _dump(report, out)
        return 0
    what = f"{METHODS[method]}" + (f"-{steps}" if method == "pgd" else "")
    print(f"# {model} ({loaded.source}), {what}, {len(data)} images", file=out)
    for p in report["curve"]:
        print(f"ε = {p['eps']:<8.5g} {_acc(p)}", file=out)
    return 0


def corrupt_command(model: str, images: str, corruption: str, severity: Sequence[int] = SEVERITIES,
                    as_json: bool = False, limit: int | None = None, seed: int = 0,
                    batch: int = 32, device: str | None = None, out=None, err=None) -> int:
    """``corrupt``: accuracy before and at each severity."""
    out, err = _streams(out, err)
    from explorer.robust.evaluate import MNIST_TEST, corrupt_set

    if corruption not in CORRUPTIONS:
        print(f"error: unknown corruption {corruption!r}; choose one of "
              f"{', '.join(CORRUPTIONS)}", file=err)
        return 2
    bad = [s for s in severity if s not in SEVERITIES]
    if bad or not severity:
        print(f"error: --severity takes 1 to 5 (ImageNet-C's levels); got "
              f"{' '.join(map(str, bad or severity))}", file=err)
        return 2
    both = _model_and_images(model, images, limit, err)
    if both is None:
        return 2
    loaded, data = both
    try:
        report = corrupt_set(loaded, data, corruption, list(severity), seed, batch, device,
                             per_image=str(images) != MNIST_TEST)
    except CorruptionError as exc:
        print(f"error: {exc}", file=err)
        return 2
    if as_json:
        _dump(report, out)
        return 0
    s = report["summary"]
    print(f"# {model} ({loaded.source}), {corruption}, {len(data)} images", file=out)
    for r in report["results"]:
        levels = ", ".join(f"{k.split('_')[1]}: {v['name']} {v['probability']:.0%}"
                           for k, v in r.items() if k.startswith("severity_"))
        print(f"{r['file']}: clean {r['clean']['name']} {r['clean']['probability']:.0%}; "
              f"{levels}", file=out)
    print(f"# clean {_acc(s['before'])}", file=out)
    for level in s["after"]:
        print(f"# severity {level['severity']}: {_acc(level)}", file=out)
    return 0


def train_command(method: str = "pgd", eps: str = "0.3", steps: int = 7, epochs: int = 10,
                  seed: int = 0, out_dir: str | None = None, as_json: bool = False,
                  curve_steps: int = DEFAULT_STEPS, warmup: int = 2, device: str | None = None,
                  out=None, err=None) -> int:
    """``train``: adversarially train LeNet-5 and write ``lenet5_adv_<method>.pt`` with its
    card (clean accuracy and the FGSM and PGD curves on the 10,000 test digits)."""
    out, err = _streams(out, err)
    from explorer.robust.training import train_robust

    try:
        value = parse_eps(eps)
    except AttackError as exc:
        print(f"error: {exc}", file=err)
        return 2
    if method not in METHODS:
        print(f"error: unknown method {method!r}; choose fgsm or pgd", file=err)
        return 2
    result = train_robust(method, value, steps=steps, epochs=epochs, seed=seed,
                          out_dir=out_dir, curve_steps=curve_steps, warmup_epochs=warmup,
                          device=device,
                          log=None if as_json else (lambda text: print(text, file=err,
                                                                       flush=True)))
    if as_json:
        _dump(result, out)
    else:
        print(json.dumps({k: result[k] for k in ("checkpoint", "test_accuracy", "robustness")},
                         indent=1), file=out)
    return 0
