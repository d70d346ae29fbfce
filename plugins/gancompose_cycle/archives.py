"""The official CycleGAN datasets: ``gancompose data download monet2photo`` and ``data prepare``.

The archives are those the official repository's ``datasets/download_cyclegan_dataset.sh`` fetches
(``http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/NAME.zip``); each holds ``NAME/trainA``,
``trainB``, ``testA`` and ``testB``. The official script publishes no checksums, so an unpacked set is
verified by its image counts per folder. Fetching, checking and unpacking are the data plugin's
(:class:`gancompose_data.archives.FolderArchives`); this module declares the sets.
"""
from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from gancompose_cycle.unpaired import UnpairedFolders, UnpairedFoldersParams
from gancompose_data.archives import FolderArchives, FromArchive

BASE_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/"
#: name -> images per folder of the official archive
ARCHIVES: dict[str, dict[str, int]] = {
    "monet2photo": {"trainA": 1072, "trainB": 6287, "testA": 121, "testB": 751},
}
SETS = FolderArchives(BASE_URL, ".zip", ARCHIVES, marker="trainA", family="a CycleGAN dataset archive")


class Monet2PhotoParams(UnpairedFoldersParams):
    """Parameters of the ``monet2photo`` dataset (the official CycleGAN set: 1072 Monet paintings and 6287
    photos for training, 121 and 751 for testing)."""
    published_sizes: ClassVar[dict[str, tuple[int, int]]] = {"train": (1072, 6287), "test": (121, 751)}

    def missing(self) -> str | None:
        return None if super().missing() is None else SETS.fetch_hint("monet2photo", self.root)
    root: str = Field("data/monet2photo", description="the unpacked set (gancompose data download monet2photo "
                                                      "--root data puts it in data/monet2photo)")


class Monet2Photo(FromArchive, UnpairedFolders):
    """CycleGAN's monet2photo: A = Monet paintings, B = landscape photos (Flickr), unpaired."""
    name = "monet2photo"
    archives = SETS
