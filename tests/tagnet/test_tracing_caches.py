"""Graph caches never keep tensors made while a tracer runs (issue 17, item 5)."""
import json
import subprocess
import sys

import pytest
import torch

from tagnet.graphs import TokenGrid, Topology, batch_graphs, get_topology
from tagnet.graphs.batching import TEMPLATES
from tagnet.graphs.caching import LRUCache, is_tracing
from tagnet.models.head import TAGHead
from tagnet.propagation import graph_cache, structured

SCRIPT = """
import json, sys, torch, tagnet
torch.manual_seed(0)
model = tagnet.create_model("tag_r2plus1d_tiny", num_classes=8, num_frames=8, img_size=64,
                            propagation=sys.argv[2]).eval()
x = torch.randn(2, 3, 8, 64, 64, generator=torch.Generator().manual_seed(1))
if sys.argv[1] == "export":  # trace first, in a process whose caches are empty
    batch = torch.export.Dim("batch", min=1, max=16)
    torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
with torch.no_grad():
    print(json.dumps(model(x).tolist()))
"""


def _logits(mode, propagation):
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode, propagation], check=True,
                         capture_output=True, text=True, timeout=300)
    return torch.tensor(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("propagation", ["auto"])
def test_export_before_any_eager_call_leaves_eager_logits_exact(propagation):
    # the reported bug: eager logits after an export came from fake tensors cached while tracing
    torch.testing.assert_close(_logits("export", propagation), _logits("clean", propagation),
                               rtol=0, atol=0)


def _cache_sizes():
    return len(TEMPLATES), len(graph_cache._CLIPS), len(graph_cache._LRU), \
        len(structured._OPERATORS)


@pytest.mark.parametrize("propagation", ["auto", "pyg-edge"])
def test_tracing_fills_no_cache_and_eager_matches_the_program(propagation):
    grid = TokenGrid(3, 2, 3)  # a grid no other test uses: nothing of it is cached yet
    TEMPLATES.clear()
    graph_cache.clear_cache()
    structured._OPERATORS.clear()
    torch.manual_seed(0)
    head = TAGHead(grid, 4, in_channels=8, num_heads=2, ffn_dim=16,
                   propagation=propagation).eval()
    x = torch.randn(2, 8, *grid.shape)
    program = torch.export.export(head, (x,), dynamic_shapes=({0: torch.export.Dim("b")},))
    assert _cache_sizes() == (0, 0, 0, 0)
    with torch.no_grad():
        eager = head(x)
        assert sum(_cache_sizes()) > 0  # eager calls do cache
        torch.testing.assert_close(program.module()(x), eager, rtol=1e-5, atol=1e-5)
        x3 = torch.randn(3, 8, *grid.shape)  # another batch size through the same program
        torch.testing.assert_close(program.module()(x3), head(x3), rtol=1e-5, atol=1e-5)


def test_is_tracing_sees_fake_and_meta_tensors_and_tracers():
    assert not is_tracing(torch.zeros(1))
    assert is_tracing(torch.zeros(1, device="meta"))
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(is_tracing())
            return x + 1

    torch.export.export(Probe(), (torch.zeros(2),))
    torch.fx.experimental.proxy_tensor.make_fx(Probe())(torch.zeros(2))
    torch.compile(Probe(), backend="eager")(torch.zeros(2))
    Probe()(torch.zeros(2))
    assert seen == [True, True, True, False]


def test_lru_cache_is_bounded_and_bypassed_while_tracing():
    cache, builds = LRUCache(2, "test"), []

    def build(key):
        return lambda: builds.append(key) or key

    for key in ("a", "b", "a", "c", "b"):
        cache.get(key, build(key))
    assert builds == ["a", "b", "c", "b"]  # "b" was the least recently used when "c" came
    assert len(cache) == 2 and "a" not in cache
    assert cache.get("z", build("z"), torch.zeros(1, device="meta")) == "z"
    assert "z" not in cache
    with pytest.raises(ValueError, match="max_entries >= 1"):
        LRUCache(0)


def test_topology_edge_cache_is_bounded_per_grid():
    topology = Topology(["intra_frame", "temporal"])
    for t in range(1, 12):
        topology.edges(TokenGrid(t, 1, 2))
    assert len(topology._cache) == topology._cache.max_entries == 8
    assert get_topology("tag").edges("2x1x2")[0].tolist() == [[0, 1, 2, 3, 0, 1, 2, 3],
                                                             [1, 0, 3, 2, 2, 3, 0, 1]]
    assert batch_graphs(torch.zeros(1, 4, 1), "2x1x2", topology).num_edges == 8
