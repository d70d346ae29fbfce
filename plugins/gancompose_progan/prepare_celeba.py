"""Cut the official ProGAN CelebA crops into a folder the ``image_folder`` dataset reads.

    python -m gancompose_progan.prepare_celeba PATH/TO/img_align_celeba data/celeba_128

Each aligned CelebA image (178x218; ``img_align_celeba.zip`` from the CelebA site,
mmlab.ie.cuhk.edu.hk/projects/CelebA.html) is cropped to 128x128 around (x 89, y 121), as the official
``dataset_tool.py create_celeba`` does, and written as PNG under the same name. Nothing is downloaded.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

CX, CY, HALF = 89, 121, 64


def crop(src: Path, dst: Path) -> int:
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise SystemExit(f"no .jpg/.png images in {src}: give the folder img_align_celeba.zip unpacks to")
    dst.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(files):
        with Image.open(path) as im:
            if im.size != (178, 218):
                raise SystemExit(f"{path} is {im.size[0]}x{im.size[1]}, not 178x218: use the aligned CelebA images")
            im.convert("RGB").crop((CX - HALF, CY - HALF, CX + HALF, CY + HALF)).save(dst / f"{path.stem}.png")
        if (i + 1) % 10000 == 0:
            print(f"{i + 1}/{len(files)}", file=sys.stderr)
    return len(files)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="the img_align_celeba folder (178x218 aligned images)")
    ap.add_argument("dst", type=Path, help="output folder of 128x128 PNGs (e.g. data/celeba_128)")
    args = ap.parse_args(argv)
    print(f"{crop(args.src, args.dst)} images written to {args.dst}")


if __name__ == "__main__":
    main()
