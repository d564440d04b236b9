import random

import pytest

from rollout.sequential import mixture_radius, rate_difference_bounds, rate_evidence, win_rate_variance


def evidence(x, n, y, m):
    return rate_evidence(candidate_events=x, candidate_n=n, baseline_events=y, baseline_n=m)["e_value"]


def test_with_no_event_there_is_no_evidence():
    assert evidence(0, 50, 0, 50) == 1.0


def test_a_candidate_with_fewer_events_than_its_share_gives_evidence_below_one():
    assert evidence(1, 50, 9, 50) < 0.1


def test_twenty_of_twenty_two_errors_in_a_half_share_is_strong_evidence():
    assert evidence(20, 40, 2, 40) > 1000


def test_the_share_is_the_candidates_share_of_traces():
    assert rate_evidence(candidate_events=1, candidate_n=5, baseline_events=1, baseline_n=95)["share"] == 0.05


def test_under_the_null_the_evidence_rarely_reaches_one_over_alpha_across_many_looks():
    rng = random.Random(7)
    alarms = 0
    for _ in range(300):
        x = n = y = m = 0
        for _look in range(60):
            for _ in range(20):
                if rng.random() < 0.1:
                    n += 1
                    x += rng.random() < 0.05
                else:
                    m += 1
                    y += rng.random() < 0.05
            if evidence(x, n, y, m) >= 100:
                alarms += 1
                break
    assert alarms / 300 <= 0.02


def test_the_confidence_radius_shrinks_as_the_variance_does():
    assert mixture_radius(variance=0.001, alpha=0.05, tau=0.1) < mixture_radius(variance=0.01, alpha=0.05, tau=0.1)


def test_zero_variance_gives_zero_radius():
    assert mixture_radius(variance=0.0, alpha=0.05, tau=0.1) == 0.0


def test_win_rate_variance_of_a_coin_on_ten_by_ten_pairs_matches_hanley_mcneil():
    assert win_rate_variance(0.5, 10, 10) == pytest.approx(0.01750, abs=1e-4)


def test_rate_difference_bounds_hold_zero_events_with_an_honest_width():
    difference, lower, upper = rate_difference_bounds(
        candidate_events=0, candidate_n=45, baseline_events=1, baseline_n=800, alpha=0.05, tau=0.02
    )
    assert difference < 0 and lower < 0 < upper
