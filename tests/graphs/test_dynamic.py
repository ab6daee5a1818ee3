import pytest
import torch

from tagnet import TAGHead
from tagnet.graphs import (
    KNNFeature,
    SimilarityAligned,
    TokenGrid,
    get_edge_set,
    get_topology,
)
from tagnet.graphs.testing import assert_batch_equivalent, assert_propagation_matches_dense


def test_knn_literal_euclidean():
    grid = TokenGrid(1, 1, 4)
    x = torch.tensor([0.0, 1.0, 3.0, 7.0]).view(1, 4, 1)
    # sources are the neighbours, targets the node that receives them; rank order
    assert KNNFeature(k=1, metric="euclidean")(grid, x).t().tolist() == [
        [1, 0], [0, 1], [1, 2], [2, 3]]
    assert KNNFeature(k=2, metric="euclidean")(grid, x).t().tolist() == [
        [1, 0], [2, 0], [0, 1], [2, 1], [1, 2], [0, 2], [2, 3], [1, 3]]


def test_knn_literal_cosine_ignores_scale():
    grid = TokenGrid(2, 1, 2)
    angles = torch.tensor([0.0, 10.0, 50.0, 170.0]).deg2rad()
    scale = torch.tensor([1.0, 5.0, 0.1, 2.0]).unsqueeze(1)
    x = (scale * torch.stack([angles.cos(), angles.sin()], 1)).unsqueeze(0)
    assert KNNFeature(k=1)(grid, x).t().tolist() == [[1, 0], [0, 1], [1, 2], [2, 3]]


def test_knn_batch_has_per_clip_offsets():
    grid = TokenGrid(2, 2, 3)
    x = torch.randn(3, grid.num_nodes, 5)
    edge_set = KNNFeature(k=4)
    batched = edge_set(grid, x)
    assert batched.shape == (2, 3 * grid.num_nodes * 4)
    per_clip = torch.cat([edge_set(grid, x[b:b + 1]) + b * grid.num_nodes for b in range(3)], 1)
    assert torch.equal(batched, per_clip)
    # chunked scoring (one clip per block) gives the same graph
    assert torch.equal(KNNFeature(k=4, max_elements=1)(grid, x), batched)
    # brute force: the sources of node i are its 4 most cosine-similar other nodes
    xn = torch.nn.functional.normalize(x[1], dim=1)
    sim = xn @ xn.T
    sim.fill_diagonal_(-2)
    src, dst = batched - grid.num_nodes
    i = 5
    assert set(src[dst == i].tolist()) == set(sim[i].topk(4).indices.tolist())


def test_knn_errors():
    grid = TokenGrid(2, 2, 2)
    with pytest.raises(ValueError, match="needs more than 8 tokens"):
        KNNFeature(k=8)(grid, torch.randn(1, 8, 3))
    with pytest.raises(ValueError, match="data-dependent"):
        KNNFeature()(grid)
    with pytest.raises(ValueError, match=r"expected \(B, 8, C\)"):
        KNNFeature(k=2)(grid, torch.randn(1, 9, 3))
    with pytest.raises(ValueError, match="metric 'l1' is unknown"):
        KNNFeature(metric="l1")


def panned_tokens(grid, shifts, C=16, seed=0):
    """Frame t+1 is frame t translated by (dh, dw) sites (wrapping round)."""
    g = torch.Generator().manual_seed(seed)
    clips = []
    for dh, dw in shifts:
        frames = [torch.randn(grid.H, grid.W, C, generator=g)]
        for _ in range(grid.T - 1):
            frames.append(torch.roll(frames[-1], (dh, dw), dims=(0, 1)))
        clips.append(torch.stack(frames).reshape(grid.num_nodes, C))
    return torch.stack(clips)


def test_similarity_aligned_links_each_token_to_its_moved_twin():
    grid = TokenGrid(3, 4, 5)
    shifts = [(0, 1), (1, -1)]  # clip 0 pans right, clip 1 pans down-left
    x = panned_tokens(grid, shifts)
    ei = SimilarityAligned(k=1, radius=1)(grid, x)
    E = ei.size(1) // 2
    fwd, rev = ei[:, :E], ei[:, E:]
    assert torch.equal(rev, fwd.flip(0))  # both directions
    assert E == 2 * (grid.T - 1) * grid.num_sites  # one partner per token of frames 0..T-2
    N = grid.num_nodes
    t, h, w = grid.coords(torch.arange(N))
    for b, (dh, dw) in enumerate(shifts):
        mine = (fwd[0] >= b * N) & (fwd[0] < (b + 1) * N)
        src, dst = fwd[0, mine] - b * N, fwd[1, mine] - b * N
        twin = grid.node_id(t[src] + 1, (h[src] + dh) % grid.H, (w[src] + dw) % grid.W)
        in_window = ((h[src] + dh >= 0) & (h[src] + dh < grid.H)
                     & (w[src] + dw >= 0) & (w[src] + dw < grid.W))
        assert in_window.sum() > 0
        assert torch.equal(dst[in_window], twin[in_window])
        # the time-aligned edge would link other content: check it is not what we found
        assert not torch.equal(dst[in_window], src[in_window] + grid.num_sites)


def test_similarity_aligned_radius_zero_is_time_aligned():
    grid = TokenGrid(4, 2, 3)
    x = torch.randn(1, grid.num_nodes, 6)
    assert torch.equal(SimilarityAligned(k=1, radius=0)(grid, x), get_edge_set("temporal")(grid))


def test_similarity_aligned_counts_and_window():
    grid = TokenGrid(3, 3, 4)
    B, k, r = 2, 4, 1  # every 3x3 window, corners included, has >= 4 candidates
    ei = SimilarityAligned(k=k, radius=r)(grid, torch.randn(B, grid.num_nodes, 8))
    assert ei.size(1) == 2 * B * (grid.T - 1) * grid.num_sites * k
    src, dst = ei[:, : ei.size(1) // 2] % grid.num_nodes
    t, h, w = grid.coords(torch.arange(grid.num_nodes))
    assert torch.equal(t[dst] - t[src], torch.ones_like(src))
    assert ((h[dst] - h[src]).abs() <= r).all() and ((w[dst] - w[src]).abs() <= r).all()
    pairs = set(map(tuple, ei.t().tolist()))
    assert len(pairs) == ei.size(1)  # k distinct partners, no duplicates
    # a corner of a radius-2 window has 9 candidates: k=9 keeps them all, k=10 would not exist
    ei = SimilarityAligned(k=9, radius=2)(TokenGrid(2, 3, 3), torch.randn(1, 18, 4))
    assert ei.size(1) == 2 * 9 * 9
    assert SimilarityAligned()(TokenGrid(1, 2, 2), torch.randn(2, 4, 3)).shape == (2, 0)
    with pytest.raises(ValueError, match="k=10 exceeds the 9 candidates"):
        SimilarityAligned(k=10, radius=1)


@pytest.mark.parametrize("topology", ["tag_aligned", "tag_knn", "knn"])
def test_dynamic_batches_equal_per_clip_graphs(topology):
    # each clip's graph built alone equals its part of the batch (no edge joins two clips),
    # and propagation on the batch equals the dense closed form
    assert_batch_equivalent(topology, "3x2x3", batch_size=3)
    weights = [1.0 + 0.5 * i for i in range(get_topology(topology).num_edge_types)]
    assert_propagation_matches_dense(topology, "3x2x3", K=3, alpha=0.15, edge_weights=weights)


def test_tag_head_with_dynamic_topology_trains():
    grid = TokenGrid(2, 3, 3)
    head = TAGHead(grid, 4, in_channels=8, num_layers=1, num_heads=2, ffn_dim=16,
                   topology="tag_aligned", learn_edge_weights=True)
    x = torch.randn(2, grid.num_nodes, 8)
    head(x).logsumexp(1).sum().backward()
    assert head.propagation.log_edge_weight.grad.abs().sum() > 0
    assert head.pos_embed.weight.grad is not None
    assert all(p.grad is not None for p in head.encoder.parameters())
