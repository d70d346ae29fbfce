"""The official pix2pix datasets: ``gancompose data download facades`` and ``data prepare facades``.

The archives are those the official repository's ``datasets/download_pix2pix_dataset.sh`` fetches
(``http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/NAME.tar.gz``); facades holds ``facades/train`` (400
pairs), ``val`` and ``test``, each image 512x256 with the photo on the left and its label map on the right. The
official script publishes no checksums, so an unpacked set is verified by its number of training pairs (the
paper's 400). Fetching, checking and unpacking are the data plugin's
(:class:`gancompose_data.archives.FolderArchives`); this module declares the sets.
"""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from gancompose_data.archives import FolderArchives, FromArchive
from gancompose_pix2pix.paired import PairedFolders, PairedFoldersParams

BASE_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/"
#: name -> pairs per folder that the unpacked set must hold (the training split the recipes use)
ARCHIVES: dict[str, dict[str, int]] = {
    "facades": {"train": 400},
}
SETS = FolderArchives(BASE_URL, ".tar.gz", ARCHIVES, marker="train", family="a pix2pix dataset archive")


class FacadesParams(PairedFoldersParams):
    """Parameters of the ``facades`` dataset (pix2pix's CMP Facades pairs: 400 for training; each image is the
    photo on the left and its label map on the right, so the default direction is BtoA, labels -> photo)."""
    published_sizes: ClassVar[dict[str, int]] = {"train": 400}
    root: str = Field("data/facades", description="the unpacked set (gancompose data download facades --root data "
                                                  "puts it in data/facades)")
    direction: Literal["AtoB", "BtoA"] = Field("BtoA", description="BtoA: label map -> photo, as the official "
                                                                   "facades training (--direction BtoA)")

    def missing(self) -> str | None:
        return None if super().missing() is None else SETS.fetch_hint("facades", self.root)


class Facades(FromArchive, PairedFolders):
    """pix2pix's facades: CMP Facades label maps (B) and photos (A), paired; trained BtoA."""
    name = "facades"
    archives = SETS
