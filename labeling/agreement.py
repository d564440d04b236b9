"""Krippendorff's alpha (nominal, ordinal, interval) with numpy.

Follows Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011): build the
coincidence matrix o from every unit with two or more values, then
    alpha = 1 - (n - 1) * sum(o_ck * d2_ck) / sum(n_c * n_k * d2_ck)
with the squared distance d2 of the chosen level of measurement.
"""

from collections.abc import Iterable, Sequence

import numpy as np

LEVELS = ("nominal", "ordinal", "interval")


def _distances(domain: np.ndarray, marginals: np.ndarray, level: str) -> np.ndarray:
    if level == "nominal":
        return 1.0 - np.eye(len(domain))
    if level == "interval":
        return np.subtract.outer(domain, domain).astype(float) ** 2
    if level == "ordinal":
        cumulative = np.concatenate([[0.0], np.cumsum(marginals)])
        distances = np.zeros((len(domain), len(domain)))
        for c in range(len(domain)):
            for k in range(c + 1, len(domain)):
                between = cumulative[k + 1] - cumulative[c]  # n_c + ... + n_k
                distances[c, k] = distances[k, c] = (between - (marginals[c] + marginals[k]) / 2) ** 2
        return distances
    raise ValueError(f"level must be one of {LEVELS}, got {level!r}")


def krippendorff_alpha(
    units: Sequence[Sequence[float]], *, level: str = "ordinal", values: Iterable[float] | None = None
) -> float | None:
    """Alpha for `units`: one list per unit holding the values its coders gave (missing ones left out).

    `values` is the scale (e.g. 1–5); by default the values seen. Returns None when alpha is undefined
    (fewer than two pairable values, or no variation at all).
    """
    pairable = [list(unit) for unit in units if len(unit) >= 2]
    seen = sorted({value for unit in pairable for value in unit})
    domain = np.array(sorted(set(values) | set(seen)) if values is not None else seen, dtype=float)
    if len(pairable) == 0 or len(domain) < 2:
        return None
    index = {value: i for i, value in enumerate(domain.tolist())}
    coincidences = np.zeros((len(domain), len(domain)))
    for unit in pairable:
        counts = np.zeros(len(domain))
        for value in unit:
            counts[index[float(value)]] += 1
        coincidences += (np.outer(counts, counts) - np.diag(counts)) / (len(unit) - 1)
    marginals = coincidences.sum(axis=1)
    total = marginals.sum()
    distances = _distances(domain, marginals, level)
    expected = (np.outer(marginals, marginals) * distances).sum()
    if expected == 0:
        return None
    observed = (coincidences * distances).sum()
    return float(1.0 - (total - 1) * observed / expected)
