"""A network's architecture in words: layer sizes, hidden activation and output, one line.

The report, the web page and ``digitnet serve`` all say it the same way, e.g.
``64-100-10, relu hidden units, softmax output``.
"""

from __future__ import annotations

from digitnet.model import Model


def activation_and_output(model: Model) -> tuple[str, str]:
    """The model's hidden activation and output, e.g. ``("relu", "softmax")``."""
    return model.activation, model.output


def describe(model: Model) -> str:
    """``"400-25-10, sigmoid hidden units, sigmoid output"``; without hidden layers, only the
    output (``"400-10, softmax output"``)."""
    activation, output = activation_and_output(model)
    sizes = "-".join(map(str, model.layer_sizes))
    hidden = f", {activation} hidden units" if len(model.layer_sizes) > 2 else ""
    return f"{sizes}{hidden}, {output} output"
