"""An offline grader for a learner's own implementation of the course's exercise.

``grade(path)`` runs the learner's Python file **in a separate process**, calls its functions (the
course's names, snake_case or camelCase) on test cases generated afresh for every run, and compares
every answer with digitnet's own core (``network``), which is tested independently. The answers
also tell which conventions the learner follows: parameters unrolled column-major (the course's
Octave) or row-major (the popular Python port), labels ``1..K`` or ``0..K-1``, ``y`` as ``(m,)`` or
``(m, 1)``. A wrong answer is matched against the values the classic mistakes would give (bias
column regularized, the other unroll order, missing ``1/m``, ...) to name the mistake in a hint.

The learner's process gets ``timeout`` seconds for its import and for each part; a hang, a crash,
an exception or a syntax error there becomes one line naming the part and the learner's line.

Parts, each passed or failed: ``sigmoid_gradient``, ``cost`` (lam 0), ``regularized_cost``,
``gradient`` (lam 0), ``regularized_gradient``, ``rand_initialize_weights``, ``predict``, and
``numerical_gradient`` when the file defines ``compute_numerical_gradient``.
"""

from __future__ import annotations

import faulthandler
import importlib.util
import json
import linecache
import os
import re
import secrets
import subprocess
import sys
import tempfile
import traceback
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from digitnet import network

# The course's function names: snake_case (digitnet.ex4, the Python port) and camelCase (Octave).
FUNCTION_NAMES = {
    "sigmoid_gradient": ("sigmoid_gradient", "sigmoidGradient"),
    "nn_cost_function": ("nn_cost_function", "nnCostFunction"),
    "rand_initialize_weights": ("rand_initialize_weights", "randInitializeWeights"),
    "predict": ("predict",),
    "compute_numerical_gradient": ("compute_numerical_gradient", "computeNumericalGradient"),
}
# Each group of calls runs under one time limit; a group that hangs or crashes fails its parts.
GROUP_PARTS = {
    "sigmoid_gradient": ("sigmoid_gradient",),
    "cost": ("cost", "gradient"),
    "regularized": ("regularized_cost", "regularized_gradient"),
    "rand_initialize_weights": ("rand_initialize_weights",),
    "predict": ("predict",),
    "numerical_gradient": ("numerical_gradient",),
}
PART_FUNCTION = {
    "sigmoid_gradient": "sigmoid_gradient",
    "cost": "nn_cost_function",
    "regularized_cost": "nn_cost_function",
    "gradient": "nn_cost_function",
    "regularized_gradient": "nn_cost_function",
    "rand_initialize_weights": "rand_initialize_weights",
    "predict": "predict",
    "numerical_gradient": "compute_numerical_gradient",
}
ORDER_WORDS = {"F": "column-major (F, the course's Octave)", "C": "row-major (C, the Python port)"}
LABEL_WORDS = {1: "1..K", 0: "0..K-1"}
Y_SHAPES = ("(m, 1)", "(m,)")
Order = Literal["C", "F"]  # how nn_params are unrolled, as network.pack takes it
Convention = tuple[Order, int, str]  # (unroll order, label offset, y shape)
# The course's conventions first: ties go to the earlier one.
ORDERS_AND_OFFSETS: tuple[tuple[Order, int], ...] = (("F", 1), ("C", 0), ("F", 0), ("C", 1))
CONVENTIONS: list[Convention] = [
    (order, offset, shape) for order, offset in ORDERS_AND_OFFSETS for shape in Y_SHAPES
]
RTOL, ATOL = 1e-6, 1e-9  # a correct float64 answer differs from digitnet's by ~1e-15
NUMERIC_ATOL = 1e-6  # central differences (e = 1e-4) err by ~1e-9 here, one-sided ones by ~1e-4
INIT_EPSILON = network.COURSE_EPSILON

HINTS = {
    "bias": "the bias column Theta[:, 0] is regularized; the penalty (and its gradient) leaves "
    "column 0 out",
    "lam_over_m": "the penalty uses lam/m; the cost's is lam/(2m) (only its gradient has lam/m)",
    "no_penalty": "the regularization term is missing: the cost adds lam/(2m) times the sum of "
    "the squared weights, the gradient (lam/m) Theta (bias columns left out of both)",
    "half_gradient": "the gradient's penalty uses lam/(2m); the derivative of lam/(2m) Theta^2 "
    "is (lam/m) Theta",
    "missing_m": "missing 1/m: the cost and its gradient are averages over the m examples",
    "order": "nn_params are read {read} but the gradient is unrolled {written}; unroll grad the "
    "same way as nn_params",
    "of_a": "backpropagation multiplies by sigmoid_gradient(a2), the sigmoid gradient of a where z "
    "was meant: g'(z2) = a2 (1 - a2)",
    "z_formula": "backpropagation multiplies by z2 (1 - z2), the formula for a = g(z) used on z: "
    "g'(z2) = a2 (1 - a2)",
    "sigmoid_z_formula": "sigmoid_gradient(z) returns z (1 - z), the formula for a = g(z) used on "
    "z where a was meant: compute g(z) (1 - g(z))",
    "one_sided": "a one-sided numerical gradient (J(theta + e) - J(theta)) / e, whose error "
    "shrinks only like e; use (J(theta + e) - J(theta - e)) / (2e)",
    "central_over_e": "the central difference J(theta + e) - J(theta - e) is divided by e, which "
    "gives twice the gradient; divide by 2e",
    "shift": "predict returns labels {got}, shifted by one from the labels {want} that your "
    "nn_cost_function reads",
    "ten": "predict returns 0 for the last output unit, where your nn_cost_function reads label K "
    "(the course writes the digit 0 as 10)",
    "only_J": "nn_cost_function returned only J; it must return (J, grad)",
    "zero_last": "predict puts label 0 on the last output unit, as the course's weights do, but "
    "your nn_cost_function reads label 0 as the first unit",
}


# --- results -------------------------------------------------------------------------------------


@dataclass
class PartResult:
    """One graded part: passed or not, the worst case's expected and learner's values, a hint."""

    name: str
    passed: bool
    expected: object = None  # JSON-compatible
    got: object = None
    max_error: float | None = None
    hint: str = ""
    diagnosed: bool = False  # the hint names a classic mistake that explains every wrong answer

    def to_json(self) -> dict:
        error = self.max_error
        return {
            "name": self.name,
            "passed": self.passed,
            "expected": self.expected,
            "got": self.got,
            "max_error": float(error) if error is not None and np.isfinite(error) else None,
            "hint": self.hint,
        }


@dataclass
class Report:
    """What ``grade`` found: the learner's conventions and every part's result."""

    solution: Path
    conventions: dict[str, str | None]
    parts: list[PartResult]
    seed: int  # of the generated test cases: --seed repeats them

    @property
    def passed(self) -> bool:
        return all(part.passed for part in self.parts)

    @property
    def score(self) -> dict:
        return {"passed": sum(p.passed for p in self.parts), "total": len(self.parts)}

    def to_json(self) -> dict:
        """``{"conventions": {...}, "parts": [{name, passed, expected, got, max_error, hint}],
        "score": {"passed", "total"}}``."""
        return {
            "conventions": self.conventions,
            "parts": [part.to_json() for part in self.parts],
            "score": self.score,
        }

    def table(self) -> str:
        """The report as lines of text for a terminal."""
        c = self.conventions
        found = [
            f"nn_params unrolled {ORDER_WORDS[c['unroll']]}" if c["unroll"] else None,
            f"labels {c['labels']}" if c["labels"] else None,
            f"y as {c['y']}" if c["y"] else None,
            f"{c['names']} names" if c["names"] else None,
        ]
        summary = ", ".join(f for f in found if f) or "conventions unknown"
        lines = [
            f"{self.solution.name}: {summary}",
            f"  {'part':<24} {'result':<8} {'max error':>10}",
        ]
        hints = {part.hint for part in self.parts}
        shared = hints.pop() if len(hints) == 1 and len(self.parts) > 1 else None
        for part in self.parts:
            error = "-" if part.max_error is None else f"{part.max_error:.1e}"
            verdict = "passed" if part.passed else "FAILED"
            lines.append(f"  {part.name:<24} {verdict:<8} {error:>10}")
            if not part.passed:
                if part.got is not None:
                    lines.append(f"      expected {_brief(part.expected)}, got {_brief(part.got)}")
                if part.hint and part.hint != shared:
                    lines.append(f"      hint: {part.hint}")
        if shared:
            lines.append(f"  every part: {shared}")
        score = self.score
        lines.append(f"score: {score['passed']} of {score['total']} parts passed")
        lines.append(f"(test cases from seed {self.seed}; --seed {self.seed} repeats them)")
        return "\n".join(lines)


def _brief(value: object) -> str:
    """A JSON value shortened for the table: numbers to 6 digits, long lists cut."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        flat = np.asarray(value, dtype=float).ravel()
        shown = ", ".join(f"{v:.4g}" for v in flat[:4])
        return f"[{shown}{', ...' if flat.size > 4 else ''}] ({flat.size} values)"
    return str(value)


# --- test cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetCase:
    """A two-layer network and a few labelled examples: what ``nn_cost_function`` is called with.

    ``units: (m,)`` is the output unit of each example's label; each convention writes the label
    as ``unit + offset``. ``m != K`` always, so a ``y: (m,)`` compared with ``(K,)`` can't broadcast.
    """

    thetas: tuple[np.ndarray, np.ndarray]
    X: np.ndarray  # (m, n)
    units: np.ndarray  # (m,)
    lam: float

    @property
    def sizes(self) -> list[int]:
        return [self.X.shape[1], self.thetas[0].shape[0], self.thetas[1].shape[0]]

    @property
    def Y(self) -> np.ndarray:
        return np.eye(self.sizes[-1])[self.units]


def _random_case(
    rng: np.random.Generator, sizes: tuple[int, int, int], m: int, lam: float
) -> NetCase:
    n, h, K = sizes
    thetas = (rng.uniform(-1, 1, (h, 1 + n)), rng.uniform(-1, 1, (K, 1 + h)))
    units = rng.permutation(np.arange(m) % K)  # every label, the extremes included
    return NetCase(thetas, rng.normal(size=(m, n)), units, lam)


def _debug_case(lam: float) -> NetCase:
    """The course's checkNNGradients network: 3-5-3, 5 examples, debugInitializeWeights."""
    thetas = (network.debug_weights(5, 3), network.debug_weights(3, 5))
    return NetCase(thetas, network.debug_weights(5, 2), np.arange(1, 6) % 3, lam)


def net_cases(rng: np.random.Generator) -> dict[str, list[NetCase]]:
    """The cases of the ``cost`` group (lam 0) and the ``regularized`` group (several lam)."""
    shapes = [((4, 6, 3), 7), ((5, 3, 4), 9), ((2, 4, 5), 8), ((4, 5, 10), 13)]
    lams = [1.0, 3.0, float(rng.uniform(0.3, 5)), 1.0]
    return {
        "cost": [_debug_case(0.0)] + [_random_case(rng, s, m, 0.0) for s, m in shapes],
        "regularized": [_debug_case(3.0)]
        + [_random_case(rng, s, m, lam) for (s, m), lam in zip(shapes, lams)],
    }


def _predict_case(rng: np.random.Generator, n: int, K: int) -> NetCase:
    """An ``n``-K-K network and examples on which every output unit wins at least once, so that a
    label mistake on any unit (the last one's 10 or 0 above all) shows.

    Output unit k listens mostly to hidden unit k, so it wins where hidden unit k is the most
    active, and with random first-layer weights each hidden unit is somewhere.
    """
    while True:
        case = _random_case(rng, (n, K, K), 100, 0.0)
        case.thetas[0][:] *= 3
        case.thetas[1][:, 1:] += 6 * np.eye(K)
        if len(np.unique(network.predict(case.thetas, case.X))) == K:
            return case


def _y(case: NetCase, offset: int, shape: str) -> np.ndarray:
    y = (case.units + offset).astype(np.int64)
    return y.reshape(-1, 1) if shape == "(m, 1)" else y


# --- calls: what the learner's process runs ------------------------------------------------------


@dataclass
class Call:
    """One call of a learner's function; ``args`` are numbers, strings or arrays."""

    group: str
    function: str  # a key of FUNCTION_NAMES
    args: list


@dataclass
class Answer:
    """What a call returned (a tuple becomes several arrays), or one line saying what went wrong."""

    values: list[np.ndarray] = field(default_factory=list)
    error: str | None = None


@dataclass
class Plan:
    """Every call of one grading run, and where each part finds its answers."""

    calls: list[Call] = field(default_factory=list)
    nets: dict[str, list[NetCase]] = field(default_factory=dict)
    # (group, case, convention) -> call
    net_calls: dict[tuple[str, int, Convention], int] = field(default_factory=dict)
    sigmoid_inputs: list[np.ndarray] = field(default_factory=list)
    init_sizes: list[tuple[int, int]] = field(default_factory=list)
    predict_cases: list[NetCase] = field(default_factory=list)
    numeric_cases: list[NetCase] = field(default_factory=list)

    def add(self, group: str, function: str, *args) -> int:
        self.calls.append(Call(group, function, list(args)))
        return len(self.calls) - 1

    def indices(self, group: str) -> list[int]:
        return [i for i, call in enumerate(self.calls) if call.group == group]


def make_plan(rng: np.random.Generator) -> Plan:
    """Generate this run's test cases and the calls that answer them."""
    plan = Plan()
    z = rng.normal(0, 3, size=(4, 5))
    z[0, :3] = (0.0, 20.0, -20.0)
    plan.sigmoid_inputs = [z, np.linspace(-6, 6, 9) + rng.uniform(-0.5, 0.5)]
    for z in plan.sigmoid_inputs:
        plan.add("sigmoid_gradient", "sigmoid_gradient", z)

    plan.nets = net_cases(rng)
    for group, cases in plan.nets.items():
        for k, case in enumerate(cases):
            n, h, K = case.sizes
            for convention in CONVENTIONS:
                order, offset, shape = convention
                params = network.pack(case.thetas, order=order)
                y = _y(case, offset, shape)
                index = plan.add(group, "nn_cost_function", params, n, h, K, case.X, y, case.lam)
                plan.net_calls[group, k, convention] = index

    plan.init_sizes = [(40, 25), (25, 10), (3, 5)]
    for L_in, L_out in plan.init_sizes:
        plan.add("rand_initialize_weights", "rand_initialize_weights", L_in, L_out)

    plan.predict_cases = [_predict_case(rng, n, K) for n, K in [(6, 4), (3, 10)]]
    for case in plan.predict_cases:
        plan.add("predict", "predict", *case.thetas, case.X)

    # Strong regularization makes J curved enough that a one-sided difference is far off.
    plan.numeric_cases = [
        _random_case(rng, (3, 4, 3), 5, 10.0),
        _random_case(rng, (2, 3, 4), 6, 5.0),
    ]
    for case in plan.numeric_cases:
        theta = network.pack(case.thetas)
        plan.add(
            "numerical_gradient", "compute_numerical_gradient", theta, case.X, case.Y, case.lam,
            case.sizes,
        )  # fmt: skip
    return plan


# --- running the learner's code ------------------------------------------------------------------


def run_learner(
    solution: Path, calls: Sequence[Call], timeout: float
) -> tuple[dict[str, str | None] | str, list[Answer]]:
    """Run ``calls`` with the learner's functions in child processes.

    Returns the learner's function names (``{key: name or None}``), or one line saying why the file
    could not be imported, and one ``Answer`` per call. A group of calls that hangs or crashes is
    answered with that line; the groups after it run in a fresh process.
    """
    solution = solution.resolve()
    with tempfile.TemporaryDirectory(prefix="digitnet-grade-") as tmp:
        work = Path(tmp)
        _write_calls(work, calls)
        answers: dict[int, Answer] = {}
        stopped: set[str] = set()
        while True:
            status = _run_child(work, solution, timeout)
            names = _read_names(work)
            answers.update(_read_answers(work, len(calls)))
            if status is None or not isinstance(names, dict):
                break
            # The child stopped inside a group: that group's unanswered calls get the reason, and
            # a fresh child goes on with the groups after it.
            group = _last_started(work)
            for i, call in enumerate(calls):
                if i not in answers and (call.group == group or group in stopped):
                    answers[i] = Answer(error=status)
            if group in stopped:  # no progress: never loop
                break
            stopped.add(group)
            (work / "answers" / f"skip-{group}").touch()
        if names is None:  # the import itself hung or crashed
            names = status or "the learner's process ended while importing the file"
    return names, [answers.get(i, Answer(error="not run")) for i in range(len(calls))]


def _write_calls(work: Path, calls: Sequence[Call]) -> None:
    arrays, manifest = {}, []
    for i, call in enumerate(calls):
        args = []
        for j, arg in enumerate(call.args):
            if isinstance(arg, np.ndarray):
                arrays[f"{i}_{j}"] = arg
                args.append({"array": f"{i}_{j}"})
            else:
                args.append({"value": arg})
        manifest.append({"group": call.group, "function": call.function, "args": args})
    np.savez(work / "calls.npz", allow_pickle=False, **arrays)
    (work / "calls.json").write_text(json.dumps(manifest))
    (work / "answers").mkdir()


def _run_child(work: Path, solution: Path, timeout: float) -> str | None:
    """One child process; None when it answered every call, else one line saying how it stopped."""
    for name in ("progress.txt", "faults.txt", "done"):
        (work / name).unlink(missing_ok=True)
    command = [sys.executable, "-m", "digitnet.grade", str(work), str(solution), str(timeout)]
    # faulthandler stops a hung group from inside; this outer limit only catches the unforeseen.
    limit = timeout * (len(GROUP_PARTS) + 2) + 60
    try:
        process = subprocess.run(
            command,
            cwd=solution.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=limit,
        )
    except subprocess.TimeoutExpired:
        return f"took longer than {timeout:g} s and was stopped"
    if (work / "done").exists():
        return None
    return _fault_line(work, solution, timeout, process.returncode)


def _fault_line(work: Path, solution: Path, timeout: float, returncode: int) -> str:
    """What faulthandler wrote when the child hung or crashed, as one line with the learner's line."""
    faults = (
        (work / "faults.txt").read_text(errors="replace") if (work / "faults.txt").exists() else ""
    )
    where = ""
    for match in re.finditer(r'File "(.+?)", line (\d+)', faults):  # most recent call first
        if _is_learners(Path(match[1]), solution):
            where = _line_of(Path(match[1]), int(match[2]))
            break
    if faults.startswith("Timeout"):
        return f"took longer than {timeout:g} s and was stopped{where}"
    fatal = re.search(r"Fatal Python error: (.+)", faults)
    if fatal:
        return f"crashed the Python process ({fatal[1].strip()}){where}"
    return f"ended the Python process (exit code {returncode}){where}"


def _is_learners(path: Path, solution: Path) -> bool:
    """The learner's code: the solution and any module of their own beside it."""
    return path.parent == solution.parent and path.suffix == ".py"


def _line_of(path: Path, lineno: int) -> str:
    code = linecache.getline(str(path), lineno).strip()
    return f" at {path.name} line {lineno}" + (f": `{code}`" if code else "")


def _read_names(work: Path) -> dict[str, str | None] | str | None:
    path = work / "names.json"
    if not path.exists():
        return None
    names = json.loads(path.read_text())
    return names.get("import_error") or names["found"]


def _read_answers(work: Path, n_calls: int) -> dict[int, Answer]:
    answers = {}
    for i in range(n_calls):
        path = work / "answers" / f"{i}.json"
        if path.exists():
            status = json.loads(path.read_text())
            values = []
            if status["error"] is None:
                with np.load(work / "answers" / f"{i}.npz", allow_pickle=False) as saved:
                    values = [saved[str(k)] for k in range(status["n"])]
            answers[i] = Answer(values, status["error"])
    return answers


def _last_started(work: Path) -> str:
    lines = (work / "progress.txt").read_text().split()
    return lines[-1] if lines else "import"


# --- inside the learner's process ------------------------------------------------------------------


class _CostValue(float):
    """``J(theta)``'s value for a learner's numerical gradient: a float that also unpacks as
    ``(J, grad)``, because learners' checks use either ``J(theta)`` or ``J(theta)[0]``."""

    grad: np.ndarray

    def __new__(cls, cost: float, grad: np.ndarray) -> _CostValue:
        value = super().__new__(cls, cost)
        value.grad = grad
        return value

    def __iter__(self) -> Iterator[float | np.ndarray]:
        return iter((float(self), self.grad))

    def __getitem__(self, index: int) -> float | np.ndarray:
        return (float(self), self.grad)[index]

    def __len__(self) -> int:
        return 2


def _learner_line(err: BaseException, solution: Path) -> str:
    """``Type: message at FILE line N: `code``` for the learner's innermost frame."""
    message = " ".join(str(err).split()) or type(err).__name__
    text = f"{type(err).__name__}: {message}" if str(err) else type(err).__name__
    if isinstance(err, SyntaxError) and err.lineno is not None:
        return f"{type(err).__name__}: {err.msg}{_line_of(solution, err.lineno)}"
    frames = [
        f
        for f in traceback.extract_tb(err.__traceback__)
        if _is_learners(Path(f.filename), solution)
    ]
    if not frames or frames[-1].lineno is None:
        return text
    return text + _line_of(Path(frames[-1].filename), frames[-1].lineno)


def _import_solution(solution: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"learner_{solution.stem}", solution)
    if spec is None or spec.loader is None:  # grade() takes only .py files, which always load
        raise ImportError(f"{solution.name} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _as_values(function: str, returned: object) -> list[np.ndarray]:
    """The learner's return value as float arrays; ``nn_cost_function``'s (J, grad) as two.

    Raises ``ValueError`` saying what came back when it is not numbers.
    """
    parts = [returned]
    if function == "nn_cost_function" and isinstance(returned, (tuple, list)):
        parts = list(returned)
    try:
        return [np.asarray(part, dtype=np.float64) for part in parts]
    except (TypeError, ValueError) as err:
        raise ValueError(f"returned {type(returned).__name__}, not numbers ({err})") from None


def child_main(work: Path, solution: Path, timeout: float) -> None:
    """The learner's process: import the file, answer every call not yet answered, say done."""
    faults = (work / "faults.txt").open("w")
    faulthandler.enable(faults)
    progress = (work / "progress.txt").open("a")
    sys.path.insert(0, str(solution.parent))
    sys.argv = [str(solution)]

    def start(group: str) -> None:
        progress.write(group + "\n")
        progress.flush()
        faulthandler.dump_traceback_later(timeout, exit=True, file=faults)

    start("import")
    try:
        module = _import_solution(solution)
    except BaseException as err:  # a SystemExit or KeyboardInterrupt in the file too
        (work / "names.json").write_text(json.dumps({"import_error": _learner_line(err, solution)}))
        (work / "done").touch()
        return
    found = {
        key: next((n for n in names if callable(getattr(module, n, None))), None)
        for key, names in FUNCTION_NAMES.items()
    }
    (work / "names.json").write_text(json.dumps({"found": found}))

    manifest = json.loads((work / "calls.json").read_text())
    answers = work / "answers"
    with np.load(work / "calls.npz", allow_pickle=False) as arrays:
        group = None
        for i, call in enumerate(manifest):
            skipped = (answers / f"skip-{call['group']}").exists()
            name = found[call["function"]]
            if skipped or (answers / f"{i}.json").exists() or name is None:
                continue
            if call["group"] != group:
                group = call["group"]
                start(group)
            # Fresh arrays for every call: a learner's function may change its arguments.
            args = [arrays[a["array"]] if "array" in a else a["value"] for a in call["args"]]
            _answer(getattr(module, name), name, call["function"], args, answers, i, solution)
    faulthandler.cancel_dump_traceback_later()
    (work / "done").touch()


def _answer(
    learner: Callable[..., object],
    name: str,
    function: str,
    args: list[object],
    answers: Path,
    i: int,
    solution: Path,
) -> None:
    """Call the learner's function ``name`` (one of ``function``'s spellings), save answer ``i``."""
    if function == "compute_numerical_gradient":
        theta, X, Y, lam, sizes = args

        def J(t):
            cost, grad = network.cost_and_gradient(np.asarray(t, dtype=float), X, Y, lam, sizes)
            return _CostValue(cost, grad)

        args = [J, theta]
    values: list[np.ndarray] = []
    error: str | None = None
    try:
        returned = learner(*args)
    except BaseException as err:
        error = f"{name} raised {_learner_line(err, solution)}"
    else:
        try:
            values = _as_values(function, returned)
        except ValueError as err:
            error = f"{name} {err}"
    np.savez(answers / f"{i}.npz", allow_pickle=False, **{str(k): v for k, v in enumerate(values)})
    # Renamed into place: a crash in the next call never leaves a half-written answer behind.
    status = answers / f"{i}.json.tmp"
    status.write_text(json.dumps({"error": error, "n": len(values)}))
    os.replace(status, answers / f"{i}.json")


# --- judging answers -----------------------------------------------------------------------------


@dataclass
class Trial:
    """One case of a part: the right value, the learner's answer, and what each mistake gives."""

    expected: np.ndarray
    answer: Answer
    pick: int = 0  # which returned value is graded: nn_cost_function's J is 0, grad is 1
    mistakes: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (hint, value it gives)
    atol: float = ATOL

    def got(self) -> np.ndarray | None:
        if self.answer.error is not None or len(self.answer.values) <= self.pick:
            return None
        value = self.answer.values[self.pick]
        if value.size == self.expected.size:  # (m, 1) for (m,), a 1x1 matrix for a number
            value = value.reshape(self.expected.shape)
        return value


def _error(expected: np.ndarray, got: np.ndarray | None) -> float:
    if got is None or got.shape != expected.shape:
        return np.inf
    with np.errstate(invalid="ignore"):
        error = np.max(np.abs(got - expected), initial=0.0)
    return float(error) if np.isfinite(error) else np.inf


def _close(expected: np.ndarray, got: np.ndarray | None, atol: float) -> bool:
    error = _error(expected, got)
    return error <= atol + RTOL * float(np.max(np.abs(expected), initial=0.0))


def _json(value: np.ndarray | None) -> object:
    """Numbers and nested lists for JSON; NaN and infinity (not JSON) become None."""
    if value is None:
        return None
    numbers = np.asarray(value, dtype=np.float64)
    values = numbers.astype(object)  # Python floats, and room for None
    values[~np.isfinite(numbers)] = None
    return values.tolist()


def judge(name: str, trials: Sequence[Trial], missing_hint: str | None = None) -> PartResult:
    """Pass when every trial is within tolerance; else name the mistake that explains every trial."""
    first_error = next((t.answer.error for t in trials if t.answer.error is not None), None)
    if first_error is not None:
        return PartResult(name, False, _json(trials[0].expected), None, None, first_error)
    if missing_hint is not None and any(t.got() is None for t in trials):
        return PartResult(name, False, _json(trials[0].expected), None, None, missing_hint)
    errors = [_error(t.expected, t.got()) for t in trials]
    worst = trials[int(np.argmax(errors))]
    passed = all(_close(t.expected, t.got(), t.atol) for t in trials)
    result = PartResult(name, passed, _json(worst.expected), _json(worst.got()), max(errors))
    if not passed:
        result.hint, result.diagnosed = _diagnose(trials, worst)
    return result


def _diagnose(trials: Sequence[Trial], worst: Trial) -> tuple[str, bool]:
    """The first mistake that explains every wrong trial; a right trial is no evidence against
    one that shows only in some shapes (``p[p == 10] = 0`` changes nothing with 4 classes)."""
    for j, (hint, _) in enumerate(trials[0].mistakes):
        wrong = [t for t in trials if not _close(t.expected, t.got(), t.atol)]
        if all(_close(t.mistakes[j][1], t.got(), t.atol) for t in wrong):
            return hint, True
    return _describe(trials, worst), False


def _describe(trials: Sequence[Trial], worst: Trial) -> str:
    """What is visibly wrong with an answer that no classic mistake explains."""
    got = worst.got()
    if got is None:
        return "returned nothing to grade"
    if got.shape != worst.expected.shape:
        return f"returned shape {got.shape}; expected shape {worst.expected.shape}"
    if not np.all(np.isfinite(got)):
        return "returned NaN or infinity"
    answers = [t.got() for t in trials]
    if len(trials) > 1 and all(a is not None and np.array_equal(a, got) for a in answers):
        return (
            "returned the same value for every test case; the cases are generated afresh on "
            "every run, so no fixed (published) number can pass"
        )
    return ""


# --- the mistakes' values ------------------------------------------------------------------------


def _penalties(case: NetCase, biases: Sequence[bool]) -> list[float]:
    """``lam/(2m) sum Theta_l^2`` of each layer, its bias column included where ``biases[l]``."""
    scale = case.lam / (2 * len(case.X))
    return [
        scale * float(np.sum(theta[:, 0 if bias else 1 :] ** 2))
        for theta, bias in zip(case.thetas, biases)
    ]


def _penalty_gradient(case: NetCase, biases: Sequence[bool]) -> list[np.ndarray]:
    """``(lam/m) Theta_l`` of each layer, its bias column zeroed unless ``biases[l]``."""
    grads = []
    for theta, bias in zip(case.thetas, biases):
        grad = case.lam / len(case.X) * theta
        if not bias:
            grad[:, 0] = 0
        grads.append(grad)
    return grads


def _bias_choices(n_layers: int) -> list[tuple[bool, ...]]:
    """Every layer's bias regularized, then each layer's alone: the ways to get column 0 wrong."""
    alone = [tuple(k == layer for k in range(n_layers)) for layer in range(n_layers)]
    return [(True,) * n_layers, *alone]


def _backprop_with(
    case: NetCase, derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> list[np.ndarray]:
    """The unregularized gradient when backpropagation multiplies by ``derivative(z2, a2)``.

    Only for naming mistakes: the right gradient always comes from ``network.cost_and_gradient``.
    """
    Theta1, Theta2 = case.thetas
    m = len(case.X)
    A1 = np.hstack([np.ones((m, 1)), case.X])
    Z2 = A1 @ Theta1.T
    A2 = np.hstack([np.ones((m, 1)), network.sigmoid(Z2)])
    delta3 = network.sigmoid(A2 @ Theta2.T) - case.Y
    delta2 = (delta3 @ Theta2[:, 1:]) * derivative(Z2, A2[:, 1:])
    return [delta2.T @ A1 / m, delta3.T @ A2 / m]


def _net_trials(
    plan: Plan, answers: Sequence[Answer], group: str, convention: Convention, pick: int
) -> list[Trial]:
    """The trials of the cost (pick 0) or gradient (pick 1) parts under one convention."""
    order, _, _ = convention
    other: Order = "C" if order == "F" else "F"
    trials = []
    for k, case in enumerate(plan.nets[group]):
        answer = answers[plan.net_calls[group, k, convention]]
        J, grad = network.cost_and_gradient(
            network.pack(case.thetas), case.X, case.Y, case.lam, case.sizes
        )
        J0, grad0 = network.cost_and_gradient(
            network.pack(case.thetas), case.X, case.Y, 0.0, case.sizes
        )
        m = len(case.X)
        no_bias = (False,) * len(case.thetas)
        if pick == 0:
            P = sum(_penalties(case, no_bias))
            mistakes = _arrays(
                [
                    (HINTS["bias"], J0 + sum(_penalties(case, b)))
                    for b in _bias_choices(len(case.thetas))
                ]
                + [
                    (HINTS["no_penalty"], J0),
                    (HINTS["lam_over_m"], J0 + 2 * P),
                    (HINTS["missing_m"], m * J0 + P),
                    (HINTS["missing_m"], m * J),
                ]
            )
            trials.append(Trial(np.asarray(J), answer, 0, mistakes))
            continue
        penalty = _penalty_gradient(case, no_bias)
        unpacked0 = network.unpack(grad0, case.sizes)
        of_a = _backprop_with(case, lambda z, a: network.sigmoid_gradient(a))
        z_formula = _backprop_with(case, lambda z, a: z * (1 - z))
        variants = [
            (HINTS["bias"], [g + p for g, p in zip(unpacked0, _penalty_gradient(case, b))])
            for b in _bias_choices(len(case.thetas))
        ]
        variants += [
            (HINTS["no_penalty"], unpacked0),
            (HINTS["half_gradient"], [g + p / 2 for g, p in zip(unpacked0, penalty)]),
            (HINTS["missing_m"], [m * g + p for g, p in zip(unpacked0, penalty)]),
            (HINTS["missing_m"], [m * (g + p) for g, p in zip(unpacked0, penalty)]),
            (HINTS["of_a"], [g + p for g, p in zip(of_a, penalty)]),
            (HINTS["z_formula"], [g + p for g, p in zip(z_formula, penalty)]),
        ]
        unpacked = network.unpack(grad, case.sizes)
        mixed = HINTS["order"].format(read=ORDER_WORDS[order], written=ORDER_WORDS[other])
        mistakes = [(mixed, network.pack(unpacked, order=other))]
        mistakes += [(hint, network.pack(v, order=order)) for hint, v in variants]
        trials.append(Trial(network.pack(unpacked, order=order), answer, 1, mistakes))
    return trials


def _arrays(mistakes: Sequence[tuple[str, npt.ArrayLike]]) -> list[tuple[str, np.ndarray]]:
    return [(hint, np.asarray(value)) for hint, value in mistakes]


def _net_parts(plan: Plan, answers: Sequence[Answer], convention: Convention) -> list[PartResult]:
    return [
        judge("cost", _net_trials(plan, answers, "cost", convention, 0)),
        judge("regularized_cost", _net_trials(plan, answers, "regularized", convention, 0)),
        judge("gradient", _net_trials(plan, answers, "cost", convention, 1), HINTS["only_J"]),
        judge(
            "regularized_gradient",
            _net_trials(plan, answers, "regularized", convention, 1),
            HINTS["only_J"],
        ),
    ]


def _choose_convention(
    plan: Plan, answers: Sequence[Answer]
) -> tuple[Convention | None, list[str], list[PartResult]]:
    """The convention under which most cost parts pass, the y shapes that do as well, its parts."""
    scored = []
    for convention in CONVENTIONS:
        parts = _net_parts(plan, answers, convention)
        explained = sum(p.diagnosed for p in parts)
        answered = sum(p.got is not None for p in parts)
        scored.append(((sum(p.passed for p in parts), explained, answered), convention, parts))
    best_score, best, parts = max(scored, key=lambda s: s[0])  # max keeps the first of a tie
    if best_score[:2] == (0, 0):  # nothing right, nothing explained: no convention to speak of
        return None, [], parts
    shapes = [c[2] for score, c, _ in scored if c[:2] == best[:2] and score == best_score]
    return best, shapes, parts


def _sigmoid_part(plan: Plan, answers: Sequence[Answer]) -> PartResult:
    trials = [
        Trial(
            network.sigmoid_gradient(z), answers[i], 0, [(HINTS["sigmoid_z_formula"], z * (1 - z))]
        )
        for z, i in zip(plan.sigmoid_inputs, plan.indices("sigmoid_gradient"))
    ]
    return judge("sigmoid_gradient", trials)


def _predict_trials(plan: Plan, answers: Sequence[Answer], offset: int) -> list[Trial]:
    trials = []
    for case, i in zip(plan.predict_cases, plan.indices("predict")):
        units = network.predict(case.thetas, case.X)
        K = case.sizes[-1]
        mistakes = [
            (
                HINTS["shift"].format(got=_label_range(shift), want=LABEL_WORDS[offset]),
                units + shift,
            )
            for shift in (offset - 1, offset + 1)
        ]
        mistakes.append((HINTS["ten"] if offset == 1 else HINTS["zero_last"], (units + 1) % K))
        trials.append(Trial((units + offset).astype(float), answers[i], 0, _arrays(mistakes)))
    return trials


def _label_range(first: int) -> str:
    """The labels ``first..`` of K output units: ``0..K-1``, ``1..K``, ``2..K+1``."""
    last = "K" if first == 1 else f"K{first - 1:+d}"
    return f"{first}..{last}"


def _init_part(plan: Plan, answers: Sequence[Answer]) -> PartResult:
    """Shape ``(L_out, 1 + L_in)``, values in [-0.12, 0.12] of both signs, every row different."""
    expected = "(L_out, 1 + L_in), uniform in [-0.12, 0.12], rows all different"
    for (L_in, L_out), i in zip(plan.init_sizes, plan.indices("rand_initialize_weights")):
        answer = answers[i]
        if answer.error is not None:
            return PartResult("rand_initialize_weights", False, expected, None, None, answer.error)
        W = answer.values[0]
        limit = max(INIT_EPSILON, network.init_epsilon(L_in, L_out))
        got = f"shape {W.shape}"
        if W.shape != (L_out, 1 + L_in):
            hint = f"rand_initialize_weights({L_in}, {L_out}) must have shape {(L_out, 1 + L_in)}"
            if W.shape == (1 + L_in, L_out):
                hint += ": yours is transposed"
            elif W.shape == (L_out, L_in):
                hint += ": the bias column is missing"
            return PartResult("rand_initialize_weights", False, expected, got, None, hint)
        got += f", values in [{W.min():.4g}, {W.max():.4g}]"
        excess = max(0.0, float(np.max(np.abs(W))) - limit)
        hint = ""
        if not np.all(np.isfinite(W)) or excess > 1e-12:
            hint = "weights outside [-0.12, 0.12]: draw 2 * 0.12 * rand - 0.12"
        elif np.ptp(W) == 0:
            hint = (
                "every weight is the same, so every hidden unit computes the same function and "
                "gets the same gradient: symmetry is never broken; draw them at random"
            )
        elif len(np.unique(W, axis=0)) < L_out:
            hint = "two rows are equal: those hidden units stay identical (symmetry not broken)"
        elif W.min() >= 0 or W.max() <= 0:
            hint = "every weight has one sign: draw from [-0.12, 0.12], not [0, 0.12]"
        if hint:
            return PartResult("rand_initialize_weights", False, expected, got, excess, hint)
    return PartResult("rand_initialize_weights", True, expected, got, 0.0)


def _numeric_part(plan: Plan, answers: Sequence[Answer]) -> PartResult:
    trials = []
    for case, i in zip(plan.numeric_cases, plan.indices("numerical_gradient")):
        theta = network.pack(case.thetas)
        _, grad = network.cost_and_gradient(theta, case.X, case.Y, case.lam, case.sizes)

        def J(t, case=case):
            return network.cost_and_gradient(t, case.X, case.Y, case.lam, case.sizes)[0]

        mistakes = [(HINTS["one_sided"], _one_sided(J, theta, e)) for e in (1e-4, -1e-4)]
        mistakes.append((HINTS["central_over_e"], 2 * grad))
        trials.append(Trial(grad, answers[i], 0, mistakes, atol=NUMERIC_ATOL))
    return judge("numerical_gradient", trials)


def _one_sided(J: Callable[[np.ndarray], float], theta: np.ndarray, epsilon: float) -> np.ndarray:
    """Forward (``epsilon > 0``) or backward differences: only to recognise the mistake."""
    base = J(theta)
    steps = np.eye(theta.size) * epsilon
    return np.array([(J(theta + step) - base) / epsilon for step in steps])


# --- grade ---------------------------------------------------------------------------------------


def grade(solution: str | os.PathLike, *, timeout: float = 60, seed: int | None = None) -> Report:
    """Grade a learner's Python file; see the module docstring.

    Parameters
    ----------
    solution : path of the learner's ``.py`` file.
    timeout : seconds the learner's process may spend importing the file, and on each part.
    seed : seed of the generated test cases; ``None`` draws a fresh one (``Report.seed``).

    Returns
    -------
    Report
        ``report.passed``, ``report.to_json()``, ``report.table()``.
    """
    solution = Path(solution)
    if not solution.is_file():
        raise FileNotFoundError(f"{solution}: no such file")
    if solution.suffix != ".py":
        raise ValueError(f"{solution}: not a Python file (.py); digitnet grade reads Python code")
    if timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
    seed = secrets.randbelow(2**31) if seed is None else seed
    plan = make_plan(np.random.default_rng(seed))
    names, answers = run_learner(solution, plan.calls, timeout)
    parts = list(PART_FUNCTION)
    if isinstance(names, str):  # not importable: every part fails with that one line
        line = f"could not import {solution.name}: {names}"
        conventions: dict[str, str | None] = {
            "unroll": None,
            "labels": None,
            "y": None,
            "names": None,
        }
        failed = [PartResult(p, False, hint=line) for p in parts[:-1]]
        return Report(solution, conventions, failed, seed)

    results = {"sigmoid_gradient": _sigmoid_part(plan, answers)}
    convention: Convention | None = None
    shapes: list[str] = []
    if names["nn_cost_function"] is not None:
        convention, shapes, net_parts = _choose_convention(plan, answers)
        results |= {part.name: part for part in net_parts}
    results["rand_initialize_weights"] = _init_part(plan, answers)
    if convention is not None:
        offset = convention[1]
    else:  # no working cost function: the labels predict itself answers in
        passing = [o for o in (1, 0) if judge("predict", _predict_trials(plan, answers, o)).passed]
        offset = passing[0] if passing else 1
    results["predict"] = judge("predict", _predict_trials(plan, answers, offset))
    if names["compute_numerical_gradient"] is not None:
        results["numerical_gradient"] = _numeric_part(plan, answers)
    else:
        parts.remove("numerical_gradient")

    for part in parts:
        function = PART_FUNCTION[part]
        if names[function] is None:
            spelled = " or ".join(FUNCTION_NAMES[function])
            results[part] = PartResult(
                part, False, hint=f"no function {spelled} in {solution.name}"
            )
    conventions = {
        "unroll": convention[0] if convention else None,
        "labels": LABEL_WORDS[offset] if convention or results["predict"].passed else None,
        "y": " or ".join(shapes) if shapes else None,
        "names": _naming(names),
    }
    return Report(solution, conventions, [results[p] for p in parts], seed)


def _naming(names: dict[str, str | None]) -> str | None:
    styles = {
        "camelCase" if name != name.lower() else "snake_case"
        for key, name in names.items()
        if name is not None and key != "predict"  # one word: the same in both styles
    }
    return styles.pop() if len(styles) == 1 else ("mixed" if styles else None)


if __name__ == "__main__":  # the learner's process: python -m digitnet.grade WORK SOLUTION TIMEOUT
    child_main(Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]))
