"""Always-valid sequential statistics for the online guard (see docs/rollout.md, "Sequential guards").

Monitors look every 5 minutes for as long as a rollout runs. A fixed-sample test checked that
often rejects a true null far more often than its α. These statistics are test supermartingales
(e-processes): under the null their expected value is at most 1 at every look, so by Ville's
inequality P(sup over all looks ≥ 1/α) ≤ α — the false-alarm rate holds however often we look.

Rates (tool errors, safety flags, slow replies, low rewards): arms are assigned per conversation
with a fixed share, so among the traces with an event, the arm of each is Bernoulli(p) with
p = R·s / (R·s + 1 − s), s the candidate's share of traffic and R the candidate/baseline rate
ratio. The null "candidate no worse" is R ≤ 1, i.e. p ≤ s. The evidence is a mixture over a grid
of worse ratios of the likelihood ratios p_R^x (1−p_R)^(k−x) / (s^x (1−s)^(k−x)) — each a
supermartingale for any p ≤ s, and so is their average (x events in the candidate of k in all).

Estimates (win-rate, safety difference): the normal-mixture confidence sequence of Robbins (1970)
as used by Johari et al. (2017): with variance V and mixing variance τ², the estimate is within
sqrt( V(V+τ²)/τ² · (2·ln(1/α) + ln((V+τ²)/V)) ) of the truth at every look, with probability 1−α.
"""

import math

# Candidate/baseline rate ratios mixed with equal weight: small to catch 2× slowly, large to catch 10× fast.
RATIO_GRID = (1.5, 2.0, 3.0, 5.0, 10.0, 20.0)


def _log_likelihood(x: int, k: int, p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return x * math.log(p) + (k - x) * math.log1p(-p)


def rate_evidence(*, candidate_events: int, candidate_n: int, baseline_events: int, baseline_n: int) -> dict:
    """E-value that the candidate's event rate is higher than the baseline's (rate ratio > 1).

    `share` is the candidate's share of traces (an estimate of its traffic share). Returns
    {"e_value", "share", "events": k, "candidate_events": x}; e_value 1.0 when there is no event.
    """
    total_n = candidate_n + baseline_n
    k = candidate_events + baseline_events
    if not candidate_n or not baseline_n or not k:
        return {"e_value": 1.0, "share": candidate_n / total_n if total_n else None, "events": k}
    share = candidate_n / total_n
    null = _log_likelihood(candidate_events, k, share)
    terms = []
    for ratio in RATIO_GRID:
        p = ratio * share / (ratio * share + 1 - share)
        terms.append(_log_likelihood(candidate_events, k, p) - null)
    top = max(terms)
    log_e = top + math.log(sum(math.exp(t - top) for t in terms) / len(terms))
    return {"e_value": math.exp(min(log_e, 700.0)), "share": round(share, 4), "events": k}


def mixture_radius(*, variance: float, alpha: float, tau: float) -> float:
    """Half-width of the always-valid normal-mixture confidence sequence (Johari et al. 2017, eq. 11)."""
    if variance <= 0:
        return 0.0
    tau2 = tau * tau
    return math.sqrt(
        variance * (variance + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((variance + tau2) / variance))
    )


def win_rate_variance(win_rate: float, n_candidate: int, n_baseline: int) -> float:
    """Variance of the Mann–Whitney win-rate (AUC), Hanley & McNeil (1982); kept away from 0 and 1."""
    a = min(max(win_rate, 0.5 / (n_candidate * n_baseline + 1)), 1 - 0.5 / (n_candidate * n_baseline + 1))
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    return (a * (1 - a) + (n_candidate - 1) * (q1 - a * a) + (n_baseline - 1) * (q2 - a * a)) / (
        n_candidate * n_baseline
    )


def rate_difference_bounds(
    *, candidate_events: int, candidate_n: int, baseline_events: int, baseline_n: int, alpha: float, tau: float
) -> tuple[float, float, float]:
    """(difference, lower, upper) of candidate − baseline event rates, always valid.

    Each rate is estimated with one pseudo-event in two pseudo-traces added (Agresti–Caffo), so zero
    events still give an honest, non-zero width.
    """
    pc = (candidate_events + 1) / (candidate_n + 2)
    pb = (baseline_events + 1) / (baseline_n + 2)
    variance = pc * (1 - pc) / (candidate_n + 2) + pb * (1 - pb) / (baseline_n + 2)
    radius = mixture_radius(variance=variance, alpha=alpha, tau=tau)
    difference = (candidate_events / candidate_n if candidate_n else 0.0) - (
        baseline_events / baseline_n if baseline_n else 0.0
    )
    return difference, pc - pb - radius, pc - pb + radius
