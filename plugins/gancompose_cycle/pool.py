"""The image pool of Shrivastava et al. (2017) as CycleGAN uses it: discriminators see past fakes too.

Semantics of the official ``ImagePool.query`` (util/image_pool.py), image by image: while the pool holds
fewer than ``size`` images, the new image is stored and returned; once full, with probability 0.5 a
random stored image is returned and replaced by the new one, otherwise the new image is returned.
The random draws come from torch's CPU generator (saved in checkpoints, so a resumed run is exact, and
drawn on the host, so a GPU step waits for nothing); the stored images are part of the schedule's state.
"""
from __future__ import annotations

import torch


class ImagePool:
    def __init__(self, size: int, shape: tuple[int, ...], device: torch.device):
        self.size = size
        self.images = torch.zeros(size, *shape, device=device) if size > 0 else None
        self.count = 0

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """The batch the discriminator sees in place of ``images`` (detached)."""
        images = images.detach()
        if self.size == 0:
            return images
        out = images.clone()
        coins = torch.rand(len(images)).tolist()
        picks = torch.randint(0, self.size, (len(images),)).tolist()
        for i, (coin, pick) in enumerate(zip(coins, picks)):
            if self.count < self.size:
                self.images[self.count] = images[i]
                self.count += 1
            elif coin > 0.5:
                out[i] = self.images[pick]
                self.images[pick] = images[i]
        return out

    def state_dict(self) -> dict[str, torch.Tensor]:
        if self.size == 0:
            return {}
        return {"images": self.images, "count": torch.tensor(self.count, dtype=torch.int64)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if self.size == 0:
            return
        self.images.copy_(state["images"])
        self.count = int(state["count"])
