"""The offline grader, on learner solutions written for these tests (tests/learner_solutions/).

Each file is what a learner might hand in: correct in one of the conventions, or with one classic
mistake, or broken (hard-coded, hanging, crashing, not parsing). The grader must pass exactly the
right parts and name the mistake.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from digitnet import grade

SOLUTIONS = Path(__file__).parent / "learner_solutions"
DIGITNET = str(Path(sys.executable).with_name("digitnet"))
NET_PARTS = {"cost", "regularized_cost", "gradient", "regularized_gradient"}
ALL_PARTS = {"sigmoid_gradient", "rand_initialize_weights", "predict", *NET_PARTS}


def graded(name: str, timeout: float = 60, seed: int = 0) -> grade.Report:
    return grade.grade(SOLUTIONS / f"{name}.py", timeout=timeout, seed=seed)


def failed(report: grade.Report) -> dict[str, str]:
    return {part.name: part.hint for part in report.parts if not part.passed}


@pytest.mark.parametrize(
    "name, conventions, numerical",
    [
        ("course_style", {"unroll": "F", "labels": "1..K", "y": "(m, 1) or (m,)", "names": "camelCase"}, True),
        ("port_style", {"unroll": "C", "labels": "0..K-1", "y": "(m,)", "names": "snake_case"}, True),
        ("loops_style", {"unroll": "F", "labels": "1..K", "y": "(m, 1)", "names": "camelCase"}, False),
    ],
)  # fmt: skip
def test_a_correct_solution_passes_every_part_in_its_conventions(name, conventions, numerical):
    report = graded(name, seed=len(name))
    assert failed(report) == {}
    assert report.passed
    assert report.conventions == conventions
    expected_parts = ALL_PARTS | ({"numerical_gradient"} if numerical else set())
    assert {part.name for part in report.parts} == expected_parts
    for part in report.parts:
        assert part.max_error < 1e-6, part


@pytest.mark.parametrize(
    "name, parts, hint",
    [
        ("bias_regularized", {"regularized_cost", "regularized_gradient"}, "bias column"),
        ("mixed_order", {"gradient", "regularized_gradient"}, "read column-major (F"),
        ("missing_one_over_m", {"gradient", "regularized_gradient"}, "missing 1/m"),
        ("lam_over_m", {"regularized_cost"}, "lam/(2m)"),
        ("predict_zero_based", {"predict"}, "predict returns labels 0..K-1, shifted by one from the labels 1..K"),
        ("ten_as_zero", {"predict"}, "digit 0 as 10"),
        ("sigmoid_of_z_formula", {"sigmoid_gradient", "gradient", "regularized_gradient"}, "(1 - z"),
        ("backprop_of_a", {"gradient", "regularized_gradient"}, "sigmoid_gradient(a2)"),
        ("one_sided", {"numerical_gradient"}, "one-sided"),
        ("central_over_e", {"numerical_gradient"}, "divided by e, which gives twice the gradient"),
        ("no_regularization", {"regularized_cost", "regularized_gradient"}, "regularization term is missing"),
        ("half_gradient_penalty", {"regularized_gradient"}, "the gradient's penalty uses lam/(2m)"),
        ("second_bias_regularized", {"regularized_cost", "regularized_gradient"}, "bias column"),
        ("symmetric_init", {"rand_initialize_weights"}, "symmetry is never broken"),
    ],
)  # fmt: skip
def test_each_classic_mistake_fails_exactly_its_parts_with_its_hint(name, parts, hint):
    report = graded(name, seed=len(name))
    assert set(failed(report)) == parts
    for part in parts:
        assert hint in failed(report)[part], (part, failed(report)[part])
    assert not report.passed


def test_the_mixed_order_solution_still_has_its_conventions_found():
    report = graded("mixed_order")
    assert report.conventions["unroll"] == "F"
    assert "row-major" in failed(report)["gradient"]


def test_hard_coded_published_numbers_never_pass():
    report = graded("hard_coded")
    assert set(failed(report)) == ALL_PARTS
    assert "same value for every test case" in failed(report)["cost"]
    assert failed(report)["gradient"].startswith("returned shape (10285,)")
    assert report.conventions["unroll"] is None  # nothing right: no convention claimed


def test_a_hanging_part_is_stopped_at_the_learners_line_and_the_rest_is_graded():
    report = graded("hanging", timeout=3)
    assert set(failed(report)) == {"predict"}
    # The loop is two lines; the stop may land on either.
    assert failed(report)["predict"] in (
        "took longer than 3 s and was stopped at hanging.py line 13: `while not done:`",
        "took longer than 3 s and was stopped at hanging.py line 14: `pass`",
    )


@pytest.mark.parametrize(
    "name, part, hint",
    [
        ("crashing", "rand_initialize_weights", "crashed the Python process (Segmentation fault) at crashing.py line 9: `return ctypes.string_at(0)`"),
        ("exiting", "predict", "ended the Python process (exit code 3)"),
        ("raising", "predict", "predict raised NameError: name 'one' is not defined at raising.py line 17: `return np.argmax(h2, axis=1) + one`"),
    ],
)  # fmt: skip
def test_a_crash_or_exception_fails_its_part_in_one_line(name, part, hint):
    report = graded(name)
    assert failed(report) == {part: hint}


def test_a_file_that_does_not_parse_fails_every_part_with_its_line():
    report = graded("syntax_error")
    line = "could not import syntax_error.py: SyntaxError: expected ':' at syntax_error.py line 6: `def sigmoidGradient(z)`"
    assert failed(report) == dict.fromkeys(ALL_PARTS, line)
    assert report.table().count(line) == 1


def test_missing_functions_are_named(tmp_path):
    solution = tmp_path / "only_sigmoid.py"
    solution.write_text(
        "import numpy as np\n\ndef sigmoid_gradient(z):\n    g = 1 / (1 + np.exp(-z))\n    return g * (1 - g)\n"
    )
    report = grade.grade(solution, seed=0)
    assert failed(report)["cost"] == (
        "no function nn_cost_function or nnCostFunction in only_sigmoid.py"
    )
    assert set(failed(report)) == ALL_PARTS - {"sigmoid_gradient"}
    assert report.conventions == {"unroll": None, "labels": None, "y": None, "names": "snake_case"}


def test_learner_code_cannot_change_the_cases(tmp_path):
    """A function that overwrites its arguments in place must not spoil the next call's input."""
    source = (SOLUTIONS / "port_style.py").read_text()
    source = source.replace("    m = y.size\n", "    m = y.size\n    y_original = y.copy()\n")
    source = source.replace(
        "    return J, grad\n", "    y[:] = 0\n    X[:] = 0\n    return J, grad\n"
    )
    (tmp_path / "port_style.py").write_text(source)
    assert graded_path(tmp_path / "port_style.py").passed


def graded_path(path: Path) -> grade.Report:
    return grade.grade(path, seed=3)


def run(*args):
    return subprocess.run([DIGITNET, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_cli_json_has_the_documented_schema_and_exit_codes():
    result = run("grade", SOLUTIONS / "lam_over_m.py", "--json", "--seed", 5)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"conventions", "parts", "score"}
    assert report["score"] == {"passed": 7, "total": 8}
    for part in report["parts"]:
        assert set(part) == {"name", "passed", "expected", "got", "max_error", "hint"}
    wrong = next(p for p in report["parts"] if not p["passed"])
    assert wrong["name"] == "regularized_cost"
    assert isinstance(wrong["expected"], float) and isinstance(wrong["got"], float)
    assert wrong["max_error"] == pytest.approx(abs(wrong["got"] - wrong["expected"]))

    result = run("grade", SOLUTIONS / "course_style.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "score: 8 of 8 parts passed" in result.stdout
    assert "column-major (F, the course's Octave)" in result.stdout


def test_cli_refuses_a_missing_file_a_bad_timeout_and_octave_code(tmp_path):
    assert run("grade", tmp_path / "nope.py").returncode == 2
    assert run("grade", SOLUTIONS / "course_style.py", "--timeout", 0).returncode == 2
    octave = tmp_path / "nnCostFunction.m"
    octave.write_text("function [J grad] = nnCostFunction(nn_params)\nend\n")
    result = run("grade", octave)
    assert result.returncode == 1
    assert (
        result.stderr
        == f"digitnet: error: {octave}: not a Python file (.py); digitnet grade reads Python code\n"
    )


def test_digitnet_ex4_itself_passes_in_the_course_conventions(tmp_path):
    """digitnet.ex4 is the course's functions in the course's conventions: a full score."""
    solution = tmp_path / "ex4_reexported.py"
    solution.write_text("from digitnet.ex4 import *  # noqa: F403\n")
    report = grade.grade(solution, seed=11)
    assert failed(report) == {}
    assert report.conventions == {
        "unroll": "F",
        "labels": "1..K",
        "y": "(m, 1) or (m,)",
        "names": "snake_case",
    }
    assert "numerical_gradient" in {part.name for part in report.parts}


def test_a_cost_function_without_its_gradient_is_graded_on_the_cost(tmp_path):
    solution = tmp_path / "cost_only.py"
    solution.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(SOLUTIONS)!r})\n"
        "import course_style\n\n"
        "def nnCostFunction(*args):\n"
        "    return course_style.nnCostFunction(*args)[0]\n"
    )
    report = grade.grade(solution, seed=2)
    assert {"cost", "regularized_cost"}.isdisjoint(failed(report))
    assert (
        failed(report)["gradient"] == "nn_cost_function returned only J; it must return (J, grad)"
    )
    assert report.conventions["unroll"] == "F"


def test_a_seed_repeats_the_cases_and_none_draws_new_ones():
    first, again = graded("lam_over_m", seed=4), graded("lam_over_m", seed=4)
    for mine, other in zip(first.to_json()["parts"], again.to_json()["parts"]):
        if mine["name"] != "rand_initialize_weights":  # the learner's own random weights
            assert mine == other
    assert "--seed 4 repeats them" in first.table()
    fresh = grade.grade(SOLUTIONS / "lam_over_m.py")
    assert fresh.seed != 4
    assert fresh.to_json()["parts"][1]["expected"] != first.to_json()["parts"][1]["expected"]


def test_an_answer_that_is_not_numbers_is_named(tmp_path):
    solution = tmp_path / "words.py"
    solution.write_text("def sigmoid_gradient(z):\n    return 'a quarter'\n")
    report = grade.grade(solution, seed=0)
    hint = failed(report)["sigmoid_gradient"]
    assert hint.startswith("sigmoid_gradient returned str, not numbers"), hint
