"""The exercise notebook, shipped with the package; `digitnet notebook` copies it out."""
