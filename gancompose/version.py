"""The installed gancompose's version (recorded in every checkpoint and network file, printed by --version)."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gancompose")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0+local"
