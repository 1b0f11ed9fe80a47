"""A/B test arithmetic: who tests which variant, which variant wins, and how sure we are.

Pure functions over plain numbers (no ORM, no I/O), unit-tested in tests/unit/test_stats.py.
"""

from __future__ import annotations

import math
import random
from array import array
from dataclasses import dataclass

# The two-sided 95 % quantile of the standard normal distribution.
Z95 = 1.959963984540054


def sample_size(receivers: int, share_percent: int) -> int:
    """How many of `receivers` test the variants: `share_percent` % of them, rounded half up
    (an exact half counts: 50 % of 5 is 3)."""
    if receivers <= 0 or share_percent <= 0:
        return 0
    return min(receivers, (receivers * share_percent * 2 + 100) // 200)


def split_sizes(tested: int, variants: int) -> list[int]:
    """`tested` people over `variants` evenly; the first variants take one more when it does not divide."""
    base, extra = divmod(tested, variants)
    return [base + (1 if i < extra else 0) for i in range(variants)]


def ab_assignment(receivers: int, share_percent: int, variants: int, seed: int) -> array:
    """For each of `receivers` (in the audience's order), the variant it tests (1..variants)
    or 0 for the remainder, which waits for the winner.

    A random sample of `sample_size` receivers, in a random order, is dealt to the variants in
    turn, so the variants' sizes are `split_sizes` and who tests what is random; the same
    seed (the campaign's id) gives the same assignment."""
    codes = array("b", bytes(receivers))
    if variants <= 0:
        return codes
    rng = random.Random(seed)
    for i, position in enumerate(rng.sample(range(receivers), sample_size(receivers, share_percent))):
        codes[position] = i % variants + 1
    return codes


def rate(hits: int, total: int) -> float | None:
    """hits / total, or None when nobody was counted."""
    return hits / total if total else None


def _compare(a: tuple[int, int], b: tuple[int, int]) -> int:
    """The sign of rate(a) − rate(b), exactly (cross-multiplied, not rounded floats); nobody
    counted is a rate of 0."""
    left, right = a[0] * max(b[1], 1), b[0] * max(a[1], 1)
    return (left > right) - (left < right)


def best_index(counts: list[tuple[int, int]]) -> int:
    """The index of the highest rate among (hits, total) pairs; a tie goes to the earlier one."""
    best = 0
    for i in range(1, len(counts)):
        if _compare(counts[i], counts[best]) > 0:
            best = i
    return best


def ties(counts: list[tuple[int, int]], index: int) -> list[int]:
    """The other indexes whose rate equals the rate at `index` exactly."""
    return [i for i in range(len(counts)) if i != index and _compare(counts[i], counts[index]) == 0]


@dataclass(frozen=True)
class Difference:
    """p1 − p2 with its 95 % Wald interval [low, high]."""

    difference: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """The interval leaves out 0: the rates differ at the 95 % level."""
        return self.low > 0 or self.high < 0


def wald_difference(hits1: int, total1: int, hits2: int, total2: int, z: float = Z95) -> Difference | None:
    """The difference of two proportions p1 − p2 with the Wald two-proportion interval:

        p1 = hits1 / total1,  p2 = hits2 / total2
        SE = sqrt(p1 (1 − p1) / total1 + p2 (1 − p2) / total2)
        p1 − p2 ± z · SE,     z = 1.96 for 95 %

    (unpooled standard error, normal approximation; it is too narrow for tiny samples or
    rates near 0 or 1, which the results page shows as counts beside it). None when either
    side counted nobody."""
    if total1 <= 0 or total2 <= 0:
        return None
    p1, p2 = hits1 / total1, hits2 / total2
    se = math.sqrt(p1 * (1 - p1) / total1 + p2 * (1 - p2) / total2)
    d = p1 - p2
    return Difference(d, d - z * se, d + z * se)
