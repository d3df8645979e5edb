"""The Model: label decoding, shape checks, upright images."""

import numpy as np
import pytest

from digitnet import network
from digitnet.labels import COURSE_DIGITS, LabelMap
from digitnet.model import Model


def test_course_weights_decode_to_digits(mnist20, ex4_weights):
    X, y = mnist20
    digits = y % 10  # the course writes 0 as 10
    model = Model(ex4_weights, LabelMap(COURSE_DIGITS), (20, 20), "F")
    assert model.layer_sizes == [400, 25, 10]
    assert np.mean(model.predict(X) == digits) == pytest.approx(0.952, abs=0.005)


def test_images_are_upright_for_both_pixel_orders():
    image = np.arange(6.0).reshape(2, 3)  # 2 rows, 3 columns
    thetas = [np.zeros((2, 7))]
    for order in "CF":
        model = Model(thetas, LabelMap([0, 1]), (2, 3), order)
        row = image.ravel(order=order)[None, :]
        np.testing.assert_array_equal(model.images(row)[0], image)


def test_inconsistent_parts_are_refused():
    thetas = network.unpack(np.zeros(network.n_params([4, 3, 2])), [4, 3, 2])
    with pytest.raises(ValueError, match="3 labels for 2 output units"):
        Model(thetas, LabelMap([0, 1, 2]), (2, 2))
    with pytest.raises(ValueError, match=r"image shape \(3, 3\) does not hold 4 inputs"):
        Model(thetas, LabelMap([0, 1]), (3, 3))
    with pytest.raises(ValueError, match="do not chain"):
        Model([np.zeros((3, 5)), np.zeros((2, 3))], LabelMap([0, 1]), (2, 2))
    with pytest.raises(ValueError, match="do not chain"):
        Model([np.zeros(5)], LabelMap([0, 1]), (2, 2))
    with pytest.raises(ValueError, match="do not chain"):
        Model([], LabelMap([0, 1]), (2, 2))
    with pytest.raises(ValueError, match=r"\(2, 1, 2\) is not \(height, width\)"):
        Model(thetas, LabelMap([0, 1]), (2, 1, 2))
    with pytest.raises(
        ValueError, match=r"all float64 or all float32, got \['float32', 'float64'\]"
    ):
        Model([thetas[0].astype(np.float32), thetas[1]], LabelMap([0, 1]), (2, 2))
    with pytest.raises(ValueError, match=r"got \['int64'\]"):
        Model([np.zeros((3, 5), dtype=np.int64)], LabelMap([0, 1, 2]), (2, 2))
    model = Model(thetas, LabelMap([0, 1]), (2, 2))
    with pytest.raises(ValueError, match=r"reads 4 inputs per example \(2x2 images\)"):
        model.predict(np.zeros((3, 5)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_or_non_numeric_input_is_refused_not_predicted(bad):
    model = Model(
        network.unpack(np.ones(network.n_params([4, 3, 2])), [4, 3, 2]), LabelMap([0, 1]), (2, 2)
    )
    X = np.zeros((3, 4))
    X[2, 1] = bad
    for predict in (model.predict, model.predict_proba, model.decision_function):
        with pytest.raises(ValueError, match=r"1 non-finite values .* first is in row 2"):
            predict(X)
    with pytest.raises(ValueError, match="not numeric"):
        model.predict(np.full((1, 4), None))
    with pytest.raises(ValueError, match="complex"):
        model.predict(np.zeros((1, 4), dtype=complex))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_predictions_are_computed_in_the_models_dtype_whatever_the_input(dtype):
    rng = np.random.default_rng(0)
    theta = rng.normal(size=network.n_params([4, 3, 2]))
    model = Model(
        [t.astype(dtype) for t in network.unpack(theta, [4, 3, 2])], LabelMap([0, 1]), (2, 2)
    )
    for given in (np.float32, np.float64, np.int64):
        X = (rng.uniform(size=(6, 4)) * 10).astype(given)
        logits = model.decision_function(X)
        assert logits.dtype == dtype
        np.testing.assert_array_equal(logits, model.decision_function(X.astype(dtype)))


def test_probabilities_sum_to_one_and_rank_like_the_outputs(mnist20, ex4_weights):
    X, _ = mnist20
    model = Model(ex4_weights, LabelMap(COURSE_DIGITS), (20, 20), "F")
    proba = model.predict_proba(X[:50])
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    raw = model.activations(X[:50])[-1]
    np.testing.assert_array_equal(proba.argmax(axis=1), raw.argmax(axis=1))


def test_probabilities_where_every_output_underflows():
    # z = -800 and -801 on the two outputs: both sigmoids are 0 in float64, their ratio is e.
    thetas = [np.array([[-800.0, 0.0], [-801.0, 0.0]])]
    model = Model(thetas, LabelMap([0, 1]), (1, 1))
    proba = model.predict_proba(np.zeros((1, 1)))
    np.testing.assert_allclose(proba, [[np.e / (1 + np.e), 1 / (1 + np.e)]], rtol=1e-12)


def saturated_model() -> Model:
    """Outputs whose logits are 40, 50 and -50 for every input: sigmoids 1.0, 1.0 and ~0."""
    theta1 = np.zeros((2, 5))
    theta2 = np.zeros((3, 3))
    theta2[:, 0] = [40.0, 50.0, -50.0]
    return Model([theta1, theta2], LabelMap(["a", "b", "c"]), (2, 2), "C")


def test_every_predict_is_the_argmax_of_the_logits():
    from digitnet import DigitNetClassifier, report

    model = saturated_model()
    X = np.random.default_rng(0).uniform(size=(4, 4))
    assert (network.predict_proba(model.thetas, X)[:, :2] == 1.0).all()  # a tie after the sigmoid
    np.testing.assert_array_equal(network.predict(model.thetas, X), [1, 1, 1, 1])
    np.testing.assert_array_equal(model.predict(X), ["b"] * 4)
    assert report.Evaluation.of(model, X, np.array(["b"] * 4), "x").accuracy == 1.0
    np.testing.assert_array_equal(DigitNetClassifier._from_model(model).predict(X), ["b"] * 4)


def test_repr_is_one_informative_line():
    thetas = network.unpack(np.zeros(network.n_params([4, 3, 2])), [4, 3, 2])
    model = Model(
        thetas,
        LabelMap(["cat", "dog"]),
        (2, 2),
        "F",
        info={"solver": "lbfgs", "lam": 1.0, "n_iter": 7, "stop_reason": "max_iter"},
        history={"cost": np.array([0.9, 0.5])},
    )
    text = repr(model)
    assert "\n" not in text
    for fact in ("4-3-2", "2 classes [cat, dog]", "2x2 images", "F-order", "float64"):
        assert fact in text
    for fact in ("lbfgs", "lam 1", "7 iterations", "cost 0.5"):
        assert fact in text


def test_html_card_escapes_labels_and_shows_the_architecture():
    thetas = network.unpack(np.zeros(network.n_params([4, 3, 2])), [4, 3, 2])
    card = Model(thetas, LabelMap(["<b>", "&"]), (2, 2))._repr_html_()
    assert card.startswith("<table>") and card.endswith("</table>")
    assert "4-3-2 sigmoid" in card
    assert "&lt;b&gt;" in card and "<b>" not in card
