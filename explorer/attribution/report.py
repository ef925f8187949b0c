"""The map tests of explorer.attribution.trust on a folder of images, for reproducible numbers.

    python -m explorer.attribution sanity --model M --images DIR [--methods ...] [--json]
    python -m explorer.attribution faithfulness --model M --images DIR [--methods ...] [--json]

Common options: ``--weights`` (auto, package, trained, torchvision, random), ``--limit N``
(the first N images, sorted by name), ``--device`` (cpu, cuda; default the best available),
``--seed`` (random weights of the cascade, random baseline and tie-breaks).

``sanity``: the model randomisation test (``--mode cascade`` as in Adebayo et al. 2018, or
``independent``). Prints, per method, the mean Spearman rank correlation of the absolute map
between the trained model's map and the map after the full cascade (and of the signed map,
and SSIM), the class-sensitivity correlation (map of the top class vs the second guess), and
the mean rank correlation after every step. The explained class is the trained model's top-1
prediction, fixed through the cascade.

``faithfulness``: deletion and insertion curves (``--steps`` + 1 points, insertion from a
blurred image) of the top-1 class for each method's map and for a random and a centre-first
ordering, as mean AUCs (± standard error) over the images, and how often each method beats
the random ordering.

Exit status: 0 on success, 1 when no image could be used, 2 for a usage error.

:func:`run` is the whole command with its options as arguments; ``__main__.py`` only parses the
flags and calls it (tests call it directly).
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

__all__ = ["DEFAULT_METHODS", "COMMANDS", "run"]

DEFAULT_METHODS = ["saliency", "integrated_gradients", "smoothgrad", "guided_backprop",
                   "gradcam", "guided_gradcam"]
COMMANDS = {"sanity": "model randomisation test (Adebayo et al. 2018)",
            "faithfulness": "deletion and insertion AUCs with baselines"}


def _mean_se(values) -> tuple[float, float]:
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else float("nan")
    return float(v.mean()), se


def _images(folder: Path, limit: int | None, loaded, err):
    from explorer.data.images import ImageLoadError, image_files, load_image

    files = image_files(folder)
    if limit is not None:
        files = files[:limit]
    out = []
    for path in files:
        try:
            out.append((path.name, loaded.preprocess(load_image(path))))
        except ImageLoadError as exc:
            print(f"{path.name}: skipped ({exc})", file=err)
    return out


def run(command: str, model: str, images: Path, methods: list[str] = DEFAULT_METHODS,
        as_json: bool = False, weights: str = "auto", limit: int | None = None,
        device: str | None = None, seed: int = 0, batch: int = 4, mode: str = "cascade",
        steps: int = 20, out=None, err=None) -> int:
    """``python -m explorer.attribution COMMAND ...``: ``command`` is "sanity" or
    "faithfulness", the other arguments are the flags (``as_json`` is ``--json``; ``batch`` and
    ``mode`` serve sanity, ``steps`` faithfulness). Writes the report to ``out`` and progress
    and errors to ``err`` (default: stdout and stderr); returns the exit status."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    from explorer import zoo
    from explorer.attribution.methods import METHODS
    from explorer.weights import WeightsError, load_model

    if command not in COMMANDS:
        raise ValueError(f"command must be one of {', '.join(COMMANDS)}, not {command!r}")
    images_dir = Path(images)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        print(f"error: unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}", file=err)
        return 2
    if not images_dir.is_dir():
        print(f"error: {images_dir} is not a folder", file=err)
        return 2
    try:
        zoo.get_spec(model)
        loaded = load_model(model, weights)
    except (WeightsError, KeyError) as exc:
        print(f"error: {exc}", file=err)
        return 2
    found = _images(images_dir, limit, loaded, err)
    if not found:
        print(f"error: no readable images in {images_dir}", file=err)
        return 1
    if command == "sanity":
        report = _sanity(loaded, found, methods, device, seed, batch, mode, err)
    else:
        report = _faithfulness(loaded, found, methods, device, seed, steps, err)
    report.update(model=model, weights=loaded.source, weights_label=loaded.label)
    if as_json:
        json.dump(report, out, indent=1)
        out.write("\n")
    else:
        _print(report, out)
    return 0


def _progress(done: int, total: int, t0: float, err) -> None:
    print(f"[{done}/{total} images, {time.perf_counter() - t0:.0f} s]", file=err, flush=True)


def _sanity(loaded, images, methods, device, seed, batch, mode, err) -> dict:
    import numpy as np
    import torch

    from explorer.attribution.maps import method_maps
    from explorer.attribution.sanity import randomisation_test
    from explorer.attribution.similarity import spearman
    from explorer.inference import logits_of, model_on, pick_device
    from explorer.inference.shared import private_copy

    device = pick_device(device)
    base = model_on(loaded.model, device)
    methods = list(dict.fromkeys(methods))
    rows = {k: {m: [] for m in methods} for k in ("spearman_abs", "spearman_signed", "ssim")}
    class_rho = {m: [] for m in methods}
    steps = None
    t0 = time.perf_counter()
    for start in range(0, len(images), batch):
        chunk = images[start:start + batch]
        x = torch.cat([t for _, t in chunk]).to(device)
        with torch.inference_mode():
            top2 = logits_of(base(x)).topk(2, dim=-1).indices.cpu()
        result = randomisation_test(loaded, x, methods, top2[:, 0].tolist(), mode=mode,
                                    seed=seed, device=device, keep_maps=False)
        steps = result.steps
        for key in rows:
            for m in methods:
                rows[key][m].append(getattr(result, key)[m])
        # Class sensitivity on the trained model: top class vs the second guess.
        private = private_copy(base)
        first = method_maps(loaded, private, x, methods, top2[:, 0].tolist(), device=device)
        second = method_maps(loaded, private, x, methods, top2[:, 1].tolist(), device=device)
        for m in methods:
            class_rho[m] += [spearman(a.abs, b.abs) for a, b in zip(first[m], second[m])]
        _progress(min(start + len(chunk), len(images)), len(images), t0, err)
    report = {"command": "sanity", "mode": mode, "images": len(images), "seed": seed,
              "steps": steps, "seconds": round(time.perf_counter() - t0, 1), "methods": {}}
    for m in methods:
        arr = {k: np.concatenate(rows[k][m]) for k in rows}  # images × steps
        entry = {}
        for k, a in arr.items():
            mean, se = _mean_se(a[:, -1])
            entry[f"{k}_final"] = mean
            entry[f"{k}_final_se"] = se
        entry["class_spearman_abs"], entry["class_spearman_abs_se"] = _mean_se(class_rho[m])
        entry["per_step"] = {k: [float(v) for v in np.nanmean(a, axis=0)] for k, a in arr.items()}
        report["methods"][m] = entry
    return report


def _faithfulness(loaded, images, methods, device, seed, steps, err) -> dict:
    import numpy as np
    import torch

    from explorer.attribution.faithfulness import BASELINES, faithfulness
    from explorer.attribution.maps import method_maps
    from explorer.inference import logits_of, pick_device
    from explorer.inference.shared import borrowed_copy, model_on

    device = pick_device(device)
    base = model_on(loaded.model, device)
    methods = list(dict.fromkeys(methods))
    names = methods + list(BASELINES)
    auc = {k: {m: [] for m in names} for k in ("deletion", "insertion")}
    per_image = []
    t0 = time.perf_counter()
    for i, (name, x) in enumerate(images):
        x = x.to(device)
        with torch.inference_mode():
            target = int(logits_of(base(x)).argmax(-1)[0])
        with borrowed_copy(base) as model:  # method_maps hooks its model
            maps = method_maps(loaded, model, x, methods, [target], device=device)
        result = faithfulness(loaded, x, {m: maps[m][0].abs for m in methods}, target,
                              steps=steps, seed=seed, device=device)
        for kind in auc:
            for m in names:
                auc[kind][m].append(getattr(result, f"{kind}_auc")[m])
        per_image.append({"file": name, "target": target, "p_full": result.p_full,
                          "deletion_auc": result.deletion_auc,
                          "insertion_auc": result.insertion_auc})
        _progress(i + 1, len(images), t0, err)
    report = {"command": "faithfulness", "images": len(images), "steps": steps,
              "seed": seed, "seconds": round(time.perf_counter() - t0, 1),
              "methods": {}, "baselines": {}, "per_image": per_image}
    rnd = {k: np.asarray(auc[k]["random"]) for k in auc}
    for m in names:
        entry = {}
        for kind in auc:
            entry[f"{kind}_auc"], entry[f"{kind}_auc_se"] = _mean_se(auc[kind][m])
        if m not in BASELINES:
            # Deletion: lower is better; insertion: higher is better.
            entry["beats_random_deletion"] = float(np.mean(np.asarray(auc["deletion"][m]) < rnd["deletion"]))
            entry["beats_random_insertion"] = float(np.mean(np.asarray(auc["insertion"][m]) > rnd["insertion"]))
        report["baselines" if m in BASELINES else "methods"][m] = entry
    return report


def _print(report: dict, out) -> None:
    w = max(len(m) for m in list(report["methods"]) + list(report.get("baselines", {})) + ["method"])
    print(f"# {report['model']}, weights: {report['weights_label']}; {report['images']} images, "
          f"{report['seconds']} s", file=out)
    if report["command"] == "sanity":
        print(f"# model randomisation, {report['mode']}: {len(report['steps']) - 1} blocks from "
              "the logits down; similarity to the trained model's map after the last step "
              "(mean ± s.e.)", file=out)
        print(f"{'method':<{w}}  {'spearman|abs|':>15}  {'spearman signed':>15}  {'SSIM':>13}  "
              f"{'class ρ (1 vs 2)':>16}", file=out)
        for m, e in report["methods"].items():
            print(f"{m:<{w}}  {_pm(e, 'spearman_abs_final'):>15}  "
                  f"{_pm(e, 'spearman_signed_final'):>15}  {_pm(e, 'ssim_final'):>13}  "
                  f"{_pm(e, 'class_spearman_abs'):>16}", file=out)
        print("# mean Spearman |abs| after each step (step: block re-initialised)", file=out)
        methods = list(report["methods"])
        print(f"{'step':<36}" + "".join(f"{m[:14]:>15}" for m in methods), file=out)
        for i, step in enumerate(report["steps"]):
            print(f"{i:>2} {step[:33]:<33}" + "".join(
                f"{report['methods'][m]['per_step']['spearman_abs'][i]:>15.3f}" for m in methods),
                file=out)
    else:
        print(f"# deletion (lower = better) and insertion (higher = better) AUC of the top-1 "
              f"class, {report['steps'] + 1} points per curve (mean ± s.e.)", file=out)
        print(f"{'method':<{w}}  {'deletion AUC':>15}  {'insertion AUC':>15}  "
              f"{'beats random (del / ins)':>25}", file=out)
        for group in ("methods", "baselines"):
            for m, e in report[group].items():
                beats = (f"{e['beats_random_deletion']:.0%} / {e['beats_random_insertion']:.0%}"
                         if "beats_random_deletion" in e else "(baseline)")
                print(f"{m:<{w}}  {_pm(e, 'deletion_auc'):>15}  {_pm(e, 'insertion_auc'):>15}  "
                      f"{beats:>25}", file=out)


def _pm(entry: dict, key: str) -> str:
    mean, se = entry[key], entry.get(f"{key}_se", float("nan"))
    return f"{mean:.3f} ± {se:.3f}" if math.isfinite(se) else f"{mean:.3f}"
