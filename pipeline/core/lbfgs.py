"""Limited-memory BFGS with a strong-Wolfe line search (Nocedal & Wright 2006, ch. 6-7).

The inverse Hessian is never formed: from the last m pairs

    s_k = x_{k+1} - x_k,   y_k = g_{k+1} - g_k,   rho_k = 1 / (y_k . s_k)

the two-loop recursion (N&W algorithm 7.4) applies H_k = V'_k ... (gamma I) ... V_k +
sum rho s s' (with V_j = I - rho_j y_j s_j', gamma = s.y / y.y of the newest pair)
to the gradient in O(m p). A step length satisfying the strong Wolfe conditions

    J(x + a d) <= J(x) + c1 a g.d                (sufficient decrease)
    |g(x + a d).d| <= c2 |g.d|                   (curvature)

guarantees y.s > 0, so every stored pair keeps H positive definite.

Everything works on ONE flat parameter vector, in place: ``evaluate()`` reads the
current ``params`` and writes dJ/dparams into ``grad`` (the network's own buffers),
and trial points are written straight into ``params``.
"""

import math
from collections import namedtuple

import numpy as np

C1, C2 = 1e-4, 0.9  # sufficient decrease and curvature constants of the Wolfe conditions


class Memory:
    """The last ``m`` correction pairs and their inner products, for the two-loop recursion.

    The pairs are rows of ONE matrix Z = [S; Y] (ring slots, ``order`` oldest first),
    and the products s_i.y_j and y_i.y_j are kept as small Python tables, updated with
    one matrix-vector product per new pair. Then the two loops of N&W algorithm 7.4 run
    on scalars only (the "vector-free" form of Chen, Wang & Zhou 2014): one product
    Z @ g before them and one c @ Z after, instead of 6m numpy calls on vectors, which
    on small problems cost more than the objective itself (35 vs 11 us at m = 10, p = 31).
    """

    def __init__(self, m, size, dtype):
        self.m = m
        self.Z = np.zeros((2 * m, size), dtype)  # zeros: unused slots must not hold NaN
        self.sy = [[0.0] * m for _ in range(m)]  # sy[i][j] = s_i . y_j
        self.yy = [[0.0] * m for _ in range(m)]  # yy[i][j] = y_i . y_j
        self.rho = [0.0] * m
        self.order = []  # ring slots, oldest first
        self.gamma = 1.0  # initial inverse-Hessian scale s.y / y.y (N&W eq. 7.20)
        self._coef, self._scratch = np.zeros(2 * m, dtype), np.empty(size, dtype)

    def __len__(self):
        return len(self.order)

    def clear(self):
        self.order.clear()
        self.gamma = 1.0

    def push(self, s, y):
        """Store the pair (s, y) when its curvature s.y is safely positive; return whether stored."""
        sy, yy = float(s @ y), float(y @ y)
        # Strong Wolfe makes s.y > 0 in exact arithmetic; rounding can still leave it ~0.
        if not sy > np.finfo(s.dtype).eps * yy:
            return False
        m = self.m
        slot = self.order.pop(0) if len(self.order) == m else len(self.order)
        self.Z[slot], self.Z[m + slot], self.rho[slot] = s, y, 1.0 / sy
        self.order.append(slot)
        self.gamma = sy / yy
        with_s, with_y = (self.Z @ self.Z[[slot, m + slot]].T).T.tolist()
        for i in self.order:
            self.sy[i][slot] = with_y[i]  # s_i . y_new
            self.sy[slot][i] = with_s[m + i]  # s_new . y_i
            self.yy[i][slot] = self.yy[slot][i] = with_y[m + i]
        return True

    def direction(self, g, out):
        """Write d = -H g into ``out`` by the two-loop recursion (N&W algorithm 7.4).

        With q and r the loops' vectors, every dot product they take is a combination
        of the tables and of Z @ g; the result is r = gamma g + sum_i c_i z_i (Z's rows).
        """
        m, order, sy, yy, rho, gamma = self.m, self.order, self.sy, self.yy, self.rho, self.gamma
        zg = (self.Z @ g).tolist()  # s_i . g, then y_i . g
        alpha, coef = [0.0] * m, [0.0] * (2 * m)
        for k in range(len(order) - 1, -1, -1):  # newest to oldest: alpha_i = rho_i s_i . q
            i = order[k]
            row, v = sy[i], zg[i]
            for j in order[k + 1:]:
                v -= alpha[j] * row[j]  # q has lost alpha_j y_j for every newer j
            alpha[i] = rho[i] * v
        for k, i in enumerate(order):  # oldest to newest: beta_i = rho_i y_i . r
            row, v = yy[i], zg[m + i]
            for j in order:
                v -= alpha[j] * row[j]  # r starts as gamma q, q = g - sum_j alpha_j y_j
            v *= gamma
            for j in order[:k]:
                v += coef[j] * sy[j][i]  # r has gained (alpha_j - beta_j) s_j for older j
            coef[i] = alpha[i] - rho[i] * v
            coef[m + i] = -gamma * alpha[i]
        self._coef[:] = coef
        np.matmul(self._coef, self.Z, out=out)
        np.multiply(g, gamma, out=self._scratch)
        out += self._scratch
        return np.negative(out, out=out)


def line_search(phi, f0, dg0, step, max_evals):
    """Find a step ``a`` along d meeting the strong Wolfe conditions (N&W algorithms 3.5-3.6).

    Parameters
    ----------
    phi : callable
        ``phi(a) -> (J, dJ/da)`` at x + a d; it leaves the evaluated point in place.
    f0, dg0 : float
        J and the directional derivative g.d (< 0) at a = 0.
    step : float
        First trial step.
    max_evals : int

    Returns
    -------
    (a, J, evals, ok)
        ok: ``a`` meets both conditions and is the point left in place (the last one
        evaluated). Not ok: ``a`` is the lowest point found with sufficient decrease
        (0.0 if none) and is NOT in place.
    """
    run = _line_search(phi, f0, dg0, step, max_evals)
    try:
        next(run)
    except StopIteration as done:
        return done.value
    raise TypeError("phi asked for an evaluation: a generator phi needs lbfgs.iterate.")


def _line_search(phi, f0, dg0, step, max_evals):
    """:func:`line_search` as a generator: ``phi`` may be a generator function that asks
    for its evaluation (``iterate``'s), whose requests pass through."""
    lo, f_lo, dg_lo = 0.0, f0, dg0  # best point so far with sufficient decrease
    hi = f_hi = dg_hi = None  # once set, [lo, hi] brackets an acceptable step
    a = step
    for evals in range(1, max_evals + 1):
        f, dg = yield from _call(phi, a)
        if not f <= f0 + C1 * a * dg0 or f >= f_lo:  # a non-finite f lands here too
            hi, f_hi, dg_hi = a, f, dg
        elif abs(dg) <= -C2 * dg0:
            return a, f, evals, True
        else:
            if hi is not None and dg * (hi - lo) >= 0 or hi is None and dg >= 0:
                hi, f_hi, dg_hi = lo, f_lo, dg_lo  # the minimum lies between a and lo
            lo, f_lo, dg_lo = a, f, dg
        if hi is None:
            a = 4.0 * a  # still descending steeply: extrapolate
        elif abs(hi - lo) <= 1e-12 * max(abs(hi), abs(lo)):
            break  # the bracket has collapsed to rounding
        else:
            a = _cubic_step(lo, f_lo, dg_lo, hi, f_hi, dg_hi)
    return lo, f_lo, evals, False


def _call(phi, a):
    """``phi(a)``, delegating to it when it is a generator function (``yield from``)."""
    result = phi(a)
    if hasattr(result, "send"):
        result = yield from result
    return result


def _cubic_step(a, fa, da, b, fb, db):
    """Minimiser of the cubic through (a, fa, da) and (b, fb, db), kept inside the middle
    80% of [a, b]; bisection when the cubic is undefined (N&W eq. 3.59)."""
    width = b - a
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    radicand = d1 * d1 - da * db
    if math.isfinite(radicand) and radicand >= 0.0:
        d2 = math.copysign(math.sqrt(radicand), width)
        denominator = db - da + 2.0 * d2
        if denominator != 0.0:
            t = b - width * (db + d2 - d1) / denominator
            if math.isfinite(t):
                return min(max(t, a + 0.1 * width), b - 0.1 * width) if width > 0 else \
                    min(max(t, b - 0.1 * width), a + 0.1 * width)
    return a + 0.5 * width


Result = namedtuple("Result", "reason n_iter n_evals f")


def minimize(evaluate, params, grad, settings, max_iter, on_iteration=None):
    """Minimise J over ``params`` in place with L-BFGS.

    Parameters
    ----------
    evaluate : callable
        ``evaluate() -> J`` at the current ``params``, writing dJ/dparams into ``grad``.
    params, grad : ndarray of shape (p,)
        The vectors ``evaluate`` reads and writes.
    settings : optimizers.LBFGS
        ``memory``, ``tol``, ``ftol``, ``max_linesearch``.
    max_iter : int
    on_iteration : callable, optional
        ``on_iteration(iteration, J, step) -> bool`` after each accepted step, with
        ``params``/``grad`` at the new point; returning True stops (early stopping).

    Returns
    -------
    Result
        ``reason``: ``"gradient_tolerance"`` or ``"objective_tolerance"`` (converged),
        ``"stopped"`` (by ``on_iteration``), ``"max_epochs"`` or ``"line_search_failed"``;
        ``n_iter`` accepted steps; ``n_evals`` objective evaluations; ``f`` = J at the
        returned ``params``, whose gradient ``grad`` holds.
    """
    run = iterate(params, grad, settings, max_iter, on_iteration)
    next(run)
    while True:
        try:
            run.send(evaluate())
        except StopIteration as done:
            return done.value


def iterate(params, grad, settings, max_iter, on_iteration=None):
    """:func:`minimize` as a generator that asks for each evaluation instead of making it.

    It yields (None) whenever it needs J at the current ``params``, and must be sent J,
    with dJ/dparams written into ``grad``; it returns the :class:`Result`. Several runs can
    so be advanced together, each evaluation of all of them made at once (``lockstep.py``):
    a run that has converged simply asks for nothing more.
    """
    dtype = params.dtype
    ftol = 64 * np.finfo(dtype).eps if settings.ftol is None else settings.ftol
    memory = Memory(settings.memory, params.size, dtype)
    x, g, d = np.empty_like(params), np.empty_like(params), np.empty_like(params)
    f, n_evals = (yield), 1
    np.copyto(x, params)
    np.copyto(g, grad)

    def phi(a):
        np.multiply(d, a, out=params)
        np.add(params, x, out=params)
        value = yield
        return value, float(grad @ d)

    n_iter = 0
    reason = "gradient_tolerance" if _small_gradient(g, f, settings.tol) else None
    while reason is None and n_iter < max_iter:
        dg0 = _descent_direction(memory, g, d)
        # Without curvature pairs a first step of unit length (scipy's choice); then 1.
        step = 1.0 if len(memory) else 1.0 / max(math.sqrt(float(g @ g)), 1e-300)
        if -dg0 * step <= ftol * abs(f):
            # Even the step's first-order decrease is within J's rounding: a line search
            # would only chase that noise (and fail).
            reason = "objective_tolerance"
            break
        a, f_new, evals, ok = yield from _line_search(phi, f, dg0, step,
                                                      settings.max_linesearch)
        n_evals += evals
        if not ok and a > 0.0:  # no Wolfe point, but a sufficient decrease: take it
            (f_new, _), n_evals, ok = (yield from phi(a)), n_evals + 1, True
        if not ok:
            np.copyto(params, x)
            np.copyto(grad, g)
            if len(memory):  # a stale curvature model: retry along the steepest descent
                memory.clear()
                continue
            reason = "line_search_failed"
            break
        f_old, f = f, f_new
        np.subtract(params, x, out=x)  # x holds s = a d, g holds y, for one moment
        np.subtract(grad, g, out=g)
        memory.push(x, g)
        np.copyto(x, params)
        np.copyto(g, grad)
        n_iter += 1
        if on_iteration is not None and on_iteration(n_iter - 1, f, a):
            reason = "stopped"
        elif _small_gradient(g, f, settings.tol):
            reason = "gradient_tolerance"
        elif f_old - f <= ftol * max(abs(f_old), abs(f)):
            reason = "objective_tolerance"
    return Result(reason or "max_epochs", n_iter, n_evals, f)


def _descent_direction(memory, g, d):
    """d = -H g; falls back to -g when rounding made -H g an ascent direction."""
    memory.direction(g, d)
    dg = float(g @ d)
    if dg < 0.0:
        return dg
    memory.clear()
    np.negative(g, out=d)
    return -float(g @ g)


def _small_gradient(g, f, tol):
    """max |g| <= tol * max(1, |J|), without allocating |g|."""
    return max(float(g.max()), -float(g.min())) <= tol * max(1.0, abs(f))
