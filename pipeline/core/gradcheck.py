"""Central finite differences: the independent reference for every backprop gradient."""

import numpy as np


def numerical_gradient(f, params, eps=1e-4):
    """d f / d params by central differences, perturbing ``params`` in place one entry at a time.

    The five-point central stencil [f(-2h) - 8 f(-h) + 8 f(h) - f(2h)] / 12h has
    truncation error O(h**4): with h = 1e-4 both it and float64 rounding stay near
    1e-12, so even tiny gradient entries can be held to a 1e-6 relative error
    (the two-point stencil's rounding noise alone is ~1e-10).
    """
    grad = np.empty_like(params)
    for i in range(params.size):
        saved = params[i]
        values = []
        for step in (-2, -1, 1, 2):
            params[i] = saved + step * eps
            values.append(f())
        params[i] = saved
        grad[i] = (values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * eps)
    return grad


def relative_error(ours, reference, floor=1e-6):
    """Entrywise |a - b| / max(|a| + |b|, floor).

    The floor keeps exact zeros (a dead ReLU unit) from turning ~1e-13 of
    floating-point noise into a large relative error: entries below it are held
    to an absolute error of ``tolerance * floor`` instead.
    """
    return np.abs(ours - reference) / np.maximum(np.abs(ours) + np.abs(reference), floor)


def compare_gradients(ours, reference, tolerance):
    """Raise AssertionError showing ours vs reference at the worst entry when above ``tolerance``."""
    errors = relative_error(ours, reference)
    worst = int(np.argmax(errors))
    if errors[worst] > tolerance:
        raise AssertionError(
            f"gradient mismatch at parameter {worst}: backprop {ours[worst]!r}, "
            f"finite differences {reference[worst]!r}, relative error {errors[worst]:.3g} "
            f"> {tolerance:g}"
        )
    return float(errors[worst])
