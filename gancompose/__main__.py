"""``python -m gancompose``: the CLI, also as torchrun runs it (``torchrun --nproc-per-node N -m gancompose run R``)."""
from gancompose.cli import main

if __name__ == "__main__":
    main()
