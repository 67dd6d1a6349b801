"""einsum (ops/einstein.py) against PyTorch CPU: values and the gradient of every operand in float64
for one, two and three operands, implicit outputs, '...', diagonals, letters summed in one operand,
0-d and empty operands; gradchecks of both orders; integer and float32 operands; and the equation
errors, raised before any work."""
from __future__ import annotations

import numpy as np
import pytest

import cugrad
from cugrad.ops import einstein as einsum_module
from gradchecks import gradcheck_two_orders

torch = pytest.importorskip("torch")

CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),                 # implicit: ik
    ("ba", [(2, 3)]),                            # implicit: transpose
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),                            # trace
    ("iij->ji", [(2, 2, 3)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (2,)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 1)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("ij,kl", [(2, 1), (3, 2)]),                 # outer product, implicit ijkl
    (",ij->ij", [(), (2, 3)]),
    ("ij,jk->ik", [(0, 3), (3, 2)]),
    ("ij,jk->ik", [(2, 0), (0, 3)]),             # a sum over nothing: zeros
    ("...ij,...jk", [(5, 2, 3), (3, 4)]),        # '...' right-aligned: (5, 2, 4)
    ("...i->i", [(2, 3, 4)]),                    # '...' summed over, as PyTorch
    ("i...->...", [(3, 2)]),
    ("Ab,bA", [(2, 3), (3, 2)]),                 # uppercase letters, a full contraction
    ("a bc , c d -> a d", [(2, 1, 3), (3, 2)]),  # spaces
]


@pytest.mark.parametrize("equation, shapes", CASES, ids=[c[0] for c in CASES])
def test_matches_torch(equation, shapes):
    rng = np.random.default_rng(len(equation))
    arrays = [np.asarray(rng.standard_normal(s)) for s in shapes]
    ours = [cugrad.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, t_out = cugrad.einsum(equation, *ours), torch.einsum(equation, *theirs)
    assert out.shape == tuple(t_out.shape) and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-13, atol=1e-14)
    g = np.asarray(rng.standard_normal(tuple(t_out.shape)))
    out.backward(cugrad.tensor(g))
    t_out.backward(torch.tensor(g))
    for mine, t in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad.numpy(), t.grad.numpy(), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("equation, shapes", [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ii->", [(3, 3)]), ("ij->j", [(2, 3)]), ("iij->ij", [(2, 2, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]), ("...ij,...jk", [(2, 2, 3), (3, 2)])])
def test_gradcheck_two_orders_of_each_operand(equation, shapes):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in shapes]
    for k in range(len(arrays)):
        def op(t, k=k):
            return cugrad.einsum(equation, *[t if j == k else cugrad.tensor(a) for j, a in enumerate(arrays)])
        gradcheck_two_orders(op, arrays[k])


def test_gradient_is_itself_an_einsum():
    """dL/dA of ij,jk->ik is einsum(ik,jk->ij): the backward's one contraction, named in the graph."""
    a = cugrad.tensor(np.ones((2, 3)), requires_grad=True)
    b = cugrad.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    (ga,) = cugrad.grad(cugrad.einsum("ij,jk->ik", a, b).sum(), [a], create_graph=True)
    assert type(ga.grad_fn).__name__ == "Einsum"
    np.testing.assert_array_equal(ga.numpy(), np.tile(np.arange(12.0).reshape(3, 4).sum(axis=1), (2, 1)))


def test_dtypes():
    ints = cugrad.einsum("ij,jk", cugrad.tensor(np.arange(6).reshape(2, 3)), cugrad.tensor(np.ones((3, 2), np.int64)))
    assert ints.dtype == np.int64
    np.testing.assert_array_equal(ints.numpy(), np.arange(6).reshape(2, 3) @ np.ones((3, 2), np.int64))
    mixed = cugrad.einsum("i,i->", cugrad.tensor(np.ones(3, np.float32)), cugrad.tensor(np.arange(3)))
    assert mixed.dtype == np.float32 and mixed.item() == 3.0


def test_parse_makes_every_equation_explicit():
    assert einsum_module.parse("ij,jk", [(2, 3), (3, 4)]) == "ij,jk->ik"
    assert einsum_module.parse("ba", [(2, 3)]) == "ba->ab"
    assert einsum_module.parse("ii", [(3, 3)]) == "ii->"
    ellipsis = einsum_module.parse("...ij,...jk", [(5, 2, 3), (3, 4)])
    lhs, out = ellipsis.split("->")
    (e,) = set(lhs.split(",")[0][:-2])
    assert lhs == f"{e}ij,jk" and out == f"{e}ik"


@pytest.mark.parametrize("equation, shapes, error, match", [
    ("ij,jk->ik", [(2, 3), (2, 4)], ValueError,
     r"einsum: equation 'ij,jk->ik' gives subscript 'j' size 3 in operand 0 and 2 in operand 1 .*does not broadcast"),
    ("i,i", [(1,), (3,)], ValueError, r"einsum: equation 'i,i' gives subscript 'i' size 1 in operand 0 and 3"),
    ("ij,jk", [(2, 3)], ValueError, r"einsum: equation 'ij,jk' names 2 operand\(s\), got 1"),
    ("ij", [(2, 3), (3,)], ValueError, r"einsum: equation 'ij' names 1 operand\(s\), got 2"),
    ("ijk", [(2, 3)], ValueError, r"einsum: equation 'ijk' gives operand 0 3 subscript\(s\) 'ijk', but it has 2 "
                                  r"dimension\(s\) \(shape \(2, 3\)\)"),
    ("...ijk", [(2, 3)], ValueError, r"gives operand 0 3 subscript\(s\)"),
    ("ij->ii", [(2, 2)], ValueError, r"einsum: equation 'ij->ii' repeats 'i' in its output"),
    ("ij->k", [(2, 2)], ValueError, r"einsum: equation 'ij->k' has output subscript\(s\) 'k' that no operand has"),
    ("i2", [(2, 2)], ValueError, r"einsum: equation 'i2' holds '2': subscripts are letters"),
    ("i->j->k", [(2,)], ValueError, r"einsum: equation 'i->j->k' has more than one '->'"),
    ("......i", [(2,)], ValueError, r"has more than one '...'"),
    ("i->...", [(2,)], ValueError, r"has '...' in its output but in no operand"),
    ("...i,...i", [(2, 3), (4, 3)], ValueError, r"gives '...' axis size 2 in operand 0 and 4 in operand 1"),
])
def test_equation_errors(equation, shapes, error, match):
    with pytest.raises(error, match=match):
        cugrad.einsum(equation, *[cugrad.zeros(*s) for s in shapes])


def test_operand_errors():
    with pytest.raises(TypeError, match="einsum: equation must be a string, got int"):
        cugrad.einsum(3, cugrad.zeros(2))
    with pytest.raises(ValueError, match="einsum: equation 'i' needs at least one operand"):
        cugrad.einsum("i")
    with pytest.raises(TypeError, match="einsum: operand 1 must be a tensor, got list"):
        cugrad.einsum("i,i", cugrad.zeros(2), [1.0, 2.0])
