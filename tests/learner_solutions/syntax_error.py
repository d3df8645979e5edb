"""A file that does not parse."""

import numpy as np


def sigmoidGradient(z)
    return z
