"""time_symmetry: which topologies a graph-only head sees as a set of frames, or cannot run
backwards in time."""
import pytest
import torch

from tagnet.graphs import FunctionEdgeSet, Topology, time_symmetry


@pytest.mark.parametrize("grid", ["1x2x3", "2x1x1", "5x2x2", "8x4x4"])
@pytest.mark.parametrize("name,crosses,reversal", [
    ("none", False, True), ("intra_frame", False, True), ("tag", True, True),
    ("temporal", True, True), ("tag_window:2", True, True), ("tag_dense", True, True),
    ("tag_directed", True, False), ("tag_directed:2", True, False),
])
def test_known_topologies(grid, name, crosses, reversal):
    sym = time_symmetry(name, grid)
    if grid.startswith("1x"):  # one frame: nothing crosses, nothing to reverse
        assert (sym.crosses_frames, sym.reversal_invariant) == (False, True)
    else:
        assert (sym.crosses_frames, sym.reversal_invariant) == (crosses, reversal)
        assert sym.frame_order_invariant == (not crosses)


def test_reversal_is_checked_type_by_type():
    """The same forward and backward links are symmetric as one type, not as two."""
    assert time_symmetry("temporal", "3x2x2").reversal_invariant  # one type, both directions
    assert not time_symmetry("temporal_directed", "3x2x2").reversal_invariant  # two types


def test_one_link_without_its_mirror_image_is_caught():
    def first_to_second(grid):
        # (0, p=0) -> (1, p=0); its mirror (T-1, 0) -> (T-2, 0) is absent
        return torch.tensor([[0], [grid.num_sites]])

    sym = time_symmetry(Topology([FunctionEdgeSet("first_to_second", first_to_second)]), "3x1x2")
    assert sym.crosses_frames and not sym.reversal_invariant
    assert "not symmetric in time" in sym.describe()


def test_a_data_dependent_topology_has_no_fixed_symmetry():
    with pytest.raises(ValueError, match="builds its edges from the tokens"):
        time_symmetry("tag_aligned", "3x2x2")
