"""Attacks and corruptions over a set of images: what the command line reports and the page's
severity chart draws.

An image set is a folder (image files; ``labels.csv`` with ``file`` and ``class_index`` gives
the true classes, as ``python -m explorer.predict`` reads them), a single image file, or
``mnist-test``: the 10,000 MNIST test digits with their labels, read from the data resolver
(for the four MNIST networks and the adversarially trained LeNet-5). Without a label an image is
attacked away from its clean top-1, and "accuracy" becomes the share that keeps it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from explorer.i18n import _
from explorer.robust.attacks import (DEFAULT_STEPS, AttackError, check_eps, check_target, perturb,
                                     pixel_model, to_pixels)
from explorer.robust.corruptions import SEVERITIES, corrupt

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from explorer.weights import LoadedModel

__all__ = ["MNIST_TEST", "ImageSet", "colour_problem", "load_images", "attack_set",
           "curve_set", "corrupt_set", "severity_curve"]

MNIST_TEST = "mnist-test"


@dataclass
class ImageSet:
    names: list[str]
    pixels: torch.Tensor  # N×C×H×W in [0, 1], the model's own view
    labels: list[int | None]
    errors: list[dict] = field(default_factory=list)  # {"file", "error"} for skipped files
    source: str = ""

    def __len__(self) -> int:
        return len(self.names)

    @property
    def labelled(self) -> int:
        return sum(label is not None for label in self.labels)


def colour_problem(loaded: "LoadedModel", image: "Image.Image") -> str | None:
    """A message when a network that reads grey digits is given a colour photo (the digit
    preprocessing would turn it into a meaningless blob), else None."""
    if loaded.spec.dataset != "mnist":
        return None
    rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    chroma = rgb.max(-1) - rgb.min(-1)
    if float((chroma > 40).mean()) > 0.05:
        return _("{model} reads grey handwritten digits (MNIST), and this is a colour photo: "
                 "the network would only see a grey blob. Choose a digit (a sample, or a dark "
                 "digit on a light background), or an ImageNet network for photos.").format(
            model=loaded.name)
    return None


def load_images(loaded: "LoadedModel", source: str | Path, limit: int | None = None) -> ImageSet:
    """The images of ``source`` (a folder, a file, or ``mnist-test``) in ``loaded``'s pixel
    view. Files that cannot be read, and colour photos for a digit network, are skipped and
    listed in ``errors``. Raises AttackError when there is nothing to read."""
    if str(source) == MNIST_TEST:
        if loaded.spec.dataset != "mnist":
            raise AttackError(_("{source} is the MNIST test set: for the digit networks only "
                                "({model} classifies {dataset} images).").format(
                source=MNIST_TEST, model=loaded.name, dataset=loaded.spec.dataset))
        from explorer.robust.mnist import test_digits

        pixels, labels = test_digits(limit)
        return ImageSet([f"mnist-test/{i}" for i in range(len(labels))], pixels,
                        labels.tolist(), source=MNIST_TEST)
    from explorer.data.images import ImageLoadError, image_files, load_image
    from explorer.predict import read_labels

    path = Path(source)
    if not path.exists():
        raise AttackError(_("{path} does not exist (give a folder of images, an image file, or "
                            "{mnist}).").format(path=path, mnist=MNIST_TEST))
    try:
        truth = read_labels(path) if path.is_dir() else {}
    except ValueError as exc:
        raise AttackError(str(exc)) from None
    files = image_files(path)[:limit] if limit else image_files(path)
    names, tensors, labels, errors = [], [], [], []
    for f in files:
        try:
            image = load_image(f)
        except ImageLoadError as exc:
            errors.append({"file": f.name, "error": str(exc)})
            continue
        problem = colour_problem(loaded, image)
        if problem:
            errors.append({"file": f.name, "error": problem})
            continue
        names.append(f.name)
        tensors.append(to_pixels(loaded, image))
        label = truth.get(f.name)
        labels.append(None if label is None or not 0 <= label < len(loaded.categories)
                      else int(label))
    if not names:
        raise AttackError(_("No image in {path} could be used ({n} files tried).").format(
            path=path, n=len(files)) + ("" if not errors else " " + errors[0]["error"]))
    return ImageSet(names, torch.cat(tensors), labels, errors, str(path))


def _predict(forward, pixels: torch.Tensor, batch: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([forward(pixels[i:i + batch]).softmax(-1).cpu()
                          for i in range(0, len(pixels), batch)])


def _goals(clean_top1: torch.Tensor, images: ImageSet) -> torch.Tensor:
    return torch.tensor([label if label is not None else int(top)
                         for label, top in zip(images.labels, clean_top1)], dtype=torch.long)


def _attack_all(forward, images: ImageSet, method, eps, goals, steps, target, batch,
                progress) -> torch.Tensor:
    dev = forward.mean.device
    out = []
    for i in range(0, len(images), batch):
        x = images.pixels[i:i + batch].to(dev)
        y = goals[i:i + batch].to(dev) if target is None else target
        out.append(perturb(forward, x, method, eps, y, steps, targeted=target is not None).cpu())
        if progress is not None:
            progress(min(i + batch, len(images)), len(images))
    return torch.cat(out)


def _accuracy(top1: torch.Tensor, images: ImageSet, clean_top1: torch.Tensor) -> dict:
    """Accuracy on the labelled images; the share keeping the clean top-1 on all of them."""
    labels = [(i, y) for i, y in enumerate(images.labels) if y is not None]
    out = {"kept_clean_top1": round(float((top1 == clean_top1).float().mean()), 4)}
    if labels:
        idx = torch.tensor([i for i, _y in labels])
        truth = torch.tensor([y for _i, y in labels])
        correct = int((top1[idx] == truth).sum())
        out.update(labelled=len(labels), correct=correct,
                   accuracy=round(100.0 * correct / len(labels), 2))
    return out


def attack_set(loaded: "LoadedModel", images: ImageSet, method: str, eps: float,
               steps: int = DEFAULT_STEPS, target: int | None = None, batch: int = 32,
               device=None, progress: Callable[[int, int], None] | None = None,
               per_image: bool = True) -> dict:
    """Every image attacked: per image the clean and adversarial top-1 with probabilities;
    summary accuracy before and after (on labelled images) and the share flipped."""
    eps = check_eps(eps)
    target = check_target(loaded, target)
    forward = pixel_model(loaded, device)
    clean = _predict(forward, images.pixels.to(forward.mean.device), batch)
    clean_top1 = clean.argmax(-1)
    goals = _goals(clean_top1, images)
    adv_pixels = _attack_all(forward, images, method, eps, goals, steps, target, batch, progress)
    adv = _predict(forward, adv_pixels.to(forward.mean.device), batch)
    adv_top1 = adv.argmax(-1)
    cats = loaded.categories
    records = []
    if per_image:
        for i, name in enumerate(images.names):
            c, a = int(clean_top1[i]), int(adv_top1[i])
            records.append({
                "file": name, "label": images.labels[i],
                "clean": {"index": c, "name": cats[c], "probability": round(float(clean[i, c]), 4)},
                "adversarial": {"index": a, "name": cats[a],
                                "probability": round(float(adv[i, a]), 4)},
                "flipped": a != c,
                "linf_grey_levels": round(float((adv_pixels[i] - images.pixels[i]).abs().max())
                                          * 255, 3)})
    summary = {"model": loaded.name, "weights": loaded.source, "method": method, "eps": eps,
               "steps": steps if method == "pgd" else None, "target": target,
               "images": len(images), "skipped": len(images.errors),
               "flipped": round(float((adv_top1 != clean_top1).float().mean()), 4),
               "before": _accuracy(clean_top1, images, clean_top1),
               "after": _accuracy(adv_top1, images, clean_top1)}
    if target is not None:
        summary["reached_target"] = round(float((adv_top1 == target).float().mean()), 4)
    return {"summary": summary, "results": records, "errors": images.errors}


def curve_set(loaded: "LoadedModel", images: ImageSet, method: str, epsilons: Sequence[float],
              steps: int = DEFAULT_STEPS, batch: int = 32, device=None,
              progress: Callable[[int, int], None] | None = None) -> dict:
    """Accuracy (labelled images) and the share keeping the clean top-1, per ε."""
    epsilons = [check_eps(e) for e in epsilons]
    forward = pixel_model(loaded, device)
    clean_top1 = _predict(forward, images.pixels.to(forward.mean.device), batch).argmax(-1)
    goals = _goals(clean_top1, images)
    points = []
    for k, eps in enumerate(epsilons):
        def step(done, total, k=k):
            if progress is not None:
                progress(k * total + done, len(epsilons) * total)

        adv = _attack_all(forward, images, method, eps, goals, steps, None, batch, step)
        top1 = _predict(forward, adv.to(forward.mean.device), batch).argmax(-1)
        points.append({"eps": eps, **_accuracy(top1, images, clean_top1)})
    return {"summary": {"model": loaded.name, "weights": loaded.source, "method": method,
                        "steps": steps if method == "pgd" else None, "images": len(images),
                        "labelled": images.labelled, "skipped": len(images.errors)},
            "curve": points, "errors": images.errors}


def corrupt_set(loaded: "LoadedModel", images: ImageSet, corruption: str,
                severities: Sequence[int] = SEVERITIES, seed: int = 0, batch: int = 32,
                device=None, per_image: bool = True) -> dict:
    """Accuracy before and after each severity; per image the top-1 at each severity."""
    forward = pixel_model(loaded, device)
    dev = forward.mean.device
    clean = _predict(forward, images.pixels.to(dev), batch)
    clean_top1 = clean.argmax(-1)
    levels, tops = [], {}
    for severity in severities:
        bad = torch.cat([corrupt(images.pixels[i:i + batch], corruption, severity, seed + i)
                         for i in range(0, len(images), batch)])
        probs = _predict(forward, bad.to(dev), batch)
        tops[severity] = probs
        levels.append({"severity": severity,
                       **_accuracy(probs.argmax(-1), images, clean_top1)})
    cats = loaded.categories
    records = []
    if per_image:
        for i, name in enumerate(images.names):
            c = int(clean_top1[i])
            entry = {"file": name, "label": images.labels[i],
                     "clean": {"index": c, "name": cats[c],
                               "probability": round(float(clean[i, c]), 4)}}
            for severity, probs in tops.items():
                t = int(probs[i].argmax())
                entry[f"severity_{severity}"] = {"index": t, "name": cats[t],
                                                 "probability": round(float(probs[i, t]), 4)}
            records.append(entry)
    return {"summary": {"model": loaded.name, "weights": loaded.source, "corruption": corruption,
                        "seed": seed, "images": len(images), "skipped": len(images.errors),
                        "before": _accuracy(clean_top1, images, clean_top1), "after": levels},
            "results": records, "errors": images.errors}


def severity_curve(loaded: "LoadedModel", pixels: torch.Tensor, corruption: str,
                   label: int | None = None, seed: int = 0, device=None) -> list[dict]:
    """For one image (1×C×H×W pixels): the probability of ``label`` (default: the clean top-1)
    and the top-1 at severity 0 (clean) … 5, from one batched forward pass."""
    forward = pixel_model(loaded, device)
    batch = torch.cat([pixels] + [corrupt(pixels, corruption, s, seed) for s in SEVERITIES])
    probs = _predict(forward, batch.to(forward.mean.device), len(batch))
    label = int(probs[0].argmax()) if label is None else check_target(loaded, label)
    return [{"severity": s, "probability": float(probs[s, label]), "label": label,
             "top1": int(probs[s].argmax()), "top1_probability": float(probs[s].max())}
            for s in range(len(probs))]
