"""The ``digitnet`` command: parses arguments, calls the library, prints.

Every command runs through ``main``. Exit codes: 0 success, 2 usage error (click's), 1 failure with
a one-line message that names the problem; ``digitnet --debug ...`` shows the traceback instead.
Heavy modules (NumPy, SciPy, scikit-learn, matplotlib) are imported inside the commands so that
``digitnet --help`` answers at once.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import click
from click.core import ParameterSource

from digitnet import settings
from digitnet.recipes import RECIPES


class DigitnetGroup(click.Group):
    """Turns any exception from a command into one line on stderr and exit code 1.

    A reader that goes away (``digitnet evaluate ... | head -1``) ends the command quietly with
    exit code 0, as ``cat`` and ``grep`` do.
    """

    def invoke(self, ctx: click.Context):
        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()  # a closed pipe shows here, not at exit where none can catch it
        except BrokenPipeError:
            _discard_stdout()
            ctx.exit(0)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            message = str(err) or type(err).__name__
            click.echo(f"digitnet: error: {message}", err=True)
            ctx.exit(1)


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that Python's final flush finds nowhere to fail."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


@click.group(cls=DigitnetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
@click.version_option(package_name="digitnet")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Train, inspect and use neural networks that read handwritten digits."""
    ctx.ensure_object(dict)["debug"] = debug


# --- shared pieces -------------------------------------------------------------------------------

data_option = click.option(
    "--data",
    default="digits",
    show_default=True,
    help="'digits' (scikit-learn's, built in), 'mnist' or 'fashion-mnist' (downloaded once), a "
    "course .mat, an IDX folder or images file, or a .npz/.csv (layouts: digitnet.data).",
)


def _model_path(required: bool):
    return click.argument(
        "model_path",
        metavar="MODEL" if required else "[MODEL]",
        required=required,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
    )


model_argument = _model_path(required=True)
optional_model_argument = _model_path(required=False)
split_option = click.option(
    "--split",
    type=click.Choice(["train", "test"]),
    default="test",
    show_default=True,
    help="Which split of an IDX folder or Fashion-MNIST to use.",
)


def _load_data(source: str, split: str = "train", dtype: str = "float64"):
    from digitnet import data

    return data.load(source, split=split, dtype=dtype)


def _check_out(out: Path | None, force: bool) -> None:
    """Refuse before any work is done, not after, an output that could not be written: one that
    exists (unless --force) or has no folder to go in (click's types refuse folders)."""
    if out is None:
        return
    if out.exists() and not force:
        raise click.UsageError(f"{out} exists; pass --force to overwrite it")
    if not out.parent.is_dir():
        raise click.UsageError(f"{out}: folder {out.parent} does not exist")


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM ends training like Ctrl-C: the weights reached so far are kept and saved."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Progress:
    """A live tqdm bar on a terminal; a plain line every few iterations otherwise (logs, CI)."""

    def __init__(self, total: int, unit: str):
        from tqdm import tqdm

        self.live = sys.stderr.isatty()
        self.bar = tqdm(total=total, unit=unit, file=sys.stderr, disable=not self.live)
        self.every = max(1, total // 10)
        self.unit = unit

    def __call__(self, history) -> None:
        row = {"cost": f"{history.cost[-1]:.4f}"}
        if history.val_accuracy and history.val_accuracy[-1] == history.val_accuracy[-1]:
            row["val_acc"] = f"{history.val_accuracy[-1]:.3f}"
        if self.live:
            self.bar.set_postfix(row, refresh=False)
            self.bar.update(1)
        elif len(history) % self.every == 0:
            fields = " ".join(f"{k} {v}" for k, v in row.items())
            click.echo(f"{self.unit} {len(history)}: {fields} ({history.time[-1]:.1f} s)", err=True)

    def close(self) -> None:
        self.bar.close()


def _accuracy_line(model, X, y) -> tuple[float, str]:
    import numpy as np

    accuracy = float(np.mean(model.predict(X) == y))
    return accuracy, f"{accuracy:.2%} of {len(y)}"


# --- train ---------------------------------------------------------------------------------------


def _setting_option(name: str, **changes):
    """The click option of a training setting, from its one definition in ``digitnet.settings``."""
    setting = settings.SETTINGS[name]
    options: dict[str, Any] = {"help": setting.help}
    if setting.kind is bool:
        options["is_flag"] = True
    else:
        options["type"] = click.Choice(setting.choices) if setting.choices else setting.kind
        if setting.default is not None and not changes.get("multiple"):
            options.update(default=setting.default, show_default=True)
    return click.option(setting.flag, name, **{**options, **changes})


class _EpsilonType(click.ParamType):
    """``--init-epsilon``: a number, or "auto" (``settings.init_epsilon_for``)."""

    name = "E|auto"

    def convert(self, value, param, ctx):
        if value == settings.AUTO:
            return value
        try:
            return float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is neither a number nor 'auto'", param, ctx)


def _with_training_settings(command):
    """Every training setting as an option of ``command``; they arrive in ``**chosen``."""
    for name in reversed(settings.SETTINGS):
        if name == "hidden_layer_sizes":
            command = _setting_option(name, multiple=True)(command)
        elif name == "max_iter":  # adam and sgd count epochs: --epochs
            command = _setting_option(name, help="Iterations of lbfgs and cg. [100]")(command)
        elif name == "init_epsilon":
            command = _setting_option(name, type=_EpsilonType())(command)
        else:
            command = _setting_option(name)(command)
    return command


def _flag_words(full_batch: bool):
    """How the command line names a setting in an error: its flag (``--epochs`` for adam, sgd)."""

    def words(name: str) -> str:
        if name == "max_iter" and not full_batch:
            return "--epochs"
        return settings.SETTINGS[name].flag

    return words


def _check_training_settings(chosen: dict, epochs: int | None) -> None:
    """Usage errors (exit 2), in flags, before any data is read; fills in ``max_iter``."""
    solver = chosen["solver"]
    full_batch = solver in settings.FULL_BATCH
    if full_batch and epochs is not None:
        raise click.UsageError(
            f"--epochs counts passes of adam and sgd; with {solver} give --max-iter"
        )
    if not full_batch and chosen["max_iter"] is not None:
        raise click.UsageError(
            f"--max-iter counts iterations of lbfgs and cg; with {solver} give --epochs"
        )
    if not full_batch:
        chosen["max_iter"] = epochs
    given = {k: v for k, v in chosen.items() if not (k == "hidden_layer_sizes" and v is None)}
    try:
        settings.check(given, _flag_words(full_batch))
    except settings.SettingError as err:
        raise click.UsageError(str(err)) from err


def _said(parameter: str) -> bool:
    """Whether the command line gave ``parameter`` (not left at its default)."""
    source = click.get_current_context().get_parameter_source(parameter)
    return source not in (None, ParameterSource.DEFAULT)


def _apply_recipe(name: str, chosen: dict, epochs: int | None, dtype: str, resuming: bool):
    """The recipe's settings wherever the command line left a setting unsaid; returns the new
    ``(epochs, dtype)``. Its iteration count goes to --epochs or --max-iter, by the solver.
    ``resuming``: the network (its layers, activation and output) is the resumed model's, so
    only the recipe's training settings apply."""
    network = ("hidden_layer_sizes", "activation", "output") if resuming else ()

    def said(parameter: str) -> bool:
        return parameter in network or _said(parameter)

    iterations_said = said("epochs") or said("max_iter")
    for setting, value in RECIPES[name].settings.items():
        if setting == "dtype":
            dtype = dtype if said("dtype") else value
        elif setting != "max_iter" and not said(setting):
            chosen[setting] = tuple(value) if setting == "hidden_layer_sizes" else value
    if chosen["solver"] in settings.FULL_BATCH:
        # The solver said on the command line wins; the recipe's mini-batch settings then
        # cannot apply, and are left out with a word rather than refused as if they were said.
        dropped = [
            setting
            for setting in ("dropout", "augment", "schedule")
            if setting in RECIPES[name].settings and not said(setting)
        ]
        for setting in dropped:
            chosen[setting] = settings.DEFAULTS[setting]
        if dropped:
            words = ", ".join(settings.SETTINGS[setting].flag for setting in dropped)
            click.echo(
                f"--recipe {name}: {words} left out: they need a mini-batch solver, not "
                f"{chosen['solver']}",
                err=True,
            )
    iterations = RECIPES[name].settings.get("max_iter")
    if iterations is not None and not iterations_said:
        if chosen["solver"] in settings.FULL_BATCH:
            chosen["max_iter"] = iterations
        else:
            epochs = iterations
    return epochs, dtype


@main.command()
@data_option
@_with_training_settings
@click.option("--epochs", type=int, help="Epochs of adam and sgd (their --max-iter). [20]")
@click.option(
    "--recipe",
    type=click.Choice(list(RECIPES)),
    help="Start from a recipe's settings (digitnet recipes lists them); flags given win.",
)
@click.option(
    "--test-size",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.2,
    show_default=True,
    help="Stratified test split when --data has no test set.",
)
@click.option(
    "--dtype", type=click.Choice(["float64", "float32"]), default="float64", show_default=True
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="Threads evaluating rows, one BLAS thread each [all cores].",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the model here (.npz). [a new model.npz, model-2.npz, ... in this folder]",
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option(
    "--report",
    "with_report",
    is_flag=True,
    help="Also write an HTML report beside the model (MODEL.html) on the test split.",
)
@click.option(
    "--resume",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Continue from this model (the same network: no --hidden); --out may be the same file.",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    help="Evaluate at most this many rows at a time (memory bound).",
)
@click.option(
    "--scheduler",
    help="Train on a running Dask cluster at this address (lbfgs, cg; digitnet[dask]).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Train on a new local Dask cluster of N worker processes (lbfgs, cg; digitnet[dask]).",
)
def train(
    data,
    epochs,
    recipe,
    test_size,
    dtype,
    threads,
    out,
    force,
    with_report,
    resume,
    chunk_size,
    scheduler,
    workers,
    **chosen,
):
    """Train a network, print its test accuracy and save it.

    With no options: the course's architecture (one hidden layer of 25) on scikit-learn's bundled
    digits, with a stratified 20% test split, saved to a new model.npz (model-2.npz, ... when
    that exists) in the current folder. The training settings (--hidden to --init-epsilon) are
    those of digitnet.train.train and DigitNetClassifier, with the same defaults.
    """
    from digitnet import holdout, model_io
    from digitnet import train as training

    if recipe is not None:
        epochs, dtype = _apply_recipe(recipe, chosen, epochs, dtype, resuming=resume is not None)
    chosen["hidden_layer_sizes"] = chosen["hidden_layer_sizes"] or None
    _check_training_settings(chosen, epochs)
    solver, seed = chosen["solver"], chosen["random_state"]
    full_batch = solver in settings.FULL_BATCH
    on_cluster = scheduler is not None or workers is not None
    if on_cluster and not full_batch:
        raise click.UsageError("--scheduler and --workers train with lbfgs or cg")
    if on_cluster and threads is not None:
        raise click.UsageError(
            "--threads counts this machine's threads; with --scheduler and --workers each "
            "worker evaluates on one thread"
        )
    out = out or _new_model_name()
    into_resumed = resume is not None and out.exists() and out.samefile(resume)
    if not into_resumed:
        _check_out(out, force)
    report_path = out.with_suffix(".html") if with_report else None
    _check_out(report_path, force)
    initial = model_io.load(resume) if resume else None
    if initial is not None:
        _check_resumable(initial, resume, chosen["hidden_layer_sizes"])
        chosen["hidden_layer_sizes"] = tuple(initial.layer_sizes[1:-1])
        for name in ("activation", "output"):
            chosen[name] = _resumed_family(initial, resume, name, chosen[name])
        if not _said("dtype") and recipe is None:
            dtype = initial.dtype.name  # the same network, in its own precision unless told
    chosen["hidden_layer_sizes"] = (
        chosen["hidden_layer_sizes"] or settings.DEFAULTS["hidden_layer_sizes"]
    )
    iterations = settings.max_iter_for(solver, chosen["max_iter"])

    dataset = _load_data(data, "train", dtype)
    test = _test_split(data, dtype)
    X, y, X_test, y_test, split = dataset.X, dataset.y, None, None, None
    if initial is not None:
        X = _rows_for(initial, dataset, resize=None)
    if test is not None:
        X_test, y_test = test.X, test.y
        if initial is not None:
            X_test = _rows_for(initial, test, resize=None)
    elif test_size > 0:
        train_rows, test_rows = _split_rows(y, test_size, seed)
        split = holdout.describe_split(X, y, test_rows, test_size, seed)
        X, X_test, y, y_test = X[train_rows], X[test_rows], y[train_rows], y[test_rows]
    sizes = [X.shape[1], *chosen["hidden_layer_sizes"], len(set(y.tolist()))]
    click.echo(
        f"training {'-'.join(map(str, sizes))} {_family_words(chosen)} on {dataset.name} "
        f"({len(X)} examples) with "
        f"{solver}, lam {chosen['lam']}",
        err=True,
    )
    common = dict(
        chosen,
        initial=initial,
        # Resumed, X is in the model's layout already (_rows_for above).
        image_shape=dataset.image_shape if initial is None else initial.image_shape,
        pixel_order=dataset.pixel_order if initial is None else initial.pixel_order,
        dtype=dtype,
        chunk_size=chunk_size,
    )
    progress = _Progress(iterations, settings.step_word(solver))
    try:
        with _sigterm_as_interrupt():
            if on_cluster:
                model = _train_on_cluster(X, y, scheduler, workers, common, progress)
            else:
                model = training.train(X, y, threads=threads, progress=progress, **common)
    finally:
        progress.close()
    if split is not None:
        model.info["split"] = split
    if recipe is not None:
        model.info["recipe"] = recipe
    info = model.info
    click.echo(
        f"stopped: {info['stop_reason']} after {info['n_iter']} {progress.unit}s "
        f"({info['train_time_s']:.1f} s)",
        err=True,
    )
    click.echo(f"training accuracy: {_accuracy_line(model, X, y)[1]}")
    if X_test is not None:
        model.info["test_accuracy"], line = _accuracy_line(model, X_test, y_test)
        click.echo(f"test accuracy: {line}")
    # Into the resumed file too: written beside it and renamed, so it stays whole until then.
    out = _save_trained(model, out, overwrite=force or into_resumed)
    click.echo(f"saved {out}", err=True)
    if report_path is not None:
        X_report, y_report, name = (
            (X, y, "the training data") if X_test is None else (X_test, y_test, "the test split")
        )
        _write_report(
            model,
            X_report,
            y_report,
            f"{dataset.name}, {name}",
            report_path,
            force,
            title=f"digitnet {'-'.join(map(str, model.layer_sizes))} on {dataset.name}",
        )
    if info["stop_reason"] == "interrupted":
        sys.exit(130)
    if info["stop_reason"] == "cluster_lost":
        raise RuntimeError(
            f"the Dask cluster was lost after {info['n_iter']} iterations; the weights reached "
            f"are saved in {out} (--resume {out} continues)"
        )


def _family_words(chosen: dict) -> str:
    """ "sigmoid" for the course's network, else e.g. "relu, softmax output"."""
    activation, output = chosen["activation"], chosen["output"]
    return (
        "sigmoid"
        if (activation, output) == ("sigmoid", "sigmoid")
        else f"{activation}, {output} output"
    )


def _numbered(path: Path) -> Iterator[Path]:
    """``path``, then ``stem-2.suffix``, ``stem-3.suffix``, ... beside it."""
    yield path
    for number in itertools.count(2):
        yield path.with_name(f"{path.stem}-{number}{path.suffix}")


def _new_model_name() -> Path:
    """The first of model.npz, model-2.npz, model-3.npz, ... that does not exist here yet."""
    return next(
        path
        for path in _numbered(Path("model.npz"))
        if not path.exists() and not path.with_suffix(".html").exists()
    )


def _save_trained(model, out: Path, overwrite: bool) -> Path:
    """Save a trained model at ``out``, or beside it where a file took that name while training
    ran, so that no training is lost and no file replaced."""
    from digitnet import model_io

    if out.exists() and not overwrite:
        taken, out = out, next(path for path in _numbered(out) if not path.exists())
        click.echo(f"{taken} appeared while training; saving to {out} instead", err=True)
    return model_io.save(model, out, overwrite=overwrite)


def _resumed_family(initial, resume: Path, name: str, asked: str) -> str:
    """--resume keeps the model's activation and output; one given that differs is refused."""
    have = getattr(initial, name)
    if _said(name) and asked != have:
        raise click.UsageError(
            f"{settings.SETTINGS[name].flag} {asked} does not match {resume} ({have}); "
            f"--resume continues that network: leave out {settings.SETTINGS[name].flag}"
        )
    return have


def _check_resumable(initial, resume: Path, hidden) -> None:
    """--resume continues the same network: refuse another --hidden before any data is read."""
    have = tuple(initial.layer_sizes[1:-1])
    if hidden is not None and tuple(hidden) != have:
        wanted = " ".join(f"--hidden {h}" for h in hidden)
        raise click.UsageError(
            f"{wanted} does not match {resume} ({'-'.join(map(str, initial.layer_sizes))}); "
            "--resume continues that network: leave out --hidden"
        )


def _train_on_cluster(X, y, scheduler, workers, common, progress):
    """The Dask path of ``train``: ``train.train`` with every evaluation on the cluster's workers."""
    from digitnet import distributed
    from digitnet import train as training

    try:
        distributed.require_dask()
    except ImportError as err:
        raise click.ClickException(f"--scheduler and --workers: {err}") from err
    where = f"the cluster at {scheduler}" if scheduler else f"a local cluster of {workers} workers"
    click.echo(f"evaluating on {where}", err=True)
    with distributed.connect(scheduler, workers) as client:
        return training.train(X, y, client=client, progress=progress, **common)


def _split_rows(y, fraction, seed):
    """(kept rows, held-out rows): ``holdout.split_rows``, its refusals as usage errors."""
    from digitnet import holdout

    try:
        return holdout.split_rows(y, fraction, seed)
    except ValueError as err:
        raise click.UsageError(str(err)) from err


def _test_split(source: str, dtype: str):
    """The data set's own test split where it has one (IDX folders, MNIST, Fashion-MNIST), else None."""
    from digitnet import datasets

    if source in datasets.DATASETS or Path(source).is_dir():
        return _load_data(source, "test", dtype)
    return None


# --- evaluate, predict ---------------------------------------------------------------------------

all_rows_option = click.option(
    "--all-rows",
    is_flag=True,
    help="Also score the rows MODEL trained on; by default they are left out (MODEL records them).",
)
resize_option = click.option(
    "--resize",
    is_flag=True,
    help="Resize images of another size to MODEL's, as predict resizes a picture.",
)


def _rows_for(model, dataset, resize: bool | None):
    """The data set's rows laid out as ``model`` reads them, or one line saying why they cannot.

    ``resize``: the command's --resize, or None where the command has no such option.
    """
    from digitnet import preprocess

    try:
        return preprocess.as_model_rows(
            dataset.X, dataset.image_shape, dataset.pixel_order, model, resize=bool(resize)
        )
    except preprocess.LayoutError as err:
        hint = "; pass --resize to resize them as `digitnet predict` resizes a picture"
        offer = resize is not None and model.pixel_order is not None
        raise ValueError(f"{dataset.name}: {err}{hint if offer else ''}") from err


class _Scored(NamedTuple):
    """What ``evaluate``, ``report`` and ``show`` score a model on."""

    X: object  # (r, n) rows in the model's layout
    y: object  # (r,) labels
    data: str  # the data set's name, e.g. "mnist20-5000.mat"
    name: str  # with the rows, e.g. "mnist20-5000.mat (1000 held-out rows)"
    rows: str  # "held-out" or "all"
    seen_in_training: int


def _scored_data(model, data: str, split: str, all_rows: bool, resize: bool) -> _Scored:
    """--data for judging ``model``: without the rows it trained on unless --all-rows."""
    from digitnet import holdout

    dataset = _load_data(data, split, str(model.dtype))
    classes = list(model.labels.classes)
    unknown = sorted(set(dataset.y.tolist()) - set(classes), key=str)
    if unknown:
        raise ValueError(
            f"{dataset.name} has labels {unknown[:10]} the model does not know ({classes})"
        )
    # In the model's layout: training fingerprinted the rows as the model read them, so the
    # same digits saved in another pixel order are still recognized as its training data.
    X = _rows_for(model, dataset, resize)
    chosen = holdout.rows_to_evaluate(model, X, dataset.y, all_rows=all_rows)
    if chosen.left_out:
        if len(chosen.rows) == 0:
            raise ValueError(
                f"the model trained on all {chosen.left_out} rows of {dataset.name}, so none are "
                "held out; pass --all-rows to score it on them anyway"
            )
        click.echo(
            f"left out the {chosen.left_out} rows of {dataset.name} the model trained on "
            "(--all-rows includes them)",
            err=True,
        )
    n = len(chosen.rows)
    if chosen.kind == "held-out":
        name = f"{dataset.name} ({n} held-out rows)"
    else:
        name = f"{dataset.name} (all {n} rows, {chosen.seen_in_training} seen in training)"
    return _Scored(
        X[chosen.rows],
        dataset.y[chosen.rows],
        dataset.name,
        name,
        chosen.kind,
        chosen.seen_in_training,
    )


@main.command()
@model_argument
@data_option
@split_option
@all_rows_option
@resize_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate(model_path, data, split, all_rows, resize, as_json):
    """Accuracy, per-class precision and recall, and the confusion matrix of MODEL on --data.

    Rows of --data that MODEL trained on (the training part of the split that `digitnet train`
    made and recorded) are left out unless --all-rows; the output says which rows were scored.
    """
    import numpy as np
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from digitnet import model_io

    model = model_io.load(model_path)
    scored = _scored_data(model, data, split, all_rows, resize)
    classes = list(model.labels.classes)
    predicted = model.predict(scored.X)
    precision, recall, _, support = precision_recall_fscore_support(
        scored.y, predicted, labels=classes, zero_division=0
    )
    confusion = confusion_matrix(scored.y, predicted, labels=classes)
    accuracy = float(np.mean(predicted == scored.y))
    if as_json:
        report = {
            "accuracy": accuracy,
            "n": len(scored.y),
            "data": scored.data,
            "rows": scored.rows,
            "seen_in_training": scored.seen_in_training,
            "classes": classes,
            "per_class": {
                str(c): {"precision": float(p), "recall": float(r), "support": int(s)}
                for c, p, r, s in zip(classes, precision, recall, support)
            },
            "confusion": confusion.tolist(),
        }
        click.echo(json.dumps(report))
        return
    click.echo(f"{model_path} on {scored.name}: accuracy {accuracy:.2%} of {len(scored.y)}")
    click.echo(f"{'class':>8} {'precision':>10} {'recall':>8} {'n':>6}")
    for c, p, r, s in zip(classes, precision, recall, support):
        click.echo(f"{c!s:>8} {p:>10.3f} {r:>8.3f} {s:>6}")
    click.echo("confusion (rows: true, columns: predicted)")
    width = max(5, *(len(str(c)) + 1 for c in classes))
    click.echo(" " * width + "".join(f"{c!s:>{width}}" for c in classes))
    for c, row in zip(classes, confusion):
        click.echo(f"{c!s:>{width}}" + "".join(f"{v:>{width}}" for v in row))


@main.command()
@model_argument
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per input.")
def predict(model_path, images, as_json):
    """Read the digit in each IMAGE (PNG/JPEG photo or scan, or a .npy row) with MODEL.

    Every readable IMAGE gets its answer; each unreadable one an error line (with --json an
    object {"file", "error"}); the exit code is 1 when any failed.
    """
    import numpy as np

    from digitnet import model_io, preprocess

    model = model_io.load(model_path)
    rows, errors = {}, {}
    for path in images:
        try:
            rows[path] = preprocess.prepare_file(path, model)
        except (ValueError, OSError) as err:  # ImageError, and anything the file system says
            errors[path] = str(err) if str(path) in str(err) else f"{path}: {err}"
    readable = [path for path in images if path in rows]
    results = {path: {"file": str(path), "error": errors[path]} for path in errors}
    if readable:
        X = np.stack([rows[path] for path in readable])
        for path, p, z in zip(readable, model.predict_proba(X), model.decision_function(X)):
            order = np.argsort(-z, kind="stable")  # the predict rule: largest logit first
            results[path] = {
                "file": str(path),
                "label": model.labels.classes[order[0]],
                "probabilities": {str(c): float(v) for c, v in zip(model.labels.classes, p)},
                "top": [(model.labels.classes[k], float(p[k])) for k in order[:3]],
            }
    if as_json:
        click.echo(
            json.dumps([{k: v for k, v in results[path].items() if k != "top"} for path in images])
        )
    else:
        for path in images:
            r = results[path]
            if "error" in r:
                click.echo(f"digitnet: error: {r['error']}", err=True)
                continue
            top = ", ".join(f"{c} {v:.1%}" for c, v in r["top"])
            click.echo(f"{r['file']}: {r['label']}  ({top})")
    if errors:
        sys.exit(1)


# --- gradcheck, selftest -------------------------------------------------------------------------


@main.command()
@click.option(
    "--inputs", type=click.IntRange(min=1), default=3, show_default=True, help="Input units."
)
@click.option(
    "--hidden",
    type=click.IntRange(min=1),
    multiple=True,
    help="Hidden layer size; repeat for more. [5]",
)
@click.option(
    "--classes", type=click.IntRange(min=2), default=3, show_default=True, help="Output units."
)
@click.option("--examples", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--lam", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option(
    "--max-checks",
    type=click.IntRange(min=1),
    default=2000,
    show_default=True,
    help="Check a random sample of this many weights in larger networks.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@_setting_option("activation")
@_setting_option("output")
def gradcheck(inputs, hidden, classes, examples, lam, max_checks, seed, activation, output):
    """Backpropagation against central differences for any architecture.

    Exits non-zero when the relative difference is above 1e-7. For relu and leaky_relu a
    weight whose difference straddles a kink (a hidden z within about 1e-4 of 0) can fail it
    on a correct gradient; another --seed moves the kinks.
    """
    import numpy as np

    from digitnet import gradcheck as checker
    from digitnet import network

    if not math.isfinite(lam):
        raise click.BadParameter(f"must be a finite number, not {lam}", param_hint="'--lam'")
    sizes = [inputs, *(hidden or (5,)), classes]
    rng = np.random.default_rng(seed)
    theta = network.initialize(sizes, rng, epsilon=1.0)
    X = rng.normal(size=(examples, inputs))
    Y = np.eye(classes)[rng.integers(0, classes, examples)]
    result = checker.check_gradient(
        theta,
        X,
        Y,
        lam,
        sizes,
        max_checks=max_checks,
        rng=rng,
        activation=activation,
        output=output,
    )
    click.echo(
        f"network {'-'.join(map(str, sizes))} {activation}, {output} output, lam {lam}, "
        f"{examples} examples, "
        f"{result.indices.size} of {theta.size} weights checked"
    )
    for w in result.worst:
        click.echo(
            f"  Theta{w.layer}[{w.row}, {w.column}]: numeric {w.numeric:+.10e} "
            f"analytic {w.analytic:+.10e} |diff| {w.abs_error:.1e}"
        )
    ok = result.relative_difference <= 1e-7
    click.echo(
        f"relative difference {result.relative_difference:.3e} ({'ok' if ok else 'FAILED'}: limit 1e-7)"
    )
    if not ok:
        sys.exit(1)


@main.command()
@click.option(
    "--data",
    "data_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The course's ex4data1.mat, to check the published costs.",
)
@click.option(
    "--weights",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The course's ex4weights.mat (with --data).",
)
def selftest(data_path, weights):
    """The course's checks, without prompts; exits non-zero on any mismatch."""
    from digitnet import data as loaders
    from digitnet import ex4, network

    checks = [("sigmoidGradient(0) = 0.25", float(ex4.sigmoid_gradient(0.0)) == 0.25, "")]
    for lam in (0, 3):
        diff = ex4.check_nn_gradients(lam)[2]
        checks.append((f"checkNNGradients({lam}) < 1e-9", diff < 1e-9, f"{diff:.2e}"))
    if (data_path is None) != (weights is None):
        raise click.UsageError("--data and --weights go together")
    if data_path is not None:
        dataset = loaders.load_course_mat(data_path, course_labels=True)
        thetas = loaders.load_course_weights(weights)
        if len(thetas) != 2 or thetas[0].shape[1] != dataset.X.shape[1] + 1:
            shapes = " and ".join(str(theta.shape) for theta in thetas)
            raise click.UsageError(
                f"the course's checks take Theta1 and Theta2 for {dataset.X.shape[1]} inputs; "
                f"{weights.name} holds {shapes}"
            )
        nn_params = network.pack(thetas, order="F")
        n, hidden, labels = thetas[0].shape[1] - 1, thetas[0].shape[0], thetas[1].shape[0]
        for lam, published in [(0, 0.287629), (1, 0.383770)]:
            J, _ = ex4.nn_cost_function(nn_params, n, hidden, labels, dataset.X, dataset.y, lam)
            checks.append(
                (f"cost at lambda {lam} = {published}", round(J, 6) == published, f"{J:.6f}")
            )
    for name, ok, value in checks:
        click.echo(f"{'ok  ' if ok else 'FAIL'} {name}" + (f" ({value})" if value else ""))
    if data_path is not None and not all(ok for name, ok, _ in checks if name.startswith("cost")):
        click.echo(
            "note: the published costs hold only for the course's own ex4data1.mat with "
            "ex4weights.mat; other digits, such as the stand-in mnist20-5000.mat, give other costs"
        )
    if not all(ok for _, ok, _ in checks):
        sys.exit(1)


# --- Octave interop ------------------------------------------------------------------------------


@main.command("export")
@model_argument
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
def export_command(model_path, out, force):
    """Write MODEL for use elsewhere; OUT's suffix decides how.

    OUT.onnx: an ONNX graph for onnxruntime and other runtimes (needs digitnet[onnx]).
    OUT.mat: a 2-layer MODEL as Theta1, Theta2 for the course's Octave code.
    """
    from digitnet import model_io

    suffix = out.suffix.lower()
    if suffix not in (".onnx", ".mat"):
        raise click.UsageError(f"{out}: OUT must end in .onnx (ONNX) or .mat (Octave)")
    _check_out(out, force)
    model = model_io.load(model_path)
    if suffix == ".onnx":
        from digitnet import onnx_export

        onnx_export.export_onnx(model, out, overwrite=force)
        click.echo(f"wrote {out} (ONNX: input X, outputs probabilities and label)")
    else:
        model_io.export_octave(model, out, overwrite=force)
        click.echo(f"wrote {out} (Theta1, Theta2)")


@main.command("import")
@click.argument("weights", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
def import_command(weights, out, force):
    """Turn the course's weights file (Theta1, Theta2 .mat) into a digitnet model."""
    from digitnet import model_io

    _check_out(out, force)
    model = model_io.import_octave(weights)
    model_io.save(model, out, overwrite=force)
    click.echo(f"wrote {out} ({'-'.join(map(str, model.layer_sizes))})")


# --- pictures and the report --------------------------------------------------------------------

PICTURES = ("data", "hidden", "curves", "confusion", "mistakes")


@main.command()
@click.argument("kind", type=click.Choice(PICTURES))
@optional_model_argument
@data_option
@split_option
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="PNG to write [KIND.png]."
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option("--show", "show_window", is_flag=True, help="Open a window when a display exists.")
@click.option("--labels/--no-labels", default=False, help="Label each digit (show data).")
@all_rows_option
@resize_option
def show(kind, model_path, data, split, out, force, show_window, labels, all_rows, resize):
    """Draw a picture: the data, the hidden units, learning curves, confusion or mistakes."""
    from digitnet import model_io, plots, report

    out = out or Path(f"{kind}.png")
    _check_out(out, force)
    model = model_io.load(model_path) if model_path else None
    if kind != "data" and model is None:
        raise click.UsageError(f"'show {kind}' needs a MODEL")
    if kind in ("hidden", "curves"):
        fig = (
            plots.plot_hidden_units(model)
            if kind == "hidden"
            else plots.plot_learning_curves(
                model.history, step=settings.step_word(model.info.get("solver"))
            )
        )
    elif kind == "data":
        dataset = _load_data(data, split, "float64" if model is None else str(model.dtype))
        fig = plots.plot_data(
            dataset.X,
            dataset.image_shape,
            dataset.pixel_order,
            labels=dataset.y if labels else None,
            title=dataset.name,
        )
    else:
        scored = _scored_data(model, data, split, all_rows, resize)
        evaluation = report.Evaluation.of(model, scored.X, scored.y, scored.name)
        fig = (
            plots.plot_confusion(evaluation.y, evaluation.predicted, list(model.labels.classes))
            if kind == "confusion"
            else plots.plot_mistakes(
                evaluation.X,
                evaluation.y,
                evaluation.predicted,
                evaluation.confidence,
                model.image_shape,
                model.known_pixel_order(),
            )
        )
    plots.save_figure(fig, out)
    click.echo(f"wrote {out}")
    if show_window:
        _open_window(out)


def _open_window(png: Path) -> None:
    """Show the written PNG in a matplotlib window, or say why not."""
    import os

    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        click.echo("no display here: open the file instead", err=True)
        return
    import matplotlib.image
    import matplotlib.pyplot as plt

    plt.imshow(matplotlib.image.imread(png))
    plt.axis("off")
    plt.show()


@main.command("report")
@model_argument
@data_option
@split_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@all_rows_option
@resize_option
def report_command(model_path, data, split, out, force, all_rows, resize):
    """One self-contained HTML page: model card, metrics and every picture.

    As with evaluate, rows of --data that MODEL trained on are left out unless --all-rows.
    """
    from digitnet import model_io

    _check_out(out, force)
    model = model_io.load(model_path)
    scored = _scored_data(model, data, split, all_rows, resize)
    _write_report(model, scored.X, scored.y, scored.name, out, force, title=str(model_path))


def _write_report(model, X, y, name, out, force, title) -> None:
    from digitnet import report

    evaluation = report.Evaluation.of(model, X, y, name)
    report.write_report(report.build_report(model, evaluation, title=title), out, overwrite=force)
    click.echo(f"wrote {out}", err=True)


@main.command("explore")
@data_option
@click.option(
    "--lam", "lams", type=float, multiple=True, help="Lambda values; repeat. [0 0.3 1 3 10]"
)
@click.option(
    "--max-iter",
    "max_iters",
    type=int,
    multiple=True,
    help="Iteration counts; repeat. [10 30 100 300]",
)
@click.option(
    "--hidden", type=int, multiple=True, help="Hidden layer size; repeat for more layers. [25]"
)
@click.option(
    "--validation",
    type=float,
    default=0.3,
    show_default=True,
    help="Fraction held out for validation.",
)
@click.option(
    "--processes", type=click.IntRange(min=1), help="Processes to use (default: one per core)."
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("explore.png"),
    show_default=True,
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def explore_command(data, lams, max_iters, hidden, validation, processes, seed, out, force):
    """Train over a grid of lambda and max-iter and plot training vs validation accuracy."""
    from digitnet import plots
    from digitnet.explore import explore

    _check_out(out, force)
    dataset = _load_data(data)
    keep, held_out = _split_rows(dataset.y, validation, seed)
    X, X_val, y, y_val = dataset.X[keep], dataset.X[held_out], dataset.y[keep], dataset.y[held_out]
    records = explore(
        X,
        y,
        X_val,
        y_val,
        lams or (0, 0.3, 1, 3, 10),
        max_iters or (10, 30, 100, 300),
        hidden_layer_sizes=hidden or (25,),
        random_state=seed,
        workers=processes,
    )
    click.echo(f"{'lambda':>8} {'max_iter':>9} {'train':>7} {'validation':>11}")
    for r in records:
        click.echo(
            f"{r['lam']:>8g} {r['max_iter']:>9} {r['train_accuracy']:>7.2%} {r['val_accuracy']:>11.2%}"
        )
    plots.save_figure(plots.plot_exploration(records), out)
    click.echo(f"wrote {out}")


# --- the web page --------------------------------------------------------------------------------


@main.command()
@optional_model_argument
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to bind (loopback only by default).",
)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option(
    "--test-data",
    help="Labelled digits for the page's second view (its test split): an IDX folder, .mat, ...",
)
def serve(model_path, host, port, test_data):
    """Serve the page where you draw a digit and watch the network read it."""
    try:
        from digitnet.web import app
    except ImportError as err:
        raise click.ClickException(
            f"serve needs the web extra (FastAPI, uvicorn): pip install 'digitnet[web]' ({err})"
        ) from err
    from digitnet import model_io

    if model_path is None:
        click.echo("no MODEL given: training one on scikit-learn's digits first", err=True)
        model, digits, note = app.default_model()
    else:
        model, digits, note = model_io.load(model_path), None, f"model {model_path.name}"
    if test_data is not None:
        digits = _load_data(test_data, "test", str(model.dtype))
    app.serve(model, host, port, note=note, test_digits=digits)


# --- the course companion: grade, notebook ------------------------------------------------------

NOTEBOOK = "ex4_neural_networks.ipynb"


@main.command("recipes")
def recipes_command():
    """List the recipes of digitnet train --recipe: purpose, settings, how they were chosen."""
    from digitnet.recipes import describe

    click.echo("\n\n".join(describe(recipe) for recipe in RECIPES.values()))


@main.command("grade")
@click.argument("solution", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60,
    show_default=True,
    help="Seconds SOLUTION may take to import, and for each part.",
)
@click.option(
    "--seed", type=click.IntRange(min=0), help="Seed of the generated test cases [fresh each run]."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def grade_command(solution, timeout, seed, as_json):
    """Grade your own solution of the exercise (SOLUTION.py), offline, with hints.

    Exits 0 when every part passes, 1 otherwise.
    """
    from digitnet import grade

    report = grade.grade(solution, timeout=timeout, seed=seed)
    click.echo(json.dumps(report.to_json()) if as_json else report.table())
    sys.exit(0 if report.passed else 1)


@main.command("notebook")
@click.option("--force", is_flag=True, help=f"Overwrite {NOTEBOOK} if it exists.")
def notebook_command(force):
    """Copy the exercise notebook into the current folder, to open in Jupyter."""
    from importlib.resources import files

    from digitnet.files import write_atomically

    out = Path(NOTEBOOK)
    _check_out(out, force)
    text = files("digitnet.notebooks").joinpath(NOTEBOOK).read_bytes()
    write_atomically(out, lambda file: file.write(text), overwrite=force)
    click.echo(f"wrote {out}; open it with: jupyter lab {out}")


if __name__ == "__main__":
    main()
