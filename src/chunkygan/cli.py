"""``chunkygan ...``: thin wrappers around the library that only do I/O.

Each sub-command lives in ``chunkygan.commands.<name>`` and is imported only when used, so
``chunkygan --help`` stays fast and optional extras are needed only by the commands that use them.
"""
from __future__ import annotations

import importlib
import logging

import click

#: sub-command name -> module under chunkygan.commands defining a click command called ``command``
COMMANDS = {
    "env": "env",
    "models": "models",
    "sample": "sample",
    "demo": "demo",
    "project": "project",
    "distill": "distill",
    "convert": "convert",
    "align": "align",
    "paste": "paste",
    "masks": "masks",
    "label": "label",
    "lpips": "lpips",
    "identity": "identity",
    "edit": "edit",
    "directions": "directions",
    "segments": "segments",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        mod = COMMANDS.get(name)
        if mod is None:
            return None
        return importlib.import_module(f"chunkygan.commands.{mod}").command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="chunkygan")
def main(verbose: int) -> None:
    """Invert photos into a StyleGAN-class generator by segments (ChunkyGAN) and edit them."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("chunkygan").setLevel(min(level, logging.INFO))


if __name__ == "__main__":  # pragma: no cover
    main()
