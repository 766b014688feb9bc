"""Independent float64 references shared by the kernel tests (no nmftrans imports)."""

import numpy as np


def ref_divergence(V, V_hat, beta):
    """Textbook β-divergence in float64 (no zeros expected)."""
    x = np.asarray(V, np.float64)
    y = np.asarray(V_hat, np.float64)
    if beta == 2:
        return 0.5 * np.sum((x - y) ** 2)
    if beta == 1:
        return np.sum(x * np.log(x / y) - x + y)
    if beta == 0:
        return np.sum(x / y - np.log(x / y) - 1)
    return np.sum(x**beta + (beta - 1) * y**beta - beta * x * y ** (beta - 1)) / (beta * (beta - 1))
