"""What the style family adds to ``gancompose sample`` (the ``register_sample_options`` hook):

    gancompose sample CKPT --truncation 0.7                       # w = w_avg + psi (w - w_avg)
    gancompose sample CKPT --mixing 4x6 [--mixing-cutoff K]       # a style-mixing grid

Both act on the style generators of this plugin (:class:`StyleGenerator`: a tracked mean ``w`` and ``style_mix``)
and refuse any other generator by name. ``truncation_kwargs`` and ``style_mixing_grid`` are the same behaviour
for Python callers of :func:`gancompose.sampling.generate`.
"""
from __future__ import annotations

import click
import torch

from gancompose.engine.context import is_conditional
from gancompose.errors import GancomposeError
from gancompose.recipe.sections import MAX_SAMPLES
from gancompose.sampling import Grid, SampleOption

from gancompose_style.synthesis import StyleGenerator

STYLE_GENERATORS = "stylegan_generator, stylegan2_generator"


def _style_generator(net, option: str, missing: str) -> StyleGenerator:
    if not isinstance(net, StyleGenerator):
        raise GancomposeError(f"this generator ({type(net).__name__}) {missing}",
                              hint=f"{option} works with style-based generators ({STYLE_GENERATORS})")
    return net


def truncation_kwargs(net, psi: float | None) -> dict:
    """``{"truncation_psi": psi}`` for a style generator (none when ``psi`` is None); an error for others."""
    if psi is None:
        return {}
    _style_generator(net, "--truncation", "does not support truncation: it keeps no mean latent")
    return {"truncation_psi": float(psi)}


@torch.no_grad()
def style_mixing_grid(run, rows: int, cols: int, *, cutoff: int | None = None, seed: int = 0, use_ema: bool = True,
                      label: int | None = None, truncation_psi: float | None = None) -> tuple[torch.Tensor, int]:
    """A style-mixing grid: the first row shows ``cols`` column sources, the first column ``rows`` row sources,
    and cell (i, j) takes the coarse styles (layers below ``cutoff``, default half of them) from row source i
    and the fine styles from column source j. Returns the images (the top-left cell blank) and the grid's
    width, ``cols + 1``. Latents: the rows' then the columns', from a generator seeded by ``seed``."""
    net = _style_generator(run.sampling_network(run.generator_name(), use_ema), "--mixing", "does not mix styles")
    cutoff = net.num_ws // 2 if cutoff is None else cutoff
    if not 0 <= cutoff <= net.num_ws:
        raise GancomposeError(f"--mixing-cutoff {cutoff} is out of range: this generator has {net.num_ws} style "
                              f"layers (0 to {net.num_ws})")
    psi = 1.0 if truncation_psi is None else float(truncation_psi)
    g = torch.Generator(device="cpu").manual_seed(seed)
    z_rows, z_cols = run.sample_latent(rows, generator=g), run.sample_latent(cols, generator=g)
    y = None
    if is_conditional(net):
        y = torch.full((max(rows, cols),), 0 if label is None else label, dtype=torch.long, device=run.device)
    was_training = net.training
    net.eval()
    try:
        col_imgs = net.style_mix(z_cols, z_cols, 0, None if y is None else y[:cols], psi).float().cpu()
        cells = [torch.ones_like(col_imgs[:1]), col_imgs]  # blank (white) corner
        for i in range(rows):
            zr = z_rows[i:i + 1]
            row_src = net.style_mix(zr, zr, 0, None if y is None else y[:1], psi).float().cpu()
            mixed = net.style_mix(zr.expand(cols, -1), z_cols, cutoff, None if y is None else y[:cols], psi)
            cells += [row_src, mixed.float().cpu()]
    finally:
        net.train(was_training)
    return torch.cat(cells), cols + 1


class Truncation(SampleOption):
    """``--truncation PSI``: the truncation trick on every sample (and on a style-mixing grid)."""
    options = (click.Option(["--truncation", "truncation"], type=float, metavar="PSI",
                            help="Style-based generators: the truncation trick, w = w_avg + PSI (w - w_avg) "
                                 "(e.g. 0.7)."),)

    def forward_kwargs(self, net, values):
        return truncation_kwargs(net, values.get("truncation"))


class StyleMixing(SampleOption):
    """``--mixing ROWSxCOLS [--mixing-cutoff K]``: a style-mixing grid instead of the samples."""
    options = (
        click.Option(["--mixing", "mixing"], metavar="ROWSxCOLS",
                     help="Style-based generators: a style-mixing grid instead (e.g. 4x6 or 5): rows take the "
                          "coarse styles from one seed, columns the fine styles from another."),
        click.Option(["--mixing-cutoff", "mixing_cutoff"], type=click.IntRange(min=0), metavar="K",
                     help="With --mixing: style layers below K are coarse (default: half of them)."),
    )

    def grid(self, run, values, *, seed, use_ema, label, per_class, forward_kwargs):
        text = values.get("mixing")
        if text is None:
            if values.get("mixing_cutoff") is not None:
                raise GancomposeError("--mixing-cutoff goes with --mixing ROWSxCOLS")
            return None
        try:
            rows, _, cols = text.lower().partition("x")
            rows, cols = int(rows), int(cols or rows)
            assert rows > 0 and cols > 0
        except (ValueError, AssertionError):
            raise GancomposeError(f"--mixing {text!r}: expected ROWSxCOLS (e.g. 4x6) or N") from None
        if per_class is not None:
            raise GancomposeError("--mixing and --per-class do not go together; use --class to pick one class")
        if (rows + 1) * (cols + 1) > MAX_SAMPLES:
            raise GancomposeError(f"--mixing {text!r}: at most {MAX_SAMPLES:,} images in a grid")
        images, nrow = style_mixing_grid(run, rows, cols, cutoff=values.get("mixing_cutoff"), seed=seed,
                                         use_ema=use_ema, label=label,
                                         truncation_psi=forward_kwargs.get("truncation_psi"))
        return Grid(images, nrow, f"a {rows}x{cols} style-mixing grid")


OPTIONS = (Truncation(), StyleMixing())
