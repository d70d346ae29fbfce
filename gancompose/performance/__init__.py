"""Speed without changing what is trained: the recipe's ``[performance]`` section resolved for a device
(``settings``), compiled networks that fall back to eager (``compile``), and DistributedDataParallel under
torchrun (``distributed``). docs/performance.md."""
from gancompose.performance.settings import Performance, resolve_performance

__all__ = ["Performance", "resolve_performance"]
