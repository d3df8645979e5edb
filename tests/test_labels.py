"""Label maps: any labels in, output units out, and back."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from digitnet.labels import COURSE_DIGITS, LabelMap


def test_string_labels_round_trip():
    y = np.array(["cat", "dog", "cat", "bird"])
    labels = LabelMap.fit(y)
    assert labels.classes == ("bird", "cat", "dog")
    np.testing.assert_array_equal(labels.encode(y), [1, 2, 1, 0])
    np.testing.assert_array_equal(labels.decode(labels.encode(y)), y)
    np.testing.assert_array_equal(labels.one_hot(y)[3], [1, 0, 0])


def test_the_course_conventions_are_explicit():
    # The course's weights: unit k means digit (k + 1) % 10, so the digit 0 sits on unit 9.
    digits = LabelMap(COURSE_DIGITS)
    np.testing.assert_array_equal(digits.encode([0, 1, 9]), [9, 0, 8])
    # The course's own labels 1..10 ("10" for the digit 0) on units 0..9.
    course = LabelMap(range(1, 11))
    np.testing.assert_array_equal(course.encode([10, 1]), [9, 0])


def test_bad_labels_are_named():
    with pytest.raises(ValueError, match="at least 2 classes, got 1 class"):
        LabelMap.fit([3, 3, 3])
    with pytest.raises(ValueError, match="distinct"):
        LabelMap([1, 1, 2])
    with pytest.raises(ValueError, match=r"labels \[7\] are not among"):
        LabelMap([0, 1]).encode([0, 7])


@given(st.lists(st.integers(-5, 5), min_size=2).filter(lambda v: len(set(v)) >= 2))
def test_encode_decode_is_the_identity(values):
    y = np.array(values)
    labels = LabelMap.fit(y)
    np.testing.assert_array_equal(labels.decode(labels.encode(y)), y)
    assert labels.one_hot(y).sum() == len(y)


def test_one_hot_in_column_major_order_holds_the_same_targets():
    y = np.array([2, 0, 1, 2, 0])
    labels = LabelMap.fit(y)
    by_unit = labels.one_hot(y, dtype=np.float32, order="F")
    assert by_unit.flags.f_contiguous and by_unit.dtype == np.float32
    # One 1 per row, at the row's unit, whichever the layout.
    np.testing.assert_array_equal(by_unit, np.eye(3)[labels.encode(y)])
    np.testing.assert_array_equal(by_unit, labels.one_hot(y))
