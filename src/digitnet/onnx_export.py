"""A digitnet model as an ONNX graph, to run in onnxruntime (or any ONNX runtime, in any language).

The graph
    input ``X``
        float32 ``[N, n]``: one image per row, unrolled in the model's own pixel order, exactly
        the rows ``Model.predict`` takes.
    output ``probabilities``
        float32 ``[N, K]``: ``Model.predict_proba``; column ``k`` is ``labels[k]``.
    output ``label``
        ``[N]``: ``Model.predict``, int64 for integer labels, string for string labels.

    Inside, the graph computes in the model's own dtype (a float64 model casts ``X`` to double),
    so its labels agree with ``Model.predict`` even on close calls. Every layer is one ``Gemm``,
    ``z = a @ W.T + b`` with ``W = Theta[:, 1:]`` and ``b = Theta[:, 0]``; hidden layers then apply
    their activation (:data:`HIDDEN_ACTIVATIONS`) and the last layer its output
    (:data:`OUTPUTS`). ``label`` is the ``ArgMax`` of the last layer's logits looked up in the
    class table (``Gather``), as ``Model.predict`` does: saturated sigmoid outputs can round to
    equal probabilities while their logits still differ.

The metadata (``metadata_props``, strings)
    ``labels`` (JSON list), ``image_shape`` (JSON ``[height, width]``), ``pixel_order``
    (``"C"``, ``"F"``, or ``""`` where the model does not know it), ``layer_sizes`` (JSON), ``activation``, ``output`` and
    ``digitnet_version``.

The activation and the output are data: each is an entry in a small table of graph-building
functions, so a new one is one entry. Before writing, the graph is checked with
``onnx.checker`` and run on a few rows with the ``onnx`` package's own reference evaluator
against ``Model.predict_proba``, so a graph that computes something else is never written.

Needs the optional ``onnx`` package (``pip install 'digitnet[onnx]'``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

import digitnet
from digitnet.files import write_atomically
from digitnet.model import Model

if TYPE_CHECKING:
    import onnx

__all__ = ["HIDDEN_ACTIVATIONS", "OPSET", "OUTPUTS", "export_onnx", "to_onnx"]

OPSET = 17
"""The ONNX operator set the graph uses (ONNX 1.12, 2022): any recent runtime reads it."""
_IR_VERSION = 8  # the IR version of ONNX 1.12, which opset 17 came with: not newer than needed

LEAKY_RELU_SLOPE = 0.01
"""Slope of ``leaky_relu`` for negative inputs (PyTorch's and Keras's default)."""

_INSTALL_HINT = "ONNX export needs the onnx package: pip install 'digitnet[onnx]'"


def _onnx() -> Any:
    """The ``onnx`` module, or an ImportError whose one line says how to install it."""
    try:
        import onnx
        import onnx.numpy_helper
        import onnx.reference
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err
    return onnx


class _Graph:
    """Collects nodes and constant tensors, giving every intermediate value a fresh name."""

    def __init__(self, dtype: np.dtype) -> None:
        self.onnx = _onnx()
        self.dtype = dtype
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def constant(self, name: str, value: Any, dtype: Any = None) -> str:
        """Add a constant tensor (in the graph's dtype unless ``dtype`` says otherwise)."""
        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        """Add one node and return the name of its (single) output."""
        output = f"{op_type.lower()}_{len(self.nodes)}"
        node = self.onnx.helper.make_node(op_type, list(inputs), [output], **attributes)
        self.nodes.append(node)
        return output


# --- hidden activations: z -> a ------------------------------------------------------------------


def _leaky_relu(graph: _Graph, z: str) -> str:
    # max(z, slope z) with the slope a tensor of the graph's dtype; the LeakyRelu op's alpha
    # attribute is a float32, which would put a float64 model off in the 8th digit.
    slope = graph.constant(f"leaky_slope_{len(graph.nodes)}", LEAKY_RELU_SLOPE)
    return graph.op("Max", z, graph.op("Mul", z, slope))


HIDDEN_ACTIVATIONS: dict[str, Callable[[_Graph, str], str]] = {
    "sigmoid": lambda graph, z: graph.op("Sigmoid", z),
    "tanh": lambda graph, z: graph.op("Tanh", z),
    "relu": lambda graph, z: graph.op("Relu", z),
    "leaky_relu": _leaky_relu,
}
"""Graph builders of the hidden activations, by the name a model gives its activation."""


# --- outputs: logits z (N, K) -> probabilities (N, K) -------------------------------------------


def _sigmoid_output(graph: _Graph, z: str) -> str:
    """The course's K independent sigmoids divided by their sum: ``softmax(log g(z))``.

    ``log g(z) = min(z, 0) - log(1 + exp(-|z|))`` is finite for any ``z`` (``exp`` sees only
    ``-|z| <= 0``), so rows whose outputs all underflow still get their ranking, as in
    ``Model.predict_proba``. Built from ops onnxruntime has in float64 (it has no float64
    ``Softplus``).
    """
    zero, one = graph.constant("zero", 0.0), graph.constant("one", 1.0)
    log_1p_exp = graph.op(
        "Log", graph.op("Add", one, graph.op("Exp", graph.op("Neg", graph.op("Abs", z))))
    )
    log_outputs = graph.op("Sub", graph.op("Min", z, zero), log_1p_exp)
    return graph.op("Softmax", log_outputs, axis=1)


OUTPUTS: dict[str, Callable[[_Graph, str], str]] = {
    "sigmoid": _sigmoid_output,
    "softmax": lambda graph, z: graph.op("Softmax", z, axis=1),
}
"""Graph builders of the output layer, by the name a model gives its output."""


def _model_family(model: Model) -> tuple[str, str]:
    """``(activation, output)`` of ``model``: ``model.activation`` and ``model.output``."""
    return model.activation, model.output


def _class_table(model: Model) -> tuple[np.ndarray, int]:
    """The labels as an array ONNX can hold, and the ONNX element type of ``label``."""
    onnx = _onnx()
    classes = model.labels.classes
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return np.array(classes, dtype=np.int64), onnx.TensorProto.INT64
    if all(isinstance(c, str) for c in classes):
        return np.array(classes, dtype=object), onnx.TensorProto.STRING
    raise ValueError(
        f"ONNX export needs integer or string labels, got {[type(c).__name__ for c in classes][:3]}"
    )


def to_onnx(
    model: Model, *, activation: str | None = None, output: str | None = None
) -> onnx.ModelProto:
    """Build the ONNX graph of ``model`` (see the module docstring for its inputs and outputs).

    Parameters
    ----------
    model : Model
        Any digitnet network, any depth.
    activation, output : str, optional
        The hidden activation (a key of :data:`HIDDEN_ACTIVATIONS`) and the output (a key of
        :data:`OUTPUTS`); by default the model's own.

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker``.
    """
    onnx = _onnx()
    helper = onnx.helper
    own_activation, own_output = _model_family(model)
    activation, output = activation or own_activation, output or own_output
    if activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(
            f"ONNX export knows the activations {list(HIDDEN_ACTIVATIONS)}, not {activation!r}"
        )
    if output not in OUTPUTS:
        raise ValueError(f"ONNX export knows the outputs {list(OUTPUTS)}, not {output!r}")
    dtype = np.dtype(model.dtype)
    onnx_dtype = helper.np_dtype_to_tensor_dtype(dtype)
    graph = _Graph(dtype)
    classes, label_type = _class_table(model)

    a = "X" if dtype == np.float32 else graph.op("Cast", "X", to=onnx_dtype)
    for layer, theta in enumerate(model.thetas, start=1):
        weights = graph.constant(f"W{layer}", theta[:, 1:])
        bias = graph.constant(f"b{layer}", theta[:, 0])
        z = graph.op("Gemm", a, weights, bias, transB=1)
        last = layer == len(model.thetas)
        a = OUTPUTS[output](graph, z) if last else HIDDEN_ACTIVATIONS[activation](graph, z)
    units = graph.op("ArgMax", z, axis=1, keepdims=0)
    table = graph.constant("classes", classes, dtype=classes.dtype)
    graph.nodes.append(helper.make_node("Gather", [table, units], ["label"], axis=0))
    graph.nodes.append(helper.make_node("Cast", [a], ["probabilities"], to=onnx.TensorProto.FLOAT))

    n, K = model.layer_sizes[0], model.layer_sizes[-1]
    sizes = "-".join(map(str, model.layer_sizes))
    onnx_graph = helper.make_graph(
        graph.nodes,
        f"digitnet_{sizes}",
        [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, ["N", n])],
        [
            helper.make_tensor_value_info("probabilities", onnx.TensorProto.FLOAT, ["N", K]),
            helper.make_tensor_value_info("label", label_type, ["N"]),
        ],
        initializer=graph.initializers,
        doc_string=f"digitnet {sizes} network, {activation} hidden units, {output} output",
    )
    proto = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=_IR_VERSION,
        producer_name="digitnet",
        producer_version=digitnet.__version__,
    )
    helper.set_model_props(
        proto,
        {
            "labels": json.dumps(list(model.labels.classes)),
            "image_shape": json.dumps(list(model.image_shape)),
            "pixel_order": model.pixel_order or "",
            "layer_sizes": json.dumps(model.layer_sizes),
            "activation": activation,
            "output": output,
            "digitnet_version": digitnet.__version__,
        },
    )
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _check_against_model(proto: onnx.ModelProto, model: Model) -> None:
    """Run the graph with the onnx package's reference evaluator on a few rows; it must agree."""
    onnx = _onnx()
    X = np.random.default_rng(0).uniform(0, 1, size=(16, model.layer_sizes[0])).astype(np.float32)
    probabilities, labels = onnx.reference.ReferenceEvaluator(proto).run(None, {"X": X})
    X_model = X.astype(model.dtype)  # the values the graph reads, in the model's own dtype
    worst = float(np.max(np.abs(probabilities - model.predict_proba(X_model))))
    wrong = int(np.sum(np.asarray(labels) != model.predict(X_model)))
    if worst > 1e-5 or wrong:
        raise ValueError(
            f"the ONNX graph disagrees with the model (probabilities differ by up to {worst:.1e}, "
            f"{wrong} of {len(X)} labels differ); its activation or output may be one ONNX "
            "export does not know"
        )


def export_onnx(model: Model, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``model`` as an ONNX file (:func:`to_onnx`), checked, atomically.

    Parameters
    ----------
    model : Model
        Any digitnet network.
    path : str or Path
        Where to write, conventionally ``*.onnx``.
    overwrite : bool
        Replace an existing file (the command line's ``--force``).

    Returns
    -------
    Path
        The path written.
    """
    proto = to_onnx(model)
    _check_against_model(proto, model)
    payload = proto.SerializeToString()

    def write(file: IO[bytes]) -> None:
        file.write(payload)

    return write_atomically(path, write, overwrite=overwrite)
