"""How the polynomial coefficients in src/kernels/cpu/vmath_simd.h were made: Chebyshev fits
(mpmath.chebyfit, 40 digits) rounded to f32. Not run by the tests; run it to reproduce or refit:
    /usr/bin/python3 tests/kernels/fit_vmath.py
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 40


def fit(name, f, a, b, degree):
    poly, err = mp.chebyfit(f, [a, b], degree + 1, error=True)
    coeffs = [float(np.float32(float(c))) for c in poly[::-1]]  # lowest degree first
    print(f"{name}: degree {degree} on [{float(a):.6g}, {float(b):.6g}], max error {float(err):.3g}")
    print("  {" + ", ".join(f"{c!r}f" for c in coeffs) + "}")


def q_exp(r):  # e^r = 1 + r + r^2 q(r)
    if abs(r) < mp.mpf("1e-10"):
        return mp.mpf(1) / 2 + r / 6
    return (mp.exp(r) - 1 - r) / r**2


def p_tanh(u):  # tanh(x) = x + x^3 p(x^2)
    if u < mp.mpf("1e-20"):
        return -mp.mpf(1) / 3 + 2 * u / 15
    s = mp.sqrt(u)
    return (mp.tanh(s) - s) / (u * s)


def p_erf(u):  # erf(x) = x p(x^2)
    if u < mp.mpf("1e-20"):
        return 2 / mp.sqrt(mp.pi) * (1 - u / 3)
    s = mp.sqrt(u)
    return mp.erf(s) / s


def erfcx_shifted(t):  # e^{x^2} erfc(x) at x = t + 2.475
    x = t + mp.mpf("2.475")
    return mp.exp(x * x) * mp.erfc(x)


half_ln2 = mp.log(2) / 2
fit("exp q(r)", q_exp, -half_ln2, half_ln2, 5)
fit("tanh p(u), |x| < 0.625", p_tanh, 0, mp.mpf("0.625") ** 2, 5)
fit("erf p(u), |x| < 1", p_erf, 0, 1, 6)
fit("erfcx q(t), x in [1, 3.95]", erfcx_shifted, 1 - mp.mpf("2.475"), mp.mpf("3.95") - mp.mpf("2.475"), 10)
