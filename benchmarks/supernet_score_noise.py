"""How much of a supernet score is image-sampling noise, and how well the accuracy predictor fits despite it.

Part 1 scores configurations of a trained supernet image by image on its held-out split (the
predictor's held-out draws: seed 0's test stream, as ``python -m nas.supernet predictor`` draws
them) and splits the images into two halves. The standard deviation, over configurations, of the
difference between a configuration's two half-split accuracies, halved, is the noise of its
whole-split score from which images were drawn (the part every configuration shares cancels).
Scaled by sqrt(split / 2000) it is the noise on 2,000 images.

Part 2 (``--records``) refits the predictor on the scored configurations that ``nas.supernet
predictor`` kept (``predictor-train-s0.jsonl``, ``predictor-test-s0.jsonl``) with validation-slice
seeds 0..K-1, one MLP and an ensemble each, and prints their held-out RMSE. ``--calibration-images``
and ``--val-images`` say how those records were scored (the predictor command's flags; its defaults).

Usage:
    python benchmarks/supernet_score_noise.py --supernet DIR [--configs 200] [--threads 2]
    python benchmarks/supernet_score_noise.py --supernet DIR --records --seeds 5
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from common import machine, revision  # benchmarks/common.py (scripts run from this directory)
from nas.stats import spearman
from nas.supernet.score import CALIBRATION_IMAGES


def _noise(directory: Path, configs: int) -> None:
    from nas.cli import MAX_SEED
    from nas.supernet.samples import draw
    from nas.supernet.score import SubnetScorer, calibrated_model

    scorer = SubnetScorer(directory)
    supernet = scorer.supernet
    hits = []
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(configs):
            model = calibrated_model(supernet, draw(supernet.coverage, MAX_SEED + 1, i), scorer.calibration).eval()
            hits.append(torch.cat([model(x).argmax(1) == y for x, y in scorer.val]).numpy())
    right = np.array(hits, dtype=np.float64)
    n = right.shape[1]
    halves = right[:, : n // 2].mean(1) - right[:, n // 2:].mean(1)
    noise = 100 * halves.std(ddof=1) / 2
    first = right[:, :2000].mean(1)
    ranks = spearman(first, right.mean(1))  # ties (equal counts of right images) share their rank
    print(f"# {configs} configurations, {n} held-out images each, {time.perf_counter() - start:.0f} s\n")
    print("| | points of accuracy |\n|---|---:|")
    print(f"| spread of the scores (sd) | {100 * right.mean(1).std(ddof=1):.2f} |")
    print(f"| image-sampling noise of one score on {n} images (sd) | {noise:.2f} |")
    print(f"| the same on 2,000 images | {noise * math.sqrt(n / 2000):.2f} |")
    print(f"\nSpearman of the scores on the first 2,000 images against all {n}: {ranks:.3f}")


def _members(directory: Path, seeds: int, scoring: dict[str, int]) -> None:
    from nas.cli import MAX_SEED
    from nas.supernet.encoding import encoding_of
    from nas.supernet.predictor import MEMBERS, AccuracyPredictor
    from nas.supernet.samples import read_samples
    from nas.supernet.train import load_supernet

    coverage = load_supernet(directory).coverage
    encoding = encoding_of(coverage.ops)
    train = read_samples(directory / "predictor-train-s0.jsonl", coverage, 0, scoring)
    test = read_samples(directory / "predictor-test-s0.jsonl", coverage, MAX_SEED + 1, scoring)  # its held-out stream
    fitted = {r["genome"] for r in train}
    test = [r for r in test if r["genome"] not in fitted]
    x, y = encoding.encode_params([r["params"] for r in train]), np.array([r["accuracy"] for r in train])
    xt, yt = encoding.encode_params([r["params"] for r in test]), np.array([r["accuracy"] for r in test])
    print(f"# {len(y)} configurations fitted, {len(yt)} held out\n")
    print(f"| validation-slice seed | one MLP RMSE | {MEMBERS} MLPs RMSE |\n|---:|---:|---:|")
    rows = []
    for seed in range(seeds):
        errors = []
        for members in (1, MEMBERS):
            predictor = AccuracyPredictor(encoding, seed=seed, members=members)
            predictor.fit(x, y)
            errors.append(100 * float(np.sqrt(np.mean((predictor.predict(xt) - yt) ** 2))))
        rows.append(errors)
        print(f"| {seed} | {errors[0]:.3f} | {errors[1]:.3f} |", flush=True)
    print(f"| mean | {statistics.fmean(r[0] for r in rows):.3f} | {statistics.fmean(r[1] for r in rows):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--supernet", required=True, type=Path, help="a trained supernet's directory")
    parser.add_argument("--configs", type=int, default=200, help="configurations scored image by image")
    parser.add_argument("--records", action="store_true", help="part 2: refit the predictor on its kept records")
    parser.add_argument("--seeds", type=int, default=5, help="validation-slice seeds of part 2")
    parser.add_argument("--calibration-images", type=int, default=CALIBRATION_IMAGES,
                        help=f"part 2: the predictor command's --calibration-images (default {CALIBRATION_IMAGES})")
    parser.add_argument("--val-images", type=int, default=0,
                        help="part 2: the predictor command's --val-images (default 0: the whole split)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# {machine()}; {revision()}; torch threads {torch.get_num_threads()}")
    if args.records:
        scoring = {"calibration_images": args.calibration_images, "val_images": args.val_images}
        _members(args.supernet, args.seeds, scoring)
    else:
        _noise(args.supernet, args.configs)


if __name__ == "__main__":
    main()
