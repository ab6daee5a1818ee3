import pytest
import torch

from tagnet.graphs import TokenGrid


def test_node_ids_are_frame_major():
    grid = TokenGrid(2, 2, 3)
    t, h, w = torch.meshgrid(torch.arange(2), torch.arange(2), torch.arange(3), indexing="ij")
    assert grid.node_id(t, h, w).flatten().tolist() == list(range(12))
    assert grid.node_id(1, 1, 2) == 11
    assert grid.coords(11) == (1, 1, 2)
    tt, hh, ww = grid.coords(torch.arange(12))
    assert torch.equal(grid.node_id(tt, hh, ww), torch.arange(12))


def test_frame_and_site_match_flattened_feature_map():
    grid = TokenGrid(3, 2, 2)
    fmap = torch.zeros(1, 2, 3, 2, 2)
    fmap[0, 0] = torch.arange(3).view(3, 1, 1).float()  # channel 0 = t
    fmap[0, 1] = torch.arange(4).view(1, 2, 2).float()  # channel 1 = site
    tokens = fmap.flatten(2).transpose(1, 2)[0]  # (N, 2), the released tokenisation
    assert tokens[:, 0].long().tolist() == grid.frame().tolist()
    assert tokens[:, 1].long().tolist() == grid.site().tolist()
    assert TokenGrid.from_feature_map(fmap) == grid


@pytest.mark.parametrize("spec", ["8x7x7", " 8 x 7 x 7 ", (8, 7, 7), TokenGrid(8, 7, 7)])
def test_parse(spec):
    assert TokenGrid.parse(spec) == TokenGrid(8, 7, 7)
    assert str(TokenGrid.parse(spec)) == "8x7x7"


@pytest.mark.parametrize("bad", ["8x7", "axbxc", (1, 2), None])
def test_parse_rejects(bad):
    with pytest.raises(ValueError, match="TxHxW|TokenGrid"):
        TokenGrid.parse(bad)


@pytest.mark.parametrize("dims", [(0, 7, 7), (8, -1, 7), (8, 7, 2.5), (True, 1, 1)])
def test_invalid_sizes_name_the_value(dims):
    with pytest.raises(ValueError, match="positive int"):
        TokenGrid(*dims)
