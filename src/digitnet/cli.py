"""The ``digitnet`` command: parses arguments, calls the library, prints.

Every command runs through ``main``. Exit codes: 0 success, 2 usage error (click's), 1 failure with
a one-line message that names the problem; ``digitnet --debug ...`` shows the traceback instead.
Heavy modules (NumPy, SciPy, scikit-learn, matplotlib) are imported inside the commands so that
``digitnet --help`` answers at once.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from pathlib import Path

import click

SOLVERS = ("lbfgs", "cg", "adam", "sgd")


class DigitnetGroup(click.Group):
    """Turns any exception from a command into one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            message = str(err) or type(err).__name__
            click.echo(f"digitnet: error: {message}", err=True)
            ctx.exit(1)


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
    help="'digits' (scikit-learn's, built in), 'fashion-mnist', a course .mat, an IDX folder or "
    "images file, or a .npz/.csv (layouts: digitnet.data).",
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
    """Refuse before any work is done, not after, when the output exists and --force is not given."""
    if out is not None and out.exists() and not force:
        raise click.UsageError(f"{out} exists; pass --force to overwrite it")


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


@main.command()
@data_option
@click.option(
    "--hidden", type=int, multiple=True, help="Hidden layer size; repeat for more layers. [25]"
)
@click.option("--lam", type=float, default=1.0, show_default=True, help="Regularization lambda.")
@click.option("--solver", type=click.Choice(SOLVERS), default="lbfgs", show_default=True)
@click.option("--max-iter", type=int, help="Iterations (lbfgs, cg) [100].")
@click.option("--epochs", type=int, help="Epochs (adam, sgd) [20].")
@click.option(
    "--batch-size", type=int, default=200, show_default=True, help="Mini-batch size (adam, sgd)."
)
@click.option("--lr", type=float, help="Learning rate (adam 0.001, sgd 0.1).")
@click.option(
    "--validation",
    type=float,
    default=0.0,
    show_default=True,
    help="Fraction held out for validation.",
)
@click.option(
    "--early-stopping",
    is_flag=True,
    help="Stop when validation accuracy stops improving; keep the best weights.",
)
@click.option(
    "--test-size",
    type=float,
    default=0.2,
    show_default=True,
    help="Stratified test split when --data has no test set.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--dtype", type=click.Choice(["float64", "float32"]), default="float64", show_default=True
)
@click.option(
    "--threads", type=int, help="Threads evaluating rows, one BLAS thread each [all cores]."
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Save the model here (.npz)."
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@click.option(
    "--report",
    "with_report",
    is_flag=True,
    help="Also write an HTML report (beside --out, else report.html) on the test split.",
)
@click.option(
    "--resume",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Continue from this model.",
)
@click.option(
    "--chunk-size", type=int, help="Evaluate at most this many rows at a time (memory bound)."
)
@click.option("--scheduler", help="Train on a running Dask cluster at this address (lbfgs, cg).")
@click.option(
    "--workers", type=int, help="Train on a new local Dask cluster of N worker processes."
)
def train(
    data,
    hidden,
    lam,
    solver,
    max_iter,
    epochs,
    batch_size,
    lr,
    validation,
    early_stopping,
    test_size,
    seed,
    dtype,
    threads,
    out,
    force,
    with_report,
    resume,
    chunk_size,
    scheduler,
    workers,
):
    """Train a network and print its test accuracy.

    With no options: the course's architecture (one hidden layer of 25) on scikit-learn's bundled
    digits, with a stratified 20% test split.
    """
    from digitnet import model_io
    from digitnet import train as training

    _check_out(out, force)
    report_path = (
        (out.with_suffix(".html") if out else Path("report.html")) if with_report else None
    )
    _check_out(report_path, force)
    full_batch = solver in ("lbfgs", "cg")
    if (epochs if full_batch else max_iter) is not None:
        flag, use = ("--epochs", "--max-iter") if full_batch else ("--max-iter", "--epochs")
        raise click.UsageError(f"{flag} is for the mini-batch solvers; use {use} with {solver}")
    iterations = (max_iter or 100) if full_batch else (epochs or 20)

    dataset = _load_data(data, "train", dtype)
    test = _test_split(data, dtype)
    X, y, X_test, y_test = dataset.X, dataset.y, None, None
    if test is not None:
        X_test, y_test = test.X, test.y
    elif test_size > 0:
        X, X_test, y, y_test = _stratified(X, y, test_size, seed)
    initial = model_io.load(resume) if resume else None
    sizes = list(hidden) or ([25] if initial is None else initial.layer_sizes[1:-1])
    click.echo(
        f"training {'-'.join(map(str, [X.shape[1], *sizes, len(set(y.tolist()))]))} on "
        f"{dataset.name} ({len(X)} examples) with {solver}, lam {lam}",
        err=True,
    )
    on_cluster = scheduler is not None or workers is not None
    if on_cluster and not full_batch:
        raise click.UsageError("--scheduler and --workers train with lbfgs or cg")
    common = dict(
        hidden_layer_sizes=sizes,
        lam=lam,
        solver=solver,
        max_iter=iterations,
        early_stopping=early_stopping,
        random_state=seed,
        initial=initial,
        image_shape=dataset.image_shape,
        pixel_order=dataset.pixel_order,
        dtype=dtype,
        chunk_size=chunk_size,
    )
    progress = _Progress(iterations, "iteration" if full_batch else "epoch")
    try:
        with _sigterm_as_interrupt():
            if on_cluster:
                model = _train_on_cluster(
                    X, y, validation, seed, scheduler, workers, common, progress
                )
            else:
                model = training.train(
                    X,
                    y,
                    batch_size=batch_size,
                    learning_rate=lr,
                    validation_fraction=validation,
                    threads=threads,
                    progress=progress,
                    **common,
                )
    finally:
        progress.close()
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
    if out is not None:
        model_io.save(model, out, overwrite=force or (resume is not None and out == resume))
        click.echo(f"saved {out}", err=True)
    elif info["stop_reason"] == "interrupted":
        click.echo("interrupted; pass --out to keep the weights next time", err=True)
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


def _train_on_cluster(X, y, validation, seed, scheduler, workers, settings, progress):
    """The Dask path of ``train``: same settings, every evaluation on the cluster's workers."""
    from digitnet import distributed

    validation_data = None
    if validation > 0:
        X, X_val, y, y_val = _stratified(X, y, validation, seed)
        validation_data = (X_val, y_val)
    where = f"the cluster at {scheduler}" if scheduler else f"a local cluster of {workers} workers"
    click.echo(f"evaluating on {where}", err=True)
    with distributed.connect(scheduler, workers) as client:
        return distributed.train_dask(
            X, y, client, validation_data=validation_data, progress=progress, **settings
        )


def _stratified(X, y, fraction, seed):
    """(X, X_held_out, y, y_held_out): a stratified split in NumPy (no scikit-learn start-up)."""
    from digitnet.data import stratified_split

    try:
        keep, held_out = stratified_split(y, fraction, seed)
    except ValueError as err:
        raise click.UsageError(str(err)) from err
    return X[keep], X[held_out], y[keep], y[held_out]


def _test_split(source: str, dtype: str):
    """The data set's own test split where it has one (IDX folders, Fashion-MNIST), else None."""
    if source == "fashion-mnist" or Path(source).is_dir():
        return _load_data(source, "test", dtype)
    return None


# --- evaluate, predict ---------------------------------------------------------------------------


@main.command()
@model_argument
@data_option
@split_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate(model_path, data, split, as_json):
    """Accuracy, per-class precision and recall, and the confusion matrix of MODEL on --data."""
    import numpy as np
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from digitnet import model_io

    model = model_io.load(model_path)
    dataset = _load_data(data, split, str(model.dtype))
    classes = list(model.labels.classes)
    unknown = sorted(set(dataset.y.tolist()) - set(classes), key=str)
    if unknown:
        raise ValueError(
            f"{dataset.name} has labels {unknown[:10]} the model does not know ({classes})"
        )
    predicted = model.predict(dataset.X)
    precision, recall, _, support = precision_recall_fscore_support(
        dataset.y, predicted, labels=classes, zero_division=0
    )
    confusion = confusion_matrix(dataset.y, predicted, labels=classes)
    accuracy = float(np.mean(predicted == dataset.y))
    if as_json:
        report = {
            "accuracy": accuracy,
            "n": len(dataset.y),
            "data": dataset.name,
            "classes": classes,
            "per_class": {
                str(c): {"precision": float(p), "recall": float(r), "support": int(s)}
                for c, p, r, s in zip(classes, precision, recall, support)
            },
            "confusion": confusion.tolist(),
        }
        click.echo(json.dumps(report))
        return
    click.echo(f"{model_path} on {dataset.name}: accuracy {accuracy:.2%} of {len(dataset.y)}")
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
    """Read the digit in each IMAGE (PNG/JPEG photo or scan, or a .npy row) with MODEL."""
    import numpy as np

    from digitnet import model_io, preprocess

    model = model_io.load(model_path)
    rows = np.stack([preprocess.prepare_file(path, model) for path in images])
    proba = model.predict_proba(rows)
    results = []
    for path, p in zip(images, proba):
        order = np.argsort(p)[::-1]
        results.append(
            {
                "file": str(path),
                "label": model.labels.classes[order[0]],
                "probabilities": {str(c): float(v) for c, v in zip(model.labels.classes, p)},
                "top": [(model.labels.classes[k], float(p[k])) for k in order[:3]],
            }
        )
    if as_json:
        click.echo(
            json.dumps([{k: r[k] for k in ("file", "label", "probabilities")} for r in results])
        )
        return
    for r in results:
        top = ", ".join(f"{c} {v:.1%}" for c, v in r["top"])
        click.echo(f"{r['file']}: {r['label']}  ({top})")


# --- gradcheck, selftest -------------------------------------------------------------------------


@main.command()
@click.option("--inputs", type=int, default=3, show_default=True, help="Input units.")
@click.option("--hidden", type=int, multiple=True, help="Hidden layer size; repeat for more. [5]")
@click.option("--classes", type=int, default=3, show_default=True, help="Output units.")
@click.option("--examples", type=int, default=5, show_default=True)
@click.option("--lam", type=float, default=0.0, show_default=True)
@click.option(
    "--max-checks",
    type=int,
    default=2000,
    show_default=True,
    help="Check a random sample of this many weights in larger networks.",
)
@click.option("--seed", type=int, default=0, show_default=True)
def gradcheck(inputs, hidden, classes, examples, lam, max_checks, seed):
    """Backpropagation against central differences for any architecture.

    Exits non-zero when the relative difference is above 1e-7.
    """
    import numpy as np

    from digitnet import gradcheck as checker
    from digitnet import network

    sizes = [inputs, *(hidden or (5,)), classes]
    rng = np.random.default_rng(seed)
    theta = network.initialize(sizes, rng, epsilon=1.0)
    X = rng.normal(size=(examples, inputs))
    Y = np.eye(classes)[rng.integers(0, classes, examples)]
    result = checker.check_gradient(theta, X, Y, lam, sizes, max_checks=max_checks, rng=rng)
    click.echo(
        f"network {'-'.join(map(str, sizes))}, lam {lam}, {examples} examples, "
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
        nn_params = network.pack(thetas, order="F")
        n, hidden, labels = thetas[0].shape[1] - 1, thetas[0].shape[0], thetas[1].shape[0]
        for lam, published in [(0, 0.287629), (1, 0.383770)]:
            J, _ = ex4.nn_cost_function(nn_params, n, hidden, labels, dataset.X, dataset.y, lam)
            checks.append(
                (f"cost at lambda {lam} = {published}", round(J, 6) == published, f"{J:.6f}")
            )
    for name, ok, value in checks:
        click.echo(f"{'ok  ' if ok else 'FAIL'} {name}" + (f" ({value})" if value else ""))
    if not all(ok for _, ok, _ in checks):
        sys.exit(1)


# --- Octave interop ------------------------------------------------------------------------------


@main.command("export")
@model_argument
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
def export_command(model_path, out, force):
    """Write a 2-layer MODEL as a .mat with Theta1, Theta2 for the course's Octave code."""
    from digitnet import model_io

    _check_out(out, force)
    model_io.export_octave(model_io.load(model_path), out, overwrite=force)
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
def show(kind, model_path, data, split, out, force, show_window, labels):
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
            else plots.plot_learning_curves(model.history)
        )
    else:
        dataset = _load_data(data, split, "float64" if model is None else str(model.dtype))
        if kind == "data":
            fig = plots.plot_data(
                dataset.X,
                dataset.image_shape,
                dataset.pixel_order,
                labels=dataset.y if labels else None,
                title=dataset.name,
            )
        else:
            evaluation = report.Evaluation.of(model, dataset.X, dataset.y, dataset.name)
            fig = (
                plots.plot_confusion(evaluation.y, evaluation.predicted, list(model.labels.classes))
                if kind == "confusion"
                else plots.plot_mistakes(
                    evaluation.X,
                    evaluation.y,
                    evaluation.predicted,
                    evaluation.confidence,
                    model.image_shape,
                    model.pixel_order,
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
def report_command(model_path, data, split, out, force):
    """One self-contained HTML page: model card, metrics and every picture."""
    from digitnet import model_io

    _check_out(out, force)
    model = model_io.load(model_path)
    dataset = _load_data(data, split, str(model.dtype))
    _write_report(model, dataset.X, dataset.y, dataset.name, out, force, title=str(model_path))


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
@click.option("--workers", type=int, help="Processes (default: one per core).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("explore.png"),
    show_default=True,
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def explore_command(data, lams, max_iters, hidden, validation, workers, seed, out, force):
    """Train over a grid of lambda and max-iter and plot training vs validation accuracy."""
    from digitnet import plots
    from digitnet.explore import explore

    _check_out(out, force)
    dataset = _load_data(data)
    X, X_val, y, y_val = _stratified(dataset.X, dataset.y, validation, seed)
    records = explore(
        X,
        y,
        X_val,
        y_val,
        lams or (0, 0.3, 1, 3, 10),
        max_iters or (10, 30, 100, 300),
        hidden_layer_sizes=hidden or (25,),
        random_state=seed,
        workers=workers,
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
            f"the web page needs FastAPI and uvicorn: pip install 'digitnet[web]' ({err})"
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


if __name__ == "__main__":
    main()
