"""ADA: adaptive discriminator augmentation (Karras et al. 2020, "Training Generative Adversarial Networks
with Limited Data"), after the official NVlabs/stylegan2-ada-pytorch ``training/augment.py`` (pipeline
``bgc``) and ``training_loop.py`` (the adjustment of p).

Implemented, each applied to an image with probability ``p`` x its multiplier (constants official):

- geometric (one composed affine map per image, resampled once with ``affine_grid``/``grid_sample``,
  bilinear, reflection padding): x-flip, rotation by multiples of 90 degrees, integer translation (up to 1/8
  of the size, rounded to pixels), isotropic scaling (log2 std 0.2), arbitrary rotation (before and after the
  anisotropic scaling, each with probability ``1 - sqrt(1 - p)``), anisotropic scaling (log2 std 0.2),
  fractional translation (std 1/8 of the size);
- colour (one 4x4 matrix per image in RGB + offset): brightness (std 0.2), contrast (log2 std 0.5), luma
  flip, hue rotation (full circle), saturation (log2 std 1); one-channel images get the matrix's mean
  brightness/contrast/luma flip as the official code does.

Not implemented: the official upsampling/downsampling with the sym6 wavelet filters around the geometric
resampling (anti-aliasing; here plain bilinear sampling), image-space filtering and corruptions (``f``, ``n``,
cutout of the ``bgcfnc`` pipeline).

The adjustment: every ``interval`` real batches (official 4), ``r_t = E[sign(D(real))]`` over them, and
``p += sign(r_t - target) * images / speed_images`` (official target 0.6, speed 500k images for p to go from
0 to 1), clamped to [0, 1]. Everything stays on the device: no host synchronization per step.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt

from gancompose import Params, RecipeError
from gancompose.protocols import Augmentation


class ADAParams(Params):
    p: float = Field(0.0, ge=0, le=1, description="initial augmentation probability")
    adjust: bool = Field(True, description="adapt p from the overfitting heuristic r_t (false: keep p fixed, "
                                           "the official --aug=fixed)")
    target: float = Field(0.6, gt=0, lt=1, description="target of r_t = E[sign(D(real))] (official 0.6)")
    interval: PositiveInt = Field(4, description="real batches between adjustments of p (official 4)")
    speed_images: PositiveInt = Field(500_000, description="images over which p can move from 0 to 1 "
                                                            "(official ada_kimg = 500)")
    # probability multipliers of the bgc pipeline (official: 1 each)
    xflip: float = Field(1.0, ge=0, description="x-flip multiplier")
    rotate90: float = Field(1.0, ge=0, description="90-degree rotations multiplier")
    xint: float = Field(1.0, ge=0, description="integer translation multiplier")
    scale: float = Field(1.0, ge=0, description="isotropic scaling multiplier")
    rotate: float = Field(1.0, ge=0, description="arbitrary rotation multiplier")
    aniso: float = Field(1.0, ge=0, description="anisotropic scaling multiplier")
    xfrac: float = Field(1.0, ge=0, description="fractional translation multiplier")
    brightness: float = Field(1.0, ge=0, description="brightness multiplier")
    contrast: float = Field(1.0, ge=0, description="contrast multiplier")
    lumaflip: float = Field(1.0, ge=0, description="luma flip multiplier")
    hue: float = Field(1.0, ge=0, description="hue rotation multiplier")
    saturation: float = Field(1.0, ge=0, description="saturation multiplier")


# official constants (AugmentPipe defaults)
XINT_MAX, SCALE_STD, ROTATE_MAX, ANISO_STD, XFRAC_STD = 0.125, 0.2, 1.0, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, HUE_MAX, SATURATION_STD = 0.2, 0.5, 1.0, 1.0


def _mat(rows, like: torch.Tensor) -> torch.Tensor:
    """Stack ``rows`` (numbers or [B] tensors) into [B, n, m] matrices."""
    b = like.shape[0]
    elems = [e if isinstance(e, torch.Tensor) else torch.full((b,), float(e), device=like.device, dtype=like.dtype)
             for row in rows for e in row]
    return torch.stack(elems, dim=-1).reshape(b, len(rows), len(rows[0]))


def _translate2d(tx, ty, like):
    return _mat([[1, 0, tx], [0, 1, ty], [0, 0, 1]], like)


def _scale2d(sx, sy, like):
    return _mat([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], like)


def _rotate2d(theta, like):
    return _mat([[torch.cos(theta), -torch.sin(theta), 0], [torch.sin(theta), torch.cos(theta), 0], [0, 0, 1]], like)


#: a component of the unit luma axis (1, 1, 1) / sqrt(3), as the float32 the axis tensor holds
_LUMA = float((torch.ones(1) / math.sqrt(3))[0])


def _rotate3d(v: tuple[float, float, float], theta: torch.Tensor) -> torch.Tensor:
    """Rotation by ``theta`` [B] about the unit axis ``v`` (host numbers: no device read, no graph break)."""
    vx, vy, vz = v
    s, c = torch.sin(theta), torch.cos(theta)
    cc = 1 - c
    return _mat([[vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
                 [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
                 [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
                 [0, 0, 0, 1]], theta)


class ADA(Augmentation):
    """ADA (Karras et al. 2020): the bgc pipeline with one probability p, adapted from the sign of D(real)."""

    def __init__(self, params: ADAParams, in_shape: tuple[int, ...]):
        super().__init__()
        if len(in_shape) != 3 or in_shape[0] not in (1, 3):
            raise RecipeError(f"ADA works on RGB or one-channel images [C, H, W]; this network takes "
                              f"{tuple(in_shape)}", key=["type"])
        self.params = params
        self.register_buffer("p", torch.tensor(float(params.p)))
        #: [sum of sign(D(real)) per image, images, real batches] since the last adjustment
        self.register_buffer("stats", torch.zeros(3))
        self._batches = 0  # mirrors stats[2] on the host (no sync to decide when to adjust)
        self._adjustments = 0
        self._shown: tuple[int, float] | None = None

    # ------------------------------------------------------------------------- adaptation
    def observe(self, real_out: torch.Tensor) -> None:
        """Accumulate sign(D(real)) of one real batch; adjust p every ``interval`` batches."""
        if not self.params.adjust:
            return
        b = real_out.shape[0]
        signs = real_out.detach().float().reshape(b, -1).sign().mean(dim=1).sum()
        self.stats.add_(torch.stack([signs, signs.new_tensor(float(b)), signs.new_tensor(1.0)]))
        self._batches += 1
        if self._batches >= self.params.interval:
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(self.stats)  # torchrun: every process's reals, the same p everywhere
            r_t = self.stats[0] / self.stats[1]
            adjust = torch.sign(r_t - self.params.target) * self.stats[1] / self.params.speed_images
            self.p.copy_((self.p + adjust).clamp(0.0, 1.0))
            self.stats.zero_()
            self._batches = 0
            self._adjustments += 1

    def monitor(self) -> torch.Tensor:
        return self.p

    def status(self) -> dict[str, str]:
        if self._shown is None or self._shown[0] != self._adjustments:  # a host read only when p may have moved
            self._shown = (self._adjustments, float(self.p))
        return {"ada_p": f"{self._shown[1]:.4f}"}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._batches = int(round(float(self.stats[2])))
        self._shown = None

    # --------------------------------------------------------------------------- pipeline
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        b, c, h, w = images.shape
        dev = images.device
        q = self.params
        p = self.p.to(dev)

        def rand(*shape):
            return torch.rand(shape or (b,), device=dev)

        def randn(*shape):
            return torch.randn(shape or (b,), device=dev)

        ones = torch.ones(b, device=dev)
        # ---- geometric: G_inv maps output pixel coordinates (origin at the centre) to input ones
        G = torch.eye(3, device=dev).expand(b, 3, 3)
        if q.xflip > 0:
            i = torch.floor(rand() * 2)
            i = torch.where(rand() < q.xflip * p, i, torch.zeros_like(i))
            G = G @ _scale2d(1 / (1 - 2 * i), ones, ones)
        if q.rotate90 > 0:
            i = torch.floor(rand() * 4)
            i = torch.where(rand() < q.rotate90 * p, i, torch.zeros_like(i))
            G = G @ _rotate2d(math.pi / 2 * i, ones)  # rotate2d_inv(-pi/2 i)
        if q.xint > 0:
            t = (rand(b, 2) * 2 - 1) * XINT_MAX
            t = torch.where(rand(b, 1) < q.xint * p, t, torch.zeros_like(t))
            G = G @ _translate2d(-torch.round(t[:, 0] * w), -torch.round(t[:, 1] * h), ones)
        if q.scale > 0:
            s = torch.exp2(randn() * SCALE_STD)
            s = torch.where(rand() < q.scale * p, s, ones)
            G = G @ _scale2d(1 / s, 1 / s, ones)
        p_rot = 1 - torch.sqrt((1 - q.rotate * p).clamp(0, 1))  # P(pre or post rotation) = rotate * p
        if q.rotate > 0:
            theta = (rand() * 2 - 1) * math.pi * ROTATE_MAX
            theta = torch.where(rand() < p_rot, theta, torch.zeros_like(theta))
            G = G @ _rotate2d(theta, ones)  # rotate2d_inv(-theta)
        if q.aniso > 0:
            s = torch.exp2(randn() * ANISO_STD)
            s = torch.where(rand() < q.aniso * p, s, ones)
            G = G @ _scale2d(1 / s, s, ones)
        if q.rotate > 0:
            theta = (rand() * 2 - 1) * math.pi * ROTATE_MAX
            theta = torch.where(rand() < p_rot, theta, torch.zeros_like(theta))
            G = G @ _rotate2d(theta, ones)
        if q.xfrac > 0:
            t = randn(b, 2) * XFRAC_STD
            t = torch.where(rand(b, 1) < q.xfrac * p, t, torch.zeros_like(t))
            G = G @ _translate2d(-t[:, 0] * w, -t[:, 1] * h, ones)
        if q.xflip > 0 or q.rotate90 > 0 or q.xint > 0 or q.scale > 0 or q.rotate > 0 or q.aniso > 0 or q.xfrac > 0:
            # pixel units about the centre -> affine_grid's [-1, 1] units (align_corners=False)
            to_norm = _scale2d(2 / w * ones, 2 / h * ones, ones)
            from_norm = _scale2d(w / 2 * ones, h / 2 * ones, ones)
            theta = (to_norm @ G @ from_norm)[:, :2, :].to(images.dtype)
            grid = F.affine_grid(theta, [b, c, h, w], align_corners=False)
            images = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

        # ---- colour: C maps (r, g, b, 1) to the new colour
        C = torch.eye(4, device=dev).expand(b, 4, 4)
        if q.brightness > 0:
            v = randn() * BRIGHTNESS_STD
            v = torch.where(rand() < q.brightness * p, v, torch.zeros_like(v))
            C = _mat([[1, 0, 0, v], [0, 1, 0, v], [0, 0, 1, v], [0, 0, 0, 1]], ones) @ C
        if q.contrast > 0:
            v = torch.exp2(randn() * CONTRAST_STD)
            v = torch.where(rand() < q.contrast * p, v, ones)
            C = _mat([[v, 0, 0, 0], [0, v, 0, 0], [0, 0, v, 0], [0, 0, 0, 1]], ones) @ C
        axis = torch.tensor([1.0, 1.0, 1.0, 0.0], device=dev) / math.sqrt(3)  # luma axis
        vv = torch.outer(axis, axis)
        eye4 = torch.eye(4, device=dev)
        if q.lumaflip > 0:
            i = torch.floor(rand(b, 1, 1) * 2)
            i = torch.where(rand(b, 1, 1) < q.lumaflip * p, i, torch.zeros_like(i))
            C = (eye4 - 2 * vv * i) @ C  # Householder reflection
        if q.hue > 0 and c > 1:
            theta = (rand() * 2 - 1) * math.pi * HUE_MAX
            theta = torch.where(rand() < q.hue * p, theta, torch.zeros_like(theta))
            C = _rotate3d((_LUMA, _LUMA, _LUMA), theta) @ C
        if q.saturation > 0 and c > 1:
            s = torch.exp2(randn(b, 1, 1) * SATURATION_STD)
            s = torch.where(rand(b, 1, 1) < q.saturation * p, s, torch.ones_like(s))
            C = (vv + (eye4 - vv) * s) @ C
        if q.brightness > 0 or q.contrast > 0 or q.lumaflip > 0 or (c > 1 and (q.hue > 0 or q.saturation > 0)):
            C = C.to(images.dtype)
            flat = images.reshape(b, c, h * w)
            if c == 3:
                flat = C[:, :3, :3] @ flat + C[:, :3, 3:]
            else:
                C1 = C[:, :3, :].mean(dim=1, keepdim=True)
                flat = flat * C1[:, :, :3].sum(dim=2, keepdim=True) + C1[:, :, 3:]
            images = flat.reshape(b, c, h, w)
        return images

    def extra_repr(self) -> str:
        return f"target={self.params.target}, interval={self.params.interval}, speed_images={self.params.speed_images}"


def ada(p: ADAParams, in_shape) -> ADA:
    """ADA (Karras et al. 2020): the bgc pipeline with one probability p, adapted from the sign of D(real)."""
    return ADA(p, in_shape)
