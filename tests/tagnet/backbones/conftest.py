"""Reference networks for the checkpoint-layout tests, built independently of tagnet.

pytorchvideo's own builders are used when pytorchvideo imports (a test-only
dependency); otherwise :func:`pytorchvideo_tree` writes the same module tree from
pytorchvideo's published key names and shapes (``blocks.0.conv``,
``blocks.N.res_blocks.M.branch2.conv_a`` ...). ``test_handwritten_tree_matches_pytorchvideo``
checks the two agree whenever pytorchvideo is there. Tests reach the helpers
through the ``pv``, ``randomize`` and ``save`` fixtures.
"""
from types import SimpleNamespace

import pytest
import torch
from torch import nn


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BatchNorm statistics and affine parameters, so a wrong map cannot hide."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return model.eval()


# --- pytorchvideo's module tree, from its key names -------------------------------------------
class _Stem(nn.Module):  # pytorchvideo ResNetBasicStem
    def __init__(self, kt):
        super().__init__()
        self.conv = nn.Conv3d(3, 64, (kt, 7, 7), (1, 2, 2), (kt // 2, 3, 3), bias=False)
        self.norm = nn.BatchNorm3d(64)
        self.activation = nn.ReLU()
        self.pool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))

    def forward(self, x):
        return self.pool(self.activation(self.norm(self.conv(x))))


class _Branch2(nn.Module):  # pytorchvideo BottleneckBlock
    def __init__(self, cin, inner, cout, kt, kb, stride, groups):
        super().__init__()
        self.conv_a = nn.Conv3d(cin, inner, (kt, 1, 1), padding=(kt // 2, 0, 0), bias=False)
        self.norm_a, self.act_a = nn.BatchNorm3d(inner), nn.ReLU()
        self.conv_b = nn.Conv3d(inner, inner, kb, stride, tuple(k // 2 for k in kb),
                                groups=groups, bias=False)
        self.norm_b, self.act_b = nn.BatchNorm3d(inner), nn.ReLU()
        self.conv_c = nn.Conv3d(inner, cout, 1, bias=False)
        self.norm_c = nn.BatchNorm3d(cout)

    def forward(self, x):
        x = self.act_a(self.norm_a(self.conv_a(x)))
        return self.norm_c(self.conv_c(self.act_b(self.norm_b(self.conv_b(x)))))


class _ResBlock(nn.Module):  # pytorchvideo ResBlock
    def __init__(self, cin, inner, cout, kt, kb, stride, groups):
        super().__init__()
        self.branch1_conv = self.branch1_norm = None
        if cin != cout or stride != (1, 1, 1):
            self.branch1_conv = nn.Conv3d(cin, cout, 1, stride, bias=False)
            self.branch1_norm = nn.BatchNorm3d(cout)
        self.branch2 = _Branch2(cin, inner, cout, kt, kb, stride, groups)
        self.activation = nn.ReLU()

    def forward(self, x):
        short = x if self.branch1_conv is None else self.branch1_norm(self.branch1_conv(x))
        return self.activation(short + self.branch2(x))


class _Stage(nn.Module):  # pytorchvideo ResStage
    def __init__(self, blocks):
        super().__init__()
        self.res_blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for b in self.res_blocks:
            x = b(x)
        return x


class _Head(nn.Module):  # pytorchvideo ResNetBasicHead (only proj has weights)
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(2048, 400)


class _Net(nn.Module):  # pytorchvideo Net
    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)


# hub settings: stem k_t, conv_a k_t per stage (cycled), conv_b kernel, stage strides, pool
_PV = {
    "slow_r50": dict(stem=1, kt=[[1], [1], [3], [3]], kb=(1, 3, 3), depths=(3, 4, 6, 3),
                     ts=(1, 1, 1, 1), pool=False, dw=False),
    "i3d_r50": dict(stem=5, kt=[[3], [3, 1], [3, 1], [1, 3]], kb=(1, 3, 3), depths=(3, 4, 6, 3),
                    ts=(1, 1, 1, 1), pool=True, dw=False),
    "csn_r101": dict(stem=3, kt=[[1]] * 4, kb=(3, 3, 3), depths=(3, 4, 23, 3),
                     ts=(1, 2, 2, 2), pool=False, dw=True),
}


def pytorchvideo_tree(name: str) -> nn.Module:
    """pytorchvideo's ``<name>()`` module tree written from its key names and shapes."""
    c = _PV[name]
    blocks, cin = [_Stem(c["stem"])], 64
    for i, depth in enumerate(c["depths"]):
        inner, cout, ss = 64 * 2 ** i, 256 * 2 ** i, 1 if i == 0 else 2
        stage = []
        for j in range(depth):
            stride = (c["ts"][i], ss, ss) if j == 0 else (1, 1, 1)
            kt = c["kt"][i][j % len(c["kt"][i])]
            stage.append(_ResBlock(cin if j == 0 else cout, inner, cout, kt, c["kb"], stride,
                                   inner if c["dw"] else 1))
        blocks.append(_Stage(stage))
        cin = cout
        if i == 0 and c["pool"]:
            blocks.append(nn.MaxPool3d((2, 1, 1), (2, 1, 1)))
    return _Net(blocks + [_Head()])


def pytorchvideo_model(name: str) -> nn.Module:
    """pytorchvideo's own builder when it imports, else :func:`pytorchvideo_tree`."""
    try:
        from pytorchvideo.models import hub
    except ImportError:
        return pytorchvideo_tree(name)
    return getattr(hub, name)(pretrained=False)


def pytorchvideo_trunk(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The features before pytorchvideo's head (every block but the last)."""
    for block in model.blocks[:-1]:
        x = block(x)
    return x


@pytest.fixture
def pv():
    """The pytorchvideo helpers: ``model(name)``, ``tree(name)``, ``trunk(model, x)``."""
    return SimpleNamespace(model=pytorchvideo_model, tree=pytorchvideo_tree,
                           trunk=pytorchvideo_trunk)


@pytest.fixture
def randomize():
    """``randomize(model, seed=0)``: random BatchNorm statistics and affine parameters."""
    return randomize_


@pytest.fixture
def save(tmp_path):
    """``save(obj) -> path`` of a fresh ``.pth`` file holding ``obj``."""
    count = iter(range(1000))

    def _save(obj):
        path = tmp_path / f"ckpt{next(count)}.pth"
        torch.save(obj, path)
        return path

    return _save
