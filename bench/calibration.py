"""The long simulation of the decision rule: false PASS rate at the margin and power, per method.

    python bench/calibration.py [--repetitions 4000] [--sizes 200,2000,20000]

Prints one row per method and sample size. At 90 % confidence the false PASS rate at the margin
must be at most 5 % (within simulation noise: +/- 2 standard errors are printed beside it).
"""

from __future__ import annotations

import argparse
import math
import time

from sprintgate.calibration import CASES, pass_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=4000)
    parser.add_argument("--sizes", default="200,2000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'method':40} {'n':>7} {'false PASS at margin':>22} {'PASS with clear effect':>23} {'seconds':>8}")
    for case in CASES:
        for n in sizes:
            started = time.perf_counter()
            false_pass = pass_rate(case, case.margin_truth, n=n, repetitions=args.repetitions, seed=101)
            power = pass_rate(case, case.clear_truth, n=n, repetitions=max(1, args.repetitions // 4), seed=202)
            noise = 2 * math.sqrt(0.05 * 0.95 / args.repetitions)
            print(
                f"{case.name:40} {n:>7} {false_pass:>12.2%} +/- {noise:.2%} {power:>23.1%} "
                f"{time.perf_counter() - started:>8.1f}"
            )


if __name__ == "__main__":
    main()
