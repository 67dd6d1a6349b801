"""The stand-in's ``cupyx.scipy.special``, as far as cugrad uses it: ``erf``. CuPy 14.2.0 makes it
a ufunc (cupyx/scipy/special/_erf.py: ``create_ufunc('cupyx_scipy_special_erf', ('e->d', 'f->f',
'd->d'), 'out0 = erf(in0)')``): its loop is the first whose input type the operand's dtype casts to
safely (cupy/_core/_kernel.pyx ``_guess_routine_from_in_types``), so float16 gives float64, and a
dtype that casts to none of them is a TypeError (``_guess_routine``)."""
from __future__ import annotations

import math

import numpy as np

from .array import ufunc

_LOOPS = (("e", "d"), ("f", "f"), ("d", "d"))
_host_erf = np.frompyfunc(math.erf, 1, 1)


def _erf_loop(x, casting="same_kind", dtype=None, out=None):
    """The NumPy side of the ufunc: math.erf per element, typed by CuPy's loop for ``x``'s dtype."""
    x = np.asarray(x)
    for in_type, out_type in _LOOPS:
        if np.can_cast(x.dtype, in_type):
            break
    else:
        raise TypeError(f"Wrong type (({x.dtype},)) of arguments for cupyx_scipy_special_erf")
    values = np.asarray(_host_erf(x.astype(in_type)), dtype=out_type)
    if out is None:
        return values
    np.copyto(out, values, casting=casting)
    return out


_erf_loop.__name__, _erf_loop.nin, _erf_loop.nout = "cupyx_scipy_special_erf", 1, 1
erf = ufunc(_erf_loop)
