"""Draw a digit in the browser and watch a network read it: ``digitnet serve``.

The web application lives in :mod:`digitnet.web.app`; it needs the optional ``web`` dependencies
(FastAPI, uvicorn, python-multipart), installed with ``pip install 'digitnet[web]'``. This package
itself imports nothing heavy, so ``import digitnet.web`` always works and the CLI can give a clear
message when the extra is missing.
"""
