import pytest

from labeling.agreement import krippendorff_alpha

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 coders, 12 units,
# missing values. Published: nominal .743, ordinal .815, interval .849.
CODERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
UNITS = [[value for value in unit if value is not None] for unit in zip(*CODERS, strict=True)]


@pytest.mark.parametrize(("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_it_matches_krippendorffs_worked_example(level, expected):
    assert krippendorff_alpha(UNITS, level=level) == pytest.approx(expected, abs=0.0005)


def test_it_gives_one_for_perfect_agreement():
    assert krippendorff_alpha([[1, 1], [3, 3], [5, 5]], level="ordinal") == pytest.approx(1.0)


def test_it_ignores_units_with_a_single_value():
    with_single = UNITS + [[4], [2]]
    assert krippendorff_alpha(with_single, level="interval") == pytest.approx(
        krippendorff_alpha(UNITS, level="interval")
    )


def test_it_is_undefined_without_pairable_values_or_variation():
    assert krippendorff_alpha([[3], [4]]) is None
    assert krippendorff_alpha([[3, 3], [3, 3]]) is None


def test_it_rejects_an_unknown_level():
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha(UNITS, level="ratio-ish")
