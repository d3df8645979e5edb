"""``python -m digitnet.web [MODEL] [--host H] [--port P] [--test-data SOURCE]``.

The same as ``digitnet serve``, usable without the command-line tool (and by the browser test).
"""

from __future__ import annotations

import argparse
import logging


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, load or train the model, and serve until interrupted.

    Parameters
    ----------
    argv : list of str, optional
        The arguments; ``sys.argv[1:]`` when None.
    """
    parser = argparse.ArgumentParser(
        prog="python -m digitnet.web", description="Draw a digit and watch a network read it."
    )
    parser.add_argument("model", nargs="?", help="a digitnet model file (default: train one)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on [127.0.0.1]")
    parser.add_argument("--port", type=int, default=8000, help="port [8000]")
    parser.add_argument(
        "--test-data",
        help="labelled digits for the second tab: an IDX folder (its test split), .mat, .npz, ...",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from digitnet import data, model_io
    from digitnet.web.app import serve

    model = model_io.load(args.model) if args.model else None
    test_digits = data.load(args.test_data, split="test") if args.test_data else None
    serve(model, host=args.host, port=args.port, test_digits=test_digits)


if __name__ == "__main__":
    main()
