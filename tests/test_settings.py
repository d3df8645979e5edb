"""The training settings: one definition, the same defaults and checks through every door."""

import inspect

import pytest

from digitnet import settings


@pytest.mark.parametrize(
    ("values", "python", "flags"),
    [
        ({"lam": -1}, "lam must be >= 0, got -1", "--lam must be >= 0, got -1"),
        ({"lam": float("nan")}, "lam must be a finite number", "--lam must be a finite number"),
        ({"max_iter": 0}, "max_iter must be >= 1", "--max-iter must be >= 1"),
        ({"batch_size": 2.5}, "batch_size must be an integer", "--batch-size must be an integer"),
        ({"momentum": 1}, "momentum must be < 1", "--momentum must be < 1"),
        ({"learning_rate": 0}, "learning_rate must be > 0", "--lr must be > 0"),
        ({"solver": "newton"}, "solver must be one of lbfgs, cg", "--solver must be one of"),
        ({"hidden_layer_sizes": (3, 0)}, "hidden_layer_sizes must be", "--hidden must be"),
        ({"random_state": 1.5}, "random_state must be a non-negative int", "--seed must be a non"),
        ({"random_state": -1}, "random_state must be a non-negative int", "--seed must be a non"),
        ({"activation": "swish"}, "activation must be one of sigmoid, tanh", "--activation must"),
        ({"output": "linear"}, "output must be one of sigmoid, softmax", "--output must be"),
        ({"dropout": 1.0}, "dropout must be < 1", "--dropout must be < 1"),
        ({"schedule": "linear"}, "schedule must be one of constant", "--schedule must be"),
        ({"init_epsilon": "big"}, "init_epsilon must be a finite number", "--init-epsilon must"),
        (
            {"solver": "lbfgs", "dropout": 0.2},
            "dropout needs a mini-batch solver .adam, sgd., not lbfgs",
            "--dropout needs a mini-batch solver",
        ),
        (
            {"solver": "cg", "augment": True},
            "augment needs a mini-batch solver",
            "--augment needs a mini-batch solver",
        ),
        (
            {"solver": "lbfgs", "schedule": "cosine"},
            "schedule cosine needs a mini-batch solver",
            "--schedule cosine needs a mini-batch solver",
        ),
        (
            {"solver": "adam", "nesterov": True},
            "nesterov is a momentum of sgd, not of adam",
            "--nesterov is a momentum of sgd",
        ),
        (
            {"early_stopping": True, "validation_fraction": 0},
            "early_stopping needs a validation set: validation_fraction > 0",
            "--early-stopping needs a validation set: --validation > 0",
        ),
    ],
)
def test_errors_name_the_setting_in_the_words_of_the_door(values, python, flags):
    with pytest.raises(settings.SettingError, match=python.replace("(", r"\(")):
        settings.check(values)
    with pytest.raises(settings.SettingError, match=flags):
        settings.check(values, lambda name: settings.SETTINGS[name].flag)


def test_defaults_that_depend_on_other_settings():
    assert settings.max_iter_for("lbfgs", None) == 100 and settings.max_iter_for("adam", None) == 20
    assert settings.max_iter_for("sgd", 7) == 7
    assert settings.validation_fraction_for(None, early_stopping=True) == 0.1
    assert settings.validation_fraction_for(None, early_stopping=False) == 0.0
    assert settings.validation_fraction_for(None, True, has_validation_data=True) == 0.0
    assert settings.validation_fraction_for(0.3, early_stopping=False) == 0.3


def test_hidden_sizes_take_an_int_or_a_sequence():
    assert settings.hidden_sizes(25) == (25,)
    assert settings.hidden_sizes([8, 6]) == (8, 6)
    assert settings.hidden_sizes(()) == ()
    for bad in (0, "25", (1.5,), None, True, (3, -1)):
        with pytest.raises(ValueError, match="hidden_layer_sizes must be positive integers"):
            settings.hidden_sizes(bad)


def test_every_door_has_every_setting_with_its_default():
    from digitnet import DigitNetClassifier, cli, train

    doors = {
        "train.train": inspect.signature(train.train).parameters,
        "DigitNetClassifier": inspect.signature(DigitNetClassifier).parameters,
    }
    options = {param.name: param for param in cli.train.params}
    given = cli.train.make_context("train", []).params  # what the command gets without flags
    for name, setting in settings.SETTINGS.items():
        for door, parameters in doors.items():
            assert parameters[name].default == setting.default, (door, name)
        assert setting.flag in options[name].opts, name
        if name == "hidden_layer_sizes":  # repeated: none given means the default
            assert given[name] == ()
        else:
            assert given[name] == setting.default, name


def test_the_choices_are_the_networks_tables():
    from digitnet import network

    assert settings.ACTIVATIONS == tuple(network.HIDDEN_ACTIVATIONS)
    assert settings.OUTPUTS == tuple(network.OUTPUT_LOSSES)


def test_init_epsilon_auto_is_the_courses_only_for_the_courses_network():
    assert settings.init_epsilon_for("auto", "sigmoid", "sigmoid") == 0.12
    assert settings.init_epsilon_for("auto", "relu", "sigmoid") is None
    assert settings.init_epsilon_for("auto", "sigmoid", "softmax") is None
    assert settings.init_epsilon_for(0.5, "relu", "softmax") == 0.5
    assert settings.init_epsilon_for(None, "sigmoid", "sigmoid") is None
