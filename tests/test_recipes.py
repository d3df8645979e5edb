"""Recipes: valid settings, listed by `digitnet recipes`, overridden by flags, and each one learns."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_file

from digitnet import data, model_io, settings
from digitnet import train as training
from digitnet.recipes import RECIPES

DIGITNET = str(Path(sys.executable).with_name("digitnet"))


def run(*args, cwd=None):
    result = subprocess.run(
        [DIGITNET, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )
    assert result.returncode == 0, f"digitnet {args} exited {result.returncode}:\n{result.stderr}"
    return result


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_is_a_valid_set_of_training_settings(name):
    recipe = dict(RECIPES[name].settings)
    assert recipe.pop("dtype", "float32") in ("float32", "float64")
    assert set(recipe) <= set(settings.SETTINGS)
    settings.check(recipe)  # raises naming the setting when a value is out of range


def test_the_course_recipe_is_the_default():
    for name, value in RECIPES["course"].settings.items():
        expected = settings.DEFAULTS[name]
        if name == "max_iter":
            expected = settings.max_iter_for("lbfgs", expected)
        assert value == expected, name


def test_recipes_command_lists_each_recipe_and_its_settings():
    listed = run("recipes").stdout
    for name, recipe in RECIPES.items():
        assert f"{name}: " in listed
        for setting, value in recipe.settings.items():
            assert f"{setting} = {value!r}" in listed


@pytest.fixture(scope="module")
def mnist_slice(tmp_path_factory):
    """1000 training and 500 test digits of mnist-8k, as an .npz and as arrays."""
    source = shared_file("mnist-8k")
    train = data.load(str(source), split="train", dtype=np.float32)
    test = data.load(str(source), split="test", dtype=np.float32)
    path = tmp_path_factory.mktemp("data") / "mnist1000.npz"
    np.savez(path, X=train.X[:1000], y=train.y[:1000], image_shape=train.image_shape)
    return path, train, test


def test_flags_given_win_over_the_recipe(tmp_path, mnist_slice):
    path, _, _ = mnist_slice
    out = tmp_path / "m.npz"
    run("train", "--data", path, "--recipe", "mnist", "--hidden", 32, "--epochs", 2, "--out", out)
    model = model_io.load(out)
    assert model.layer_sizes == [784, 32, 10]  # --hidden, not the recipe's (512, 256)
    assert model.info["n_iter"] == 2  # --epochs, not the recipe's 60
    assert (model.activation, model.output) == ("relu", "softmax")  # the recipe's
    assert model.info["dropout"] == 0.3 and model.info["augment"] is True
    assert model.info["recipe"] == "mnist"
    assert model.dtype == np.float32


def test_a_full_batch_solver_given_leaves_out_the_recipes_mini_batch_settings(tmp_path):
    out = tmp_path / "m.npz"
    result = run("train", "--recipe", "mnist", "--solver", "lbfgs", "--max-iter", 2, "--hidden", 8,
                 "--out", out)  # fmt: skip
    assert "--recipe mnist: --dropout, --augment, --schedule left out: they need a mini" in (
        result.stderr
    )
    model = model_io.load(out)
    assert model.info["solver"] == "lbfgs" and model.info["n_iter"] == 2
    assert model.info["dropout"] == 0 and model.info["augment"] is False
    assert (model.activation, model.output) == ("relu", "softmax")  # the recipe's, still


def test_a_recipe_on_resume_brings_its_training_settings_not_its_network(tmp_path):
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    run("train", "--max-iter", 3, "--out", first)  # the course's 64-25-10 sigmoid network
    run("train", "--resume", first, "--recipe", "mnist", "--epochs", 1, "--out", second)
    model = model_io.load(second)
    assert model.layer_sizes == [64, 25, 10]
    assert (model.activation, model.output) == ("sigmoid", "sigmoid")
    assert model.info["solver"] == "adam" and model.info["dropout"] == 0.3  # the recipe's


def test_the_mnist_recipe_learns_on_a_slice(mnist_slice):
    _, train, test = mnist_slice
    recipe = {**RECIPES["mnist"].settings, "max_iter": 5}
    model = training.train(
        train.X[:1000],
        train.y[:1000],
        image_shape=train.image_shape,
        pixel_order=train.pixel_order,
        **recipe,
    )
    assert np.mean(model.predict(test.X[:500]) == test.y[:500]) > 0.85


def test_the_fashion_recipe_learns_on_a_slice():
    if not data.FASHION_MNIST_DIR.is_dir():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    train = data.load("fashion-mnist", split="train", dtype=np.float32)
    test = data.load("fashion-mnist", split="test", dtype=np.float32)
    recipe = {**RECIPES["fashion"].settings, "max_iter": 2}
    model = training.train(train.X[:3000], train.y[:3000], **recipe)
    assert np.mean(model.predict(test.X[:1000]) == test.y[:1000]) > 0.75


def test_the_course_recipe_learns_the_embedded_digits(tmp_path):
    out = tmp_path / "course.npz"
    result = run("train", "--recipe", "course", "--out", out)
    accuracy = float(result.stdout.split("test accuracy: ")[1].split("%")[0])
    assert accuracy > 90
    assert model_io.load(out).layer_sizes == [64, 25, 10]
