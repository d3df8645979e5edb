"""digitnet: learn, inspect and use neural networks that read handwritten digits."""

__version__ = "0.1.0"
__all__ = ["DigitNetClassifier", "__version__"]


def __getattr__(name: str):
    # Lazy, so that `import digitnet` (and the command line's start-up) does not load scikit-learn.
    if name == "DigitNetClassifier":
        from digitnet.estimator import DigitNetClassifier

        return DigitNetClassifier
    raise AttributeError(f"module 'digitnet' has no attribute {name!r}")
