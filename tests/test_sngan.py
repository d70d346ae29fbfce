"""SNGAN ResNet blocks against the official networks, and the SNGAN / WGAN-GP recipes.

The official networks are the SNGAN authors' Chainer code, pfnet-research/sngan_projection:
gen_models/resblocks.py, gen_models/resnet_32.py, resnet_64.py, resnet.py (128 px) and
dis_models/resblocks.py, dis_models/snresnet_32.py, snresnet_64.py, snresnet.py / snresnet_128.py.
The expected parameter counts below are derived from those files' layer lists with the formulas of
Chainer's links (Convolution2D and Linear with bias unless ``nobias=True``, BatchNormalization with a
scale and a shift), independently of the PyTorch modules under test.
"""
from __future__ import annotations

import json
import math

import pytest
import torch
from pydantic import TypeAdapter

from conftest import ROOT, tiny_overrides
from gancompose.builder import build_network
from gancompose.errors import GancomposeError, RecipeError
from gancompose.recipe import load_raw, load_recipe, recipe_model
from gancompose.registry import default_registry
from gancompose.runner import run_recipe

RECIPES = ROOT / "recipes"


def _net(spec: dict, in_shape):
    reg = default_registry()
    net_spec = recipe_model(reg).model_fields["networks"].annotation.__args__[1]
    return build_network("net", TypeAdapter(net_spec).validate_python(spec), in_shape, reg)


def _g(size, **kw):
    return _net({"type": "sngan_resnet_generator", "input": "latent", "image_size": size, **kw}, (128,))


def _d(size, **kw):
    return _net({"type": "sngan_resnet_discriminator", "input": "data", "image_size": size, **kw}, (3, size, size))


# ----------------------------------------------------------------- parameter counts, from the architecture
def conv(cin, cout, k, bias=True):  # chainer.links.Convolution2D
    return cin * cout * k * k + cout * bias


def linear(cin, cout, bias=True):  # chainer.links.Linear / SNLinear
    return cin * cout + cout * bias


def bn(c):  # chainer.links.BatchNormalization: gamma and beta
    return 2 * c


def g_block(cin, cout):
    """gen_models/resblocks.py Block(upsample=True): b1, c1 (hidden = out), b2, c2, c_sc (1x1, learnable)."""
    return bn(cin) + conv(cin, cout, 3) + bn(cout) + conv(cout, cout, 3) + conv(cin, cout, 1)


def generator_params(chs, nz=128, bottom_width=4):
    """l1: Linear(dim_z, bottom_width**2 * chs[0]); the blocks; the last BN; Convolution2D(ch, 3, 3)."""
    blocks = sum(g_block(a, b) for a, b in zip(chs, chs[1:]))
    return linear(nz, bottom_width ** 2 * chs[0]) + blocks + bn(chs[-1]) + conv(chs[-1], 3, 3)


def d_optimized(cin, cout):
    """dis_models/resblocks.py OptimizedBlock: c1, c2 (3x3), c_sc (1x1)."""
    return conv(cin, cout, 3) + conv(cout, cout, 3) + conv(cin, cout, 1)


def d_block(cin, cout, downsample):
    """dis_models/resblocks.py Block: c1 (in -> hidden = in), c2 (in -> out); c_sc if in != out or downsample."""
    learnable_sc = cin != cout or downsample
    return conv(cin, cin, 3) + conv(cin, cout, 3) + (conv(cin, cout, 1) if learnable_sc else 0)


# gen_models/resnet_32.py: ch=256, Block(ch, ch) x 3
G32 = generator_params([256, 256, 256, 256])
# gen_models/resnet_64.py: ch=64, l1 to ch*16, Block(16ch, 8ch), (8ch, 4ch), (4ch, 2ch), (2ch, ch)
G64 = generator_params([64 * m for m in (16, 8, 4, 2, 1)])
# gen_models/resnet.py (128 px): ch=64, l1 to ch*16, Block(16ch, 16ch), (16ch, 8ch), ..., (2ch, ch)
G128 = generator_params([64 * m for m in (16, 16, 8, 4, 2, 1)])
# dis_models/snresnet_32.py: ch=128, OptimizedBlock(3, ch), Block(ch, ch, down), Block(ch, ch) x 2,
# l5 = SNLinear(ch, 1, nobias=True)
D32 = d_optimized(3, 128) + d_block(128, 128, True) + 2 * d_block(128, 128, False) + linear(128, 1, bias=False)
# dis_models/snresnet_64.py: ch=64, OptimizedBlock(3, ch), Block(ch, 2ch, down), ... Block(8ch, 16ch, down),
# l6 = SNLinear(16ch, 1)
D64 = (d_optimized(3, 64) + d_block(64, 128, True) + d_block(128, 256, True) + d_block(256, 512, True)
       + d_block(512, 1024, True) + linear(1024, 1))
# dis_models/snresnet.py (= snresnet_128.py): as 64 px, then Block(16ch, 16ch, downsample=False), l7 SNLinear
D128 = D64 - linear(1024, 1) + d_block(1024, 1024, False) + linear(1024, 1)


def test_the_derivation_by_hand():
    # the 32 px networks counted by hand once, to check the formulas themselves
    # G: l1 128*4096+4096; per block 2*512 (BN) + 2*(256*256*9+256) + (256*256+256); BN 512; conv 256*3*9+3
    assert G32 == 528_384 + 3 * (1_024 + 2 * 590_080 + 65_792) + 512 + 6_915 == 4_276_739
    # D: (3*128*9+128) + (128*128*9+128) + (3*128+128); block2 + c_sc (128*128+128); 2 x 2 convs; 128 weights
    assert D32 == 3_584 + 147_584 + 512 + (2 * 147_584 + 16_512) + 4 * 147_584 + 128 == 1_053_824
    assert (G64, D64) == (12_220_675, 10_141_441)
    assert (G128, D128) == (32_150_787, 29_017_857)


@pytest.mark.parametrize("size,g_expected,d_expected", [(32, G32, D32), (64, G64, D64), (128, G128, D128)])
def test_official_parameter_counts(size, g_expected, d_expected):
    g, grep = _g(size)  # default widths: the official ones for each size
    d, drep = _d(size)
    assert grep.params == g_expected
    assert drep.params == d_expected
    assert sum(p.numel() for p in d.parameters()) == d_expected  # spectral norm adds buffers (u, v), no parameters


@pytest.mark.parametrize("size", [16, 32, 64, 128])
def test_output_shapes(size):
    g, grep = _g(size, ch=4)
    d, drep = _d(size, ch=4)
    assert grep.out_shape == (3, size, size)
    assert drep.out_shape == ()
    x = g(torch.randn(3, 128))
    assert x.shape == (3, 3, size, size)
    assert x.abs().max() <= 1  # tanh
    assert d(x).shape == (3,)


def test_block_layouts():
    from gancompose_sngan.blocks import DiscriminatorParams, GeneratorParams, discriminator, generator
    g = generator(GeneratorParams(image_size=32), (128,))
    assert [b.c1.out_channels for b in g.blocks] == [256, 256, 256]
    g = generator(GeneratorParams(image_size=128, ch=2), (128,))
    assert g.l1.out_features == 4 * 4 * 2 * 16
    assert [b.c2.out_channels for b in g.blocks] == [2 * m for m in (16, 8, 4, 2, 1)]
    d = discriminator(DiscriminatorParams(image_size=32), (3, 32, 32))
    assert [b.c_sc is not None for b in d.blocks] == [True, True, False, False]  # identity where shapes match
    assert d.l_out.bias is None  # snresnet_32.py: nobias=True
    d = discriminator(DiscriminatorParams(image_size=128, ch=2), (3, 128, 128))
    assert [b.c2.out_channels for b in d.blocks] == [2 * m for m in (1, 2, 4, 8, 16, 16)]
    assert d.blocks[-1].c_sc is None and d.l_out.bias is not None
    # feature maps: 128 -> 64 (optimized block) -> 32 -> 16 -> 8 -> 4 -> 4 (the last block does not pool)
    h = torch.randn(1, 3, 128, 128)
    sizes = []
    for block in d.blocks:
        h = block(h)
        sizes.append(h.shape[-1])
    assert sizes == [64, 32, 16, 8, 4, 4]


def test_official_initialization():
    # Glorot uniform, gain sqrt(2) on the residual 3x3 convs, 1 on shortcuts and the first linear; biases 0
    g, _ = _g(32)
    w = g.blocks[0].c1.weight
    bound = math.sqrt(2) * math.sqrt(6 / (256 * 9 + 256 * 9))
    assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound
    w = g.blocks[0].c_sc.weight
    assert w.abs().max() <= math.sqrt(6 / (256 + 256))
    assert torch.all(g.blocks[0].c1.bias == 0) and torch.all(g.l1.bias == 0)


def test_discriminator_is_spectrally_normalized():
    torch.manual_seed(0)  # the power iteration's convergence depends on the draw: same draw in any test order
    d, _ = _d(32, ch=16)
    layers = [m for m in d.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers) == 4 * 2 + 2 + 1  # two convs per block, two learnable shortcuts, the last linear
    assert all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    with torch.no_grad():  # make the raw weights far from norm 1, so the test means something
        for m in layers:
            m.parametrizations.weight.original.mul_(7.0)
    d.train()
    for _ in range(200):  # one power iteration per training-mode forward (slow where sigma1 ~ sigma2)
        d(torch.randn(4, 3, 32, 32))
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.02)


def test_generator_is_not_normalized():
    g, _ = _g(16, ch=8)
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in g.modules())


def test_errors_name_the_key():
    with pytest.raises(RecipeError) as e:
        _g(32, nz=100)
    assert e.value.key == "networks.net.nz"
    with pytest.raises(RecipeError, match=r"\(3, 64, 64\)"):
        _net({"type": "sngan_resnet_discriminator", "input": "data", "image_size": 32}, (3, 64, 64))
    with pytest.raises(RecipeError) as e:  # the initializer could not reach the normalized weights
        _d(32, init={"type": "normal", "std": 0.02})
    assert e.value.key == "networks.net.init"
    with pytest.raises(Exception, match="image_size"):
        _g(48)


# -------------------------------------------------------------------------------------------- recipes
def _lines(result):
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    return [x for x in lines if "img_per_s" in x]


def test_sngan_recipe_trains(tmp_path):
    path = RECIPES / "sngan_shapes.toml"
    recipe = load_recipe(path, tiny_overrides(load_raw(path), tmp_path)
                         + ["networks.generator.ch=16", "networks.discriminator.ch=16"])
    assert recipe.loss.type == "hinge" and recipe.schedule.n_critic == 5
    assert tuple(recipe.optimizers["discriminator"].betas) == (0.0, 0.9)
    result = run_recipe(recipe, max_steps=3, progress=False)
    lines = _lines(result)
    assert [x["step"] for x in lines] == [1, 2, 3]
    assert all(math.isfinite(v) for k, v in lines[-1].items() if "/" in k)
    assert (result.run_dir / "checkpoints" / "last.safetensors").is_file()


def _png_folder(root, n=6):
    from PIL import Image
    root.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for i in range(n):  # assorted sizes and a subfolder: the dataset resizes, crops and searches recursively
        h, w = 40 + 7 * i, 52 - 3 * i
        pixels = torch.randint(0, 256, (h, w, 3), generator=g, dtype=torch.uint8).numpy()
        folder = root / "more" if i % 3 == 0 else root
        folder.mkdir(exist_ok=True)
        Image.fromarray(pixels).save(folder / f"mon{i}.png")
    return root


def _tiny_on_folder(path, tmp_path, root):
    """The tiny overrides, but on the recipe's own image_folder dataset at ``root`` (conftest's tiny_overrides
    swaps image_folder data for a same-shaped stand-in; this test is about the folder)."""
    keep = [o for o in tiny_overrides(load_raw(path), tmp_path) if not o.startswith("data")]
    return keep + [f'data.root="{root.as_posix()}"', "data.image_size=16"]


def test_wgangp_pokemon_recipe_trains_on_a_folder(tmp_path):
    path = RECIPES / "wgangp_pokemon128.toml"
    raw = load_raw(path)
    assert raw["data"]["type"] == "image_folder" and raw["data"]["image_size"] == 128
    root = _png_folder(tmp_path / "pokemon")
    recipe = load_recipe(path, _tiny_on_folder(path, tmp_path, root))
    assert recipe.data.type == "image_folder" and recipe.data.hflip
    assert recipe.regularizers[0].type == "gradient_penalty" and recipe.regularizers[0].weight == 10.0
    result = run_recipe(recipe, max_steps=2, progress=False)
    lines = _lines(result)
    assert [x["step"] for x in lines] == [1, 2]
    assert any("gradient_penalty" in k for k in lines[-1])
    assert all(math.isfinite(v) for k, v in lines[-1].items() if "/" in k)
    assert (result.run_dir / "checkpoints" / "last.safetensors").is_file()


def test_wgangp_pokemon_recipe_without_its_data_says_so(tmp_path):
    path = RECIPES / "wgangp_pokemon128.toml"
    missing = tmp_path / "no_pokemon_here"
    recipe = load_recipe(path, _tiny_on_folder(path, tmp_path, missing))
    with pytest.raises(GancomposeError, match="does not exist") as e:
        run_recipe(recipe, max_steps=1, progress=False)
    assert "data.root" in str(e.value) + str(getattr(e.value, "hint", ""))


def test_sngan_resume_is_exact(tmp_path):
    # the spectral norm's power-iteration vectors (buffers u, v) and the LR decay must come back exactly
    from gancompose.checkpoint import Checkpoint
    path = RECIPES / "sngan_shapes.toml"

    def recipe(out):
        return load_recipe(path, tiny_overrides(load_raw(path), out) + [
            "networks.generator.ch=8", "networks.discriminator.ch=8", "train.steps=6", "schedule.n_critic=2"])

    full = run_recipe(recipe(tmp_path / "a"), progress=False)
    first = run_recipe(recipe(tmp_path / "b"), max_steps=3, progress=False)
    second = run_recipe(recipe(tmp_path / "b"), resume=first.run_dir / "checkpoints" / "last.safetensors",
                        progress=False)
    a = Checkpoint(full.run_dir / "checkpoints" / "last.safetensors").tensors()
    b = Checkpoint(second.run_dir / "checkpoints" / "last.safetensors").tensors()
    assert a.keys() == b.keys()
    assert any(k.endswith("_u") for k in a)  # the power-iteration state is checkpointed
    for key in a:
        if not key.startswith("rng"):
            assert torch.equal(a[key], b[key]), key
