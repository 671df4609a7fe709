"""``python -m chunkygan ...``: the same CLI as the ``chunkygan`` script."""
from .cli import main

if __name__ == "__main__":  # pragma: no branch
    main(prog_name="chunkygan")
