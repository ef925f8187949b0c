"""Command line: python -m explorer.predict PATH --model NAME (see explorer.predict).

Flags only; the work is :func:`explorer.predict.run`.
"""
import argparse
import sys
from pathlib import Path

import explorer.predict as predict

parser = argparse.ArgumentParser(prog="python -m explorer.predict",
                                 description=predict.__doc__.split("\n\n")[0])
parser.add_argument("path", type=Path, help="an image file or a folder of images")
parser.add_argument("--model", required=True, help="a model name from the zoo")
parser.add_argument("--weights", default="auto",
                    help="auto, package, trained, torchvision, random, or a checkpoint file")
parser.add_argument("--topk", type=int, default=5)
parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
parser.add_argument("--explain", metavar="METHOD", help="also save an attribution map "
                    "(saliency, integrated_gradients, smoothgrad, guided_backprop, gradcam, "
                    "guided_gradcam, occlusion)")
parser.add_argument("--out", type=Path, help="folder for --explain's PNG overlays and .npy maps")
parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: the best available)")
parser.add_argument("--batch-size", type=int, default=None, metavar="N",
                    help="images per forward pass (default 64)")
parser.add_argument("--workers", type=int, default=None, metavar="N",
                    help="processes that decode the images (default: automatic; 0: none)")
parser.add_argument("--threads", type=int, default=None, metavar="N",
                    help="threads per forward pass (default: one per core that other "
                         "processes leave idle, at least one)")
args = parser.parse_args()
if (args.batch_size is not None and args.batch_size < 1) or (args.workers or 0) < 0 \
        or (args.threads is not None and args.threads < 1):
    parser.error("--batch-size and --threads must be at least 1, --workers at least 0")
sys.exit(predict.run(args.path, args.model, weights=args.weights, topk=args.topk,
                     as_json=args.json, explain=args.explain, out_dir=args.out,
                     device=args.device, batch_size=args.batch_size, workers=args.workers,
                     threads=args.threads))
