import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.nn import APPNP

from tagnet.graphs import TokenGrid, Topology, batch_graphs
from tagnet.graphs.edge_sets import EdgeSet, FunctionEdgeSet, intra_frame, temporal
from tagnet.propagation.structured import (
    StructuredAPPNP,
    frame_degree,
    structured_appnp,
    supports_structured,
    time_operators,
    why_not_structured,
)

TOPOLOGIES = {"tag": 2, "intra_frame": 1, "temporal": 1, "none": 1}  # name -> edge types


def pyg_reference(x, grid, topology, K, alpha, weights):
    """PyG's APPNP (normalize=True) on batch_graphs: the definition structured must match."""
    batch = batch_graphs(x, grid, topology)
    edge_weight = weights.to(x.dtype)[batch.edge_type]
    return APPNP(K, alpha)(batch.x, batch.edge_index, edge_weight).view_as(x)


def compare(grid, topology, K, alpha, weights, dtype, tol, B=2, C=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, grid.num_nodes, C, generator=gen, dtype=dtype)
    grad = torch.randn(x.shape, generator=gen, dtype=dtype)
    w_ref = torch.tensor(weights, dtype=dtype, requires_grad=True)
    w_str = torch.tensor(weights, dtype=dtype, requires_grad=True)
    x_ref, x_str, x_fix = (x.clone().requires_grad_() for _ in range(3))
    ref = pyg_reference(x_ref, grid, topology, K, alpha, w_ref)
    out = structured_appnp(x_str, grid, topology, K, alpha, w_str)  # autograd path
    fixed = structured_appnp(x_fix, grid, topology, K, alpha, list(weights))  # Function path
    torch.testing.assert_close(out, ref, atol=tol, rtol=tol)
    torch.testing.assert_close(fixed, ref, atol=tol, rtol=tol)
    (ref * grad).sum().backward()
    (out * grad).sum().backward()
    (fixed * grad).sum().backward()
    torch.testing.assert_close(x_str.grad, x_ref.grad, atol=tol, rtol=tol)
    torch.testing.assert_close(x_fix.grad, x_ref.grad, atol=tol, rtol=tol)
    zeros = torch.zeros_like(w_ref)  # a weight that is never used (K = 0, "none") gets None
    torch.testing.assert_close(zeros if w_str.grad is None else w_str.grad,
                               zeros if w_ref.grad is None else w_ref.grad,
                               atol=tol * 10, rtol=tol * 10)


@pytest.mark.parametrize("topology", list(TOPOLOGIES))
@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 3, 3), (4, 1, 1), (3, 2, 2), (2, 3, 1)])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_equals_pyg_forward_and_gradients(topology, shape, dtype, tol):
    weights = [0.7, 2.5][:TOPOLOGIES[topology]]
    compare(TokenGrid(*shape), topology, K=3, alpha=0.1, weights=weights, dtype=dtype, tol=tol)


@settings(max_examples=25, deadline=None)
@given(T=st.integers(1, 4), H=st.integers(1, 3), W=st.integers(1, 3), K=st.integers(0, 4),
       alpha=st.floats(0.0, 1.0), w_c=st.floats(0.05, 5.0), w_t=st.floats(0.05, 5.0),
       seed=st.integers(0, 2**16))
def test_equals_pyg_on_random_grids(T, H, W, K, alpha, w_c, w_t, seed):
    compare(TokenGrid(T, H, W), "tag", K, alpha, [w_c, w_t], torch.float64, 1e-10, seed=seed)


def test_gym99_grid_float32_within_1e5():
    compare(TokenGrid(8, 7, 7), "tag", K=10, alpha=0.1, weights=[1.0, 1.0],
            dtype=torch.float32, tol=1e-5, B=2, C=16)


def test_closed_form_single_frame_clique():
    # one frame, unit weights: A = ones(P, P) / P, so one step mixes in the frame mean
    x = torch.arange(8.0, dtype=torch.float64).view(1, 4, 2)
    out = structured_appnp(x, "1x2x2", "intra_frame", K=1, alpha=0.25)
    expected = 0.75 * x.mean(1, keepdim=True) + 0.25 * x
    assert torch.equal(out, expected)


def test_frame_degree_matches_the_paper():
    # P + 1 on the first and last frame, P + 2 in between (unit weights, T >= 2)
    assert frame_degree(TokenGrid(4, 7, 7)).tolist() == [50.0, 51.0, 51.0, 50.0]
    assert frame_degree(TokenGrid(1, 2, 2), 0.5, 3.0).tolist() == [2.5]


def test_no_edges_and_zero_steps_return_the_input():
    x = torch.randn(2, 12, 3)
    assert torch.allclose(structured_appnp(x, "3x2x2", "none", K=5), x, atol=1e-6)
    assert torch.equal(structured_appnp(x, "3x2x2", "tag", K=0), x)


def test_fixed_weight_backward_keeps_only_the_small_operators():
    # StructuredAPPNP's backward is the same propagation of the gradient, so autograd
    # keeps a T x T and a T-vector whatever K is (no N x C tensor at all).
    grid, saved = TokenGrid(3, 2, 2), []
    x = torch.randn(2, grid.num_nodes, 4, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t,
                                                  lambda t: t):
        structured_appnp(x, grid, "tag", K=10)
    assert saved == [grid.T * grid.T, grid.T]


def test_learnable_weight_backward_memory_is_linear_in_nodes():
    grid, K, B, C, saved = TokenGrid(4, 3, 3), 3, 2, 5, []
    x = torch.randn(B, grid.num_nodes, C, requires_grad=True)
    w = torch.ones(2, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t,
                                                  lambda t: t):
        structured_appnp(x, grid, "tag", K=K, type_weights=w)
    E = intra_frame(grid).size(1) + temporal(grid).size(1)
    assert sum(saved) <= 4 * K * B * grid.num_nodes * C < K * B * E * C


def test_gradcheck_and_double_backward():
    x = torch.randn(2, 12, 2, dtype=torch.float64, requires_grad=True)
    L, c = time_operators(TokenGrid(3, 2, 2), 0.5, 2.0, 0.2, torch.float64)

    def fn(t):
        return StructuredAPPNP.apply(t.view(2, 3, 4, 2), L, c, 3, 0.2)

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_equals_pyg_on_cuda():
    grid = TokenGrid(4, 7, 7)
    x = torch.randn(3, grid.num_nodes, 8, device="cuda", requires_grad=True)
    w = torch.tensor([0.5, 2.0], device="cuda")
    ref = pyg_reference(x, grid, "tag", 2, 0.1, w)
    out = structured_appnp(x, grid, "tag", 2, 0.1, [0.5, 2.0])
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    g_ref, = torch.autograd.grad(ref.sum(), x)
    g_out, = torch.autograd.grad(out.sum(), x)
    torch.testing.assert_close(g_out, g_ref, atol=1e-5, rtol=1e-5)


class _Nearest(EdgeSet):
    name, dynamic = "nearest", True

    def build(self, grid, x=None):
        return torch.empty(2, 0, dtype=torch.long)


def test_supports_only_the_builtin_edge_sets():
    assert all(supports_structured(t) for t in TOPOLOGIES)
    assert supports_structured(Topology(["temporal", "intra_frame"], weights=[2.0, 0.5]))
    # same names, other rules: not structured
    lookalike = FunctionEdgeSet("temporal", lambda grid: temporal(grid)[:, :1])
    assert "not one of the built-in" in why_not_structured(Topology([lookalike]))
    assert not supports_structured(Topology([FunctionEdgeSet("temporal", temporal, k=2)]))
    assert "data-dependent" in why_not_structured(Topology(["intra_frame", _Nearest()]))


def test_structured_on_other_topology_raises_with_the_fix():
    star = FunctionEdgeSet("star", lambda grid: torch.tensor([[1, 2], [0, 0]]))
    with pytest.raises(ValueError, match=r"cannot run topology 'intra_frame\+star'.*'pyg'"):
        structured_appnp(torch.randn(1, 8, 2), "2x2x2", Topology(["intra_frame", star]))
    with pytest.raises(ValueError, match=r"do not match grid 2x2x2"):
        structured_appnp(torch.randn(1, 9, 2), "2x2x2")
