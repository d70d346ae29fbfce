"""The built-in datasets (plugin ``gancompose_data``): shapes, ranges, labels, determinism, errors,
and the md5-verified download against a local HTTP server serving tiny fake files."""
from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError
from torch.utils.data import DataLoader

from gancompose.errors import DataError
from gancompose.protocols import Dataset, implements
from gancompose_data import download as dl
from gancompose_data.digits import DigitsDataset, DigitsParams
from gancompose_data.image_folder import ImageFolderDataset, ImageFolderParams
from gancompose_data.mixtures import GaussianMixtureDataset, GaussianMixtureParams
from gancompose_data.shapes import SHAPE_CLASSES, ShapesDataset, ShapesParams
from gancompose_data.torchvision_sets import CIFAR10Dataset, CIFAR10Params, MNISTDataset, MNISTParams

OURS = {"gaussian_mixture", "shapes", "digits", "image_folder", "mnist", "cifar10"}


def check_items(ds, indices=(0, 1, 2)) -> dict[str, torch.Tensor]:
    """Items and get_batch agree, have the declared shape, labels are int64 scalars in range."""
    batch = ds.get_batch(list(indices)) if implements(ds, "get_batch", Dataset) else None
    for j, i in enumerate(indices):
        item = ds[i]
        assert item["image"].dtype == torch.float32
        assert tuple(item["image"].shape) == tuple(ds.sample_shape)
        if ds.num_classes is not None:
            assert item["label"].dtype == torch.int64 and item["label"].dim() == 0
            assert 0 <= int(item["label"]) < ds.num_classes
        if batch is not None:
            assert torch.equal(batch["image"][j], item["image"])
            if ds.num_classes is not None:
                assert torch.equal(batch["label"][j], item["label"])
    if batch is not None:
        assert batch["image"].shape == (len(indices), *ds.sample_shape)
    return batch


def all_images(ds) -> torch.Tensor:
    return ds.get_batch(list(range(len(ds))))["image"]


def all_labels(ds) -> torch.Tensor:
    return ds.get_batch(list(range(len(ds))))["label"]


# ------------------------------------------------------------------------------ registry
def test_plugin_registers_its_datasets():
    from gancompose.registry import build_registry

    reg = build_registry()
    assert OURS <= set(reg.names("dataset")), reg.failures
    for name in OURS:
        comp = reg.get("dataset", name)
        assert comp.plugin == "data" and comp.doc, name
        comp.params.model_json_schema()  # every param model exports a schema
        for field_name, field in comp.params.model_fields.items():
            assert field.description, f"{name}.{field_name} has no description"


# ---------------------------------------------------------------------- gaussian mixture
@pytest.mark.parametrize("layout,n_modes,std", [("ring", 8, 0.01), ("grid", 25, 0.05)])
def test_gaussian_mixture_samples_lie_on_their_modes(layout, n_modes, std):
    ds = GaussianMixtureDataset(GaussianMixtureParams(layout=layout))
    assert len(ds) == 10_000 and ds.sample_shape == (2,) and ds.num_classes == n_modes
    assert ds.centers.shape == (n_modes, 2) and ds.std == std
    check_items(ds)
    x, y = all_images(ds), all_labels(ds)
    dist = torch.cdist(x, ds.centers)
    nearest = dist.argmin(1)
    near = dist.min(1).values < 4 * std
    assert near.float().mean() > 0.99
    assert (nearest == y).float().mean() > 0.99  # the label is the mode it was drawn from
    counts = torch.bincount(y, minlength=n_modes)
    assert (counts > 0.5 * len(ds) / n_modes).all()  # every mode used, roughly uniformly


def test_gaussian_mixture_centres_and_raw_scale():
    ring = GaussianMixtureDataset(GaussianMixtureParams(layout="ring", n_modes=6, radius=2.0, size=600))
    assert ring.num_classes == 6
    assert torch.allclose(ring.centers.norm(dim=1), torch.full((6,), 2.0))
    assert torch.allclose(ring.centers[0], torch.tensor([2.0, 0.0]))
    grid = GaussianMixtureDataset(GaussianMixtureParams(layout="grid", size=2000))
    assert set(grid.centers[:, 0].tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    assert set(map(tuple, grid.centers.tolist())) == {(float(a), float(b)) for a in range(-4, 5, 2)
                                                       for b in range(-4, 5, 2)}
    assert all_images(grid).abs().max() > 3.5  # raw coordinates: not squeezed into [-1, 1]
    custom = GaussianMixtureDataset(GaussianMixtureParams(layout="grid", std=0.2, size=10))
    assert custom.std == 0.2
    with pytest.raises(ValidationError, match="ring"):
        GaussianMixtureParams(layout="grid", n_modes=8)
    with pytest.raises(ValidationError):
        GaussianMixtureParams(layout="spiral")
    with pytest.raises(ValidationError):
        GaussianMixtureParams(unknown=1)


def test_gaussian_mixture_is_deterministic():
    a = GaussianMixtureDataset(GaussianMixtureParams(size=500, seed=3))
    b = GaussianMixtureDataset(GaussianMixtureParams(size=500, seed=3))
    c = GaussianMixtureDataset(GaussianMixtureParams(size=500, seed=4))
    assert torch.equal(a.data, b.data) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.data, c.data)


# ------------------------------------------------------------------------------- shapes
def test_shapes_defaults():
    t = time.perf_counter()
    ds = ShapesDataset(ShapesParams())
    elapsed = time.perf_counter() - t
    assert elapsed < 10, f"building the default shapes took {elapsed:.1f} s"
    assert len(ds) == 4096 and ds.sample_shape == (3, 64, 64) and ds.num_classes == len(SHAPE_CLASSES) >= 4
    check_items(ds, (0, 17, 4095))
    assert ds.images.dtype == torch.uint8
    x, y = all_images(ds), all_labels(ds)
    assert x.min() >= -1 and x.max() <= 1
    counts = torch.bincount(y, minlength=ds.num_classes)
    assert (counts >= 4096 // ds.num_classes).all()  # balanced, every class present
    # every image shows something: a shape of a colour other than the background
    spread = x.flatten(1).max(1).values - x.flatten(1).min(1).values
    assert (spread > 0.5).all()


@pytest.mark.parametrize("image_size,channels,background", [(16, 1, "random"), (32, 3, "black"), (48, 1, "dark")])
def test_shapes_options(image_size, channels, background):
    ds = ShapesDataset(ShapesParams(image_size=image_size, channels=channels, background=background, size=60))
    assert ds.sample_shape == (channels, image_size, image_size)
    x = all_images(ds)
    assert x.shape == (60, channels, image_size, image_size) and x.min() >= -1 and x.max() <= 1
    assert set(all_labels(ds).tolist()) == set(range(len(SHAPE_CLASSES)))
    if background == "black":
        corners = x[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]
        assert (corners == -1).float().mean() > 0.9  # shapes rarely touch the corners
    # the shape stands out from the background in luminance (readable in grayscale)
    spread = x.mean(1).flatten(1).max(1).values - x.mean(1).flatten(1).min(1).values
    assert (spread > 0.4).all()


def test_shapes_is_deterministic():
    p = dict(image_size=24, size=40)
    a, b = ShapesDataset(ShapesParams(**p, seed=1)), ShapesDataset(ShapesParams(**p, seed=1))
    c = ShapesDataset(ShapesParams(**p, seed=2))
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


def test_shapes_params_are_validated():
    for bad in (dict(image_size=8), dict(image_size=512), dict(channels=2), dict(size=0), dict(colour="red")):
        with pytest.raises(ValidationError):
            ShapesParams(**bad)


# ------------------------------------------------------------------------------- digits
def test_digits_default_build():
    t = time.perf_counter()
    ds = DigitsDataset(DigitsParams())
    elapsed = time.perf_counter() - t
    assert elapsed < 15, f"building the default digits took {elapsed:.1f} s"
    assert len(ds) == 10_000 and ds.sample_shape == (1, 28, 28) and ds.num_classes == 10
    check_items(ds, (0, 5, 9999))
    assert torch.equal(torch.bincount(all_labels(ds)), torch.full((10,), 1000))
    t = time.perf_counter()
    again = DigitsDataset(DigitsParams())  # cached within the process
    assert time.perf_counter() - t < 0.5 and torch.equal(again.images, ds.images)


def test_digits_are_framed_like_mnist():
    ds = DigitsDataset(DigitsParams(size=600, seed=5))
    x = ds.images[:, 0].to(torch.float64)  # uint8 ink, 0 = background
    assert x.max() == 255
    assert (x[:, 0, :] == 0).all() and (x[:, :, 0] == 0).all()  # black border: nothing touches the frame
    mass = x.sum((1, 2))
    centre = torch.arange(28, dtype=torch.float64) + 0.5  # pixel i covers [i, i+1)
    cy = (x.sum(2) @ centre) / mass
    cx = (x.sum(1) @ centre) / mass
    assert (cx - 14).abs().max() < 1 and (cy - 14).abs().max() < 1
    assert (cx - 14).abs().mean() < 0.2 and (cy - 14).abs().mean() < 0.2
    ink = x > 0
    idx = torch.arange(28)
    for axis in (1, 2):
        present = ink.any(axis)
        lo = torch.where(present, idx, 99).min(1).values
        hi = torch.where(present, idx, -1).max(1).values
        extent = hi - lo + 1
        assert extent.max() <= 20  # fits the 20x20 box
    rows = ink.any(2)
    heights = torch.where(rows, idx, -1).max(1).values - torch.where(rows, idx, 99).min(1).values + 1
    widths_cols = ink.any(1)
    widths = torch.where(widths_cols, idx, -1).max(1).values - torch.where(widths_cols, idx, 99).min(1).values + 1
    assert (torch.maximum(heights, widths) >= 18).all()  # the longer side fills the box


def test_digits_look_like_their_labels():
    """Nearest class mean on held-out digits is far above chance: the labels match the drawings."""
    train = DigitsDataset(DigitsParams(size=1000, seed=11))
    test = DigitsDataset(DigitsParams(size=300, seed=12))
    xtr, ytr = all_images(train).flatten(1), all_labels(train)
    means = torch.stack([xtr[ytr == k].mean(0) for k in range(10)])
    pred = torch.cdist(all_images(test).flatten(1), means).argmin(1)
    accuracy = (pred == all_labels(test)).float().mean().item()
    assert accuracy > 0.6, accuracy


def test_digits_are_deterministic():
    a = DigitsDataset(DigitsParams(size=50, seed=7)).images.clone()
    from gancompose_data import digits
    digits._cached.cache_clear()
    b = DigitsDataset(DigitsParams(size=50, seed=7)).images
    c = DigitsDataset(DigitsParams(size=50, seed=8)).images
    assert torch.equal(a, b) and not torch.equal(a, c)


# ------------------------------------------------------------------------- image folder
def _halves(w: int, h: int, left=(255, 0, 0), right=(0, 0, 255)) -> Image.Image:
    """Left half one colour, right half another: a crop or a flip is visible."""
    img = Image.new("RGB", (w, h), left)
    img.paste(right, (w // 2, 0, w, h))
    return img


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    (root / "cats").mkdir(parents=True)
    (root / "dogs" / "nested").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for i in range(3):
        _halves(40, 30).save(root / "cats" / f"c{i}.png")
    for i in range(2):
        _halves(30, 50).save(root / "dogs" / f"d{i}.JPG", quality=95)
    _halves(20, 20).save(root / "dogs" / "nested" / "n0.bmp")
    _halves(24, 24).save(root / "loose.webp", lossless=True)
    _halves(24, 24).save(root / ".hidden" / "skip.png")
    (root / "cats" / "notes.txt").write_text("not an image")
    return root


def test_image_folder_finds_images_recursively(folder: Path):
    ds = ImageFolderDataset(ImageFolderParams(root=str(folder), image_size=16))
    assert len(ds) == 7 and ds.num_classes is None and ds.sample_shape == (3, 16, 16)
    assert not implements(ds, "get_batch", Dataset)  # read lazily, through the DataLoader
    for i in range(len(ds)):
        item = ds[i]
        assert set(item) == {"image"} and item["image"].shape == (3, 16, 16)
        assert item["image"].min() >= -1 and item["image"].max() <= 1
    assert [p.relative_to(folder).as_posix() for p in ds.files] == [
        "cats/c0.png", "cats/c1.png", "cats/c2.png", "dogs/d0.JPG", "dogs/d1.JPG", "dogs/nested/n0.bmp",
        "loose.webp"]  # sorted; hidden folders and non-images skipped
    gray = ImageFolderDataset(ImageFolderParams(root=str(folder), image_size=12, channels=1))
    assert gray[0]["image"].shape == (1, 12, 12) and gray.sample_shape == (1, 12, 12)
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch["image"].shape == (4, 3, 16, 16)


def test_image_folder_labels_from_subfolders(folder: Path):
    ds = ImageFolderDataset(ImageFolderParams(root=str(folder), image_size=8, labels="subfolders"))
    assert ds.classes == ["cats", "dogs"] and ds.num_classes == 2
    assert len(ds) == 6  # loose.webp sits directly in root: no class, ignored
    for i, path in enumerate(ds.files):
        item = ds[i]
        assert item["label"].dtype == torch.int64
        assert ds.classes[int(item["label"])] == path.relative_to(folder).parts[0]
    batch = next(iter(DataLoader(ds, batch_size=6)))
    assert sorted(batch["label"].tolist()) == [0, 0, 0, 1, 1, 1]


def test_image_folder_resize_and_crop(tmp_path: Path):
    root = tmp_path / "one"
    root.mkdir()
    _halves(32, 16).save(root / "a.png")  # red | blue, 32 wide, 16 high
    red, blue = torch.tensor([1.0, -1.0, -1.0]), torch.tensor([-1.0, -1.0, 1.0])

    # no resize, centre crop 16: the middle 16 columns, 8 red then 8 blue
    img = ImageFolderDataset(ImageFolderParams(root=str(root), image_size=16, resize=False))[0]["image"]
    assert torch.allclose(img[:, :, :8].mean((1, 2)), red) and torch.allclose(img[:, :, 8:].mean((1, 2)), blue)
    # resize shorter side 16 -> 8 (image 16x8), centre crop 8: again half and half
    img = ImageFolderDataset(ImageFolderParams(root=str(root), image_size=8))[0]["image"]
    assert img.shape == (3, 8, 8)
    assert torch.allclose(img[:, :, :3].mean((1, 2)), red, atol=0.05)
    assert torch.allclose(img[:, :, 5:].mean((1, 2)), blue, atol=0.05)
    # crop none + resize: squashed to a square, whole image kept
    img = ImageFolderDataset(ImageFolderParams(root=str(root), image_size=10, crop="none"))[0]["image"]
    assert img.shape == (3, 10, 10)
    assert torch.allclose(img[:, :, 0], red[:, None].expand(3, 10), atol=0.05)
    # crop none without resize: the image must already have the size
    ds = ImageFolderDataset(ImageFolderParams(root=str(root), image_size=10, crop="none", resize=False))
    with pytest.raises(DataError, match="a.png") as info:
        ds[0]
    assert "resize" in info.value.hint
    # random crop without resize: a 16x16 window whose position varies
    ds = ImageFolderDataset(ImageFolderParams(root=str(root), image_size=16, resize=False, crop="random"))
    torch.manual_seed(0)
    red_share = {round(float((ds[0]["image"][0] > 0).float().mean()), 3) for _ in range(30)}
    assert len(red_share) > 3
    # a random crop bigger than the image pads it
    ds = ImageFolderDataset(ImageFolderParams(root=str(root), image_size=40, resize=False, crop="random"))
    assert ds[0]["image"].shape == (3, 40, 40)


def test_image_folder_flip_is_seeded(tmp_path: Path):
    root = tmp_path / "flip"
    root.mkdir()
    _halves(16, 16).save(root / "a.png")
    ds = ImageFolderDataset(ImageFolderParams(root=str(root), image_size=16, hflip=True))

    def flips() -> list[bool]:
        out = []
        for _ in range(40):
            img = ds[0]["image"]
            out.append(bool(img[2, 0, 0] > 0))  # blue at the left: flipped
        return out

    torch.manual_seed(123)
    first = flips()
    torch.manual_seed(123)
    assert flips() == first
    assert 5 < sum(first) < 35  # both orientations occur
    torch.manual_seed(124)
    assert flips() != first
    plain = ImageFolderDataset(ImageFolderParams(root=str(root), image_size=16))
    assert all(plain[0]["image"][0, 0, 0] > 0 for _ in range(10))  # no flip unless asked


def test_image_folder_errors(tmp_path: Path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as info:
        ImageFolderDataset(ImageFolderParams(root=str(missing)))
    assert str(missing) in str(info.value) and "does not exist" in info.value.message
    assert "png" in info.value.hint
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match="no images") as info:
        ImageFolderDataset(ImageFolderParams(root=str(empty)))
    assert str(empty) in info.value.message
    with pytest.raises(DataError, match="subfolders"):
        _halves(8, 8).save(empty / "flat.png")
        ImageFolderDataset(ImageFolderParams(root=str(empty), labels="subfolders"))
    with pytest.raises(DataError, match="not a folder"):
        ImageFolderDataset(ImageFolderParams(root=str(empty / "flat.png")))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"definitely not a png")
    ds = ImageFolderDataset(ImageFolderParams(root=str(bad)))
    with pytest.raises(DataError, match="broken.png"):
        ds[0]
    with pytest.raises(ValidationError):
        ImageFolderParams()  # root is required
    with pytest.raises(ValidationError):
        ImageFolderParams(root="x", crop="left")


# ------------------------------------------------------------------- mnist and cifar10
@pytest.mark.parametrize("name,factory,params", [("mnist", MNISTDataset, MNISTParams),
                                                 ("cifar10", CIFAR10Dataset, CIFAR10Params)])
def test_missing_files_say_how_to_download(tmp_path: Path, name, factory, params):
    root = tmp_path / "no data here"
    with pytest.raises(DataError) as info:
        factory(params(root=str(root)))
    err = info.value
    assert str(root) in err.message
    assert f"gancompose data download {name} --root" in err.hint
    assert f"'{root}'" in err.hint  # the root, quoted for the shell
    assert params().root == "data" and params().train is True
    assert callable(factory.download)


class _QuietHandler(SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).requests.append(self.path)
        super().do_GET()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a client hanging up early is fine
        pass


@pytest.fixture
def mirror(tmp_path: Path):
    """A local HTTP server; yields (base URL, folder it serves)."""
    served = tmp_path / "served"
    served.mkdir()
    _QuietHandler.requests = []
    server = _QuietServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _fake_mnist(folder: Path, counts={"train": 12, "t10k": 6}) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    out = {}
    for split, n in counts.items():
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        with gzip.open(folder / f"{split}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes())
        with gzip.open(folder / f"{split}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 0x801, n) + labels.tobytes())
        out[split] = (images, labels)
    return out


def _patch_mnist_md5(monkeypatch, served: Path) -> None:
    for name in dl.RESOURCES["mnist"]["files"]:
        monkeypatch.setitem(dl.RESOURCES["mnist"]["files"], name, _md5(served / name))


def test_mnist_download_from_mirror(tmp_path: Path, mirror, monkeypatch):
    url, served = mirror
    fake = _fake_mnist(served)
    _patch_mnist_md5(monkeypatch, served)
    root = tmp_path / "data"
    MNISTDataset.download(str(root), mirror=url)
    assert sorted(p.name for p in (root / "MNIST" / "raw").iterdir()) == sorted(
        [*dl.RESOURCES["mnist"]["files"], *(n[:-3] for n in dl.RESOURCES["mnist"]["files"])])
    assert len(_QuietHandler.requests) >= 4

    ds = MNISTDataset(MNISTParams(root=str(root)))
    images, labels = fake["train"]
    assert len(ds) == 12 and ds.sample_shape == (1, 28, 28) and ds.num_classes == 10
    check_items(ds, (0, 11))
    assert torch.equal(all_labels(ds), torch.from_numpy(labels).long())
    assert torch.allclose(all_images(ds)[:, 0], torch.from_numpy(images).float() / 127.5 - 1)
    test = MNISTDataset(MNISTParams(root=str(root), train=False, image_size=32))
    assert len(test) == 6 and test.sample_shape == (1, 32, 32)
    assert torch.equal(all_labels(test), torch.from_numpy(fake["t10k"][1]).long())
    x = all_images(test)
    assert x.min() >= -1 and x.max() <= 1

    # files already present with the right checksum are not fetched again
    before = len(_QuietHandler.requests)
    dl.download_dataset("mnist", root, mirror=url)
    assert len(_QuietHandler.requests) == before


def test_download_rejects_a_wrong_md5(tmp_path: Path, mirror, monkeypatch):
    url, served = mirror
    _fake_mnist(served)
    _patch_mnist_md5(monkeypatch, served)
    monkeypatch.setitem(dl.RESOURCES["mnist"]["files"], "train-labels-idx1-ubyte.gz", "0" * 32)
    root = tmp_path / "data"
    with pytest.raises(DataError, match="md5 mismatch") as info:
        dl.download_dataset("mnist", root, mirror=url)
    assert "train-labels-idx1-ubyte.gz" in info.value.message
    assert not (root / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz").exists()  # the bad file is removed
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        MNISTDataset(MNISTParams(root=str(root)))


def test_download_errors(tmp_path: Path, mirror):
    url, _ = mirror  # serves nothing: every file is a 404
    with pytest.raises(DataError, match="404"):
        dl.download_dataset("mnist", tmp_path / "d", mirror=url)
    with pytest.raises(DataError, match="mnist"):
        dl.download_dataset("minst", tmp_path / "d")


def _fake_cifar(served: Path, per_batch: int = 3) -> dict[str, tuple[np.ndarray, list[int]]]:
    rng = np.random.default_rng(1)
    batches = {}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def add(name: str, obj) -> None:
            data = pickle.dumps(obj)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
            data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
            labels = rng.integers(0, 10, per_batch).tolist()
            batches[name] = (data, labels)
            add(name, {"batch_label": name, "data": data, "labels": labels})
        add("batches.meta", {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                             "horse", "ship", "truck"], "num_vis": 3072})
    (served / "cifar-10-python.tar.gz").write_bytes(buf.getvalue())
    return batches


def test_cifar10_download_from_mirror(tmp_path: Path, mirror, monkeypatch):
    url, served = mirror
    batches = _fake_cifar(served)
    monkeypatch.setitem(dl.RESOURCES["cifar10"]["files"], "cifar-10-python.tar.gz",
                        _md5(served / "cifar-10-python.tar.gz"))
    # the members' checksums: what the archive really holds
    with tarfile.open(served / "cifar-10-python.tar.gz") as tar:
        for member in tar.getmembers():
            name = member.name.split("/")[-1]
            monkeypatch.setitem(dl.CIFAR10_MEMBERS, name, hashlib.md5(tar.extractfile(member).read()).hexdigest())
    root = tmp_path / "data"
    CIFAR10Dataset.download(str(root), mirror=url)
    assert (root / "cifar-10-python.tar.gz").is_file() and (root / "cifar-10-batches-py" / "test_batch").is_file()

    ds = CIFAR10Dataset(CIFAR10Params(root=str(root)))
    assert len(ds) == 15 and ds.sample_shape == (3, 32, 32) and ds.num_classes == 10
    assert ds.classes[0] == "airplane"
    check_items(ds, (0, 14))
    train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
    data = np.concatenate([d for d, _ in train]).reshape(-1, 3, 32, 32)
    assert torch.equal(all_labels(ds), torch.tensor([lab for _, labels in train for lab in labels]))
    assert torch.allclose(all_images(ds), torch.from_numpy(data).float() / 127.5 - 1)
    test = CIFAR10Dataset(CIFAR10Params(root=str(root), train=False, image_size=16))
    assert len(test) == 3 and test.sample_shape == (3, 16, 16)
    assert all_labels(test).tolist() == batches["test_batch"][1]

    # a member that does not match its checksum is reported, with the command that repairs it
    monkeypatch.setitem(dl.CIFAR10_MEMBERS, "data_batch_3", "0" * 32)
    with pytest.raises(DataError, match="corrupted") as info:
        CIFAR10Dataset(CIFAR10Params(root=str(root)))
    assert "gancompose data download cifar10 --root" in info.value.hint


def test_cifar10_download_rejects_a_wrong_md5(tmp_path: Path, mirror):
    url, served = mirror
    _fake_cifar(served)  # the real md5 table: the fake archive cannot match it
    with pytest.raises(DataError, match="md5 mismatch"):
        dl.download_dataset("cifar10", tmp_path / "data", mirror=url)
    assert not (tmp_path / "data" / "cifar-10-batches-py").exists()


def test_image_folder_augmentation_is_exact_on_resume_with_workers(tmp_path: Path):
    """Random crops and flips come from per-item seeds of the batch stream: the same stream state gives the
    same batch, with 0 or 2 DataLoader workers."""
    from gancompose.data import BatchStream
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(8):
        _halves(24, 20).rotate(90 * (i % 4)).save(root / f"{i}.png")
    ds = ImageFolderDataset(ImageFolderParams(root=str(root), image_size=16, resize=False, crop="random", hflip=True))
    assert ds.seeded_items
    cpu = torch.device("cpu")
    ref = BatchStream(ds, 4, seed=5, device=cpu)
    batches = [ref.next()["image"] for _ in range(5)]
    assert not torch.equal(batches[0], batches[2])  # epochs differ (new order and new crops)
    for workers in (0, 2):
        again = BatchStream(ds, 4, seed=5, device=cpu, num_workers=workers, epoch=1, position=4)
        assert torch.equal(again.next()["image"], batches[3])


def test_in_memory_batches_are_the_epoch_order_and_resume_exactly():
    """A dataset that gathers a batch at once (get_batch) gets slices of the epoch's index tensor: the same
    samples, in the same order, as the sampler's index lists, across an epoch's end and from a resumed position;
    on the run's device the batch is the dataset's own (no copy)."""
    from gancompose.data import BatchStream
    from gancompose_data.mixtures import GaussianMixtureDataset, GaussianMixtureParams
    ds = GaussianMixtureDataset(GaussianMixtureParams(layout="ring", size=10))
    cpu = torch.device("cpu")
    stream = BatchStream(ds, 4, seed=3, device=cpu)
    got = [stream.next() for _ in range(5)]  # 2 batches per epoch: 2.5 epochs
    order = [stream.sampler.items(e) for e in range(3)]
    expected = [order[e][b * 4:(b + 1) * 4] for e in range(3) for b in range(2)][:5]
    for batch, idx in zip(got, expected):
        assert torch.equal(batch["image"], ds.data[idx]) and torch.equal(batch["label"], ds.labels[idx])
    resumed = BatchStream(ds, 4, seed=3, device=cpu, epoch=1, position=4)
    assert torch.equal(resumed.next()["image"], got[3]["image"])
    assert stream.state() == (2, 4)


@pytest.mark.parametrize("recipe,size", [("dcgan_shapes", 40), ("cgan_digits", 30)])
def test_generated_images_are_rendered_when_first_read_not_when_a_recipe_is_inspected(recipe, size):
    """validate and explain build the dataset for its shape and classes: generated images (shapes, digits) are
    rendered when first read, so inspecting a recipe does not pay for them (cgan_digits' validate took 4 s)."""
    from gancompose.commands.check import build_for_inspection
    run = build_for_inspection(recipe, (f"data.size={size}",))
    ds = run.dataset
    assert "_rendered" not in vars(ds)  # nothing rendered to validate
    assert len(ds) == size and ds.num_classes in (6, 10)
    batch = ds.get_batch(torch.arange(4))
    assert "_rendered" in vars(ds)
    assert tuple(ds.images.shape) == (size, *ds.sample_shape) and ds.labels.shape == (size,)
    again = type(ds)(ds.params)
    assert torch.equal(again.images, ds.images) and torch.equal(batch["label"], ds.labels[:4])
    # a training run renders them when its batch stream opens (staged where batches are gathered), not in its
    # first step, whose time the progress line and metrics.jsonl report
    from gancompose.builder import build_run
    from gancompose.recipe import load_recipe
    run = build_run(load_recipe(recipe, [f"data.size={size}", "train.batch_size=4"]))
    assert "_rendered" in vars(run.dataset) and run.stream._on_device
