"""TAGNet = video backbone + TAG-Head."""
from __future__ import annotations

from torch import Tensor, nn

from tagnet.backbones import VideoBackbone


class TAGNet(nn.Module):
    """A 3D backbone followed by :class:`~tagnet.models.head.TAGHead`, trained end to end.

    Args:
        backbone (VideoBackbone): maps ``(B, 3, T, H, W)`` to a token grid.
        head (TAGHead or nn.Module): maps the token grid to logits.
        num_frames (int), img_size (int): the input the head's grid was built for.

    Shapes:
        - input: ``(B, 3, num_frames, img_size, img_size)`` float clips (token grids
          ``(B, C, T', H', W')`` with the ``features`` backbone);
        - output: ``(B, num_classes)`` logits.
    """

    def __init__(self, backbone: VideoBackbone, head: nn.Module, num_frames: int,
                 img_size: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.num_frames = num_frames
        self.img_size = img_size
        self.config: dict = {}  # the create_model arguments, filled by the factory

    def forward_features(self, video: Tensor) -> Tensor:
        """Pooled pre-LayerNorm clip features ``(B, C)``."""
        self._check_input(video)
        return self.head.forward_features(self.backbone(video))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        return self.head.forward_head(x, pre_logits=pre_logits)

    def forward(self, video: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(video))

    def reset_classifier(self, num_classes: int) -> None:
        self.head.reset_classifier(num_classes)

    def resize_grid(self, num_frames: int, img_size: int) -> None:
        """Run on another input size: interpolates the head's positional encoding."""
        self.head.resize_grid(self.backbone.output_grid(num_frames, img_size, img_size))
        self.num_frames, self.img_size = num_frames, img_size

    def _check_input(self, video: Tensor) -> None:
        check = getattr(self.backbone, "check_input", None)
        if check is not None:
            check(video)
