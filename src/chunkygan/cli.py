"""``chunkygan ...``: thin wrappers around the library that only do I/O.

Each sub-command lives in ``chunkygan.commands.<name>`` and is imported only when used, so
``chunkygan --help`` stays fast and optional extras are needed only by the commands that use them.
"""
from __future__ import annotations

import importlib
import logging
import sys
import traceback

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
    "eval": "eval",
    "editor": "editor",
}


class LazyGroup(click.Group):
    """Sub-commands imported on use, and the one error path of the CLI (see :mod:`chunkygan.errors`).

    Expected failures end with ``error: <one line>`` on stderr and exit code 1 (usage errors: 2);
    only real bugs, or any failure with ``-vv``, show a traceback.
    """

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        mod = COMMANDS.get(name)
        if mod is None:
            return None
        return importlib.import_module(f"chunkygan.commands.{mod}").command

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise
        except Exception as e:
            from .errors import is_expected, one_line

            if not is_expected(e):
                raise  # a bug: keep the traceback
            if (ctx.params.get("verbose") or 0) >= 2:
                traceback.print_exc()
            raise click.ClickException(one_line(e)) from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as e:
            where = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
            _fail(e.format_message() + where, e.exit_code)
        except click.ClickException as e:
            _fail(e.format_message(), e.exit_code)
        except click.Abort:
            _fail("aborted", 130)
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)  # (click returns Exit's code)


def _fail(message: str, code: int) -> None:
    """Print ``error: <message>`` as one line on stderr and exit with ``code``."""
    click.echo("error: " + " ".join(str(message).split()), err=True)
    sys.exit(code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug and tracebacks).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors (no warnings or notes in the log).")
@click.version_option(package_name="chunkygan")
def main(verbose: int, quiet: bool) -> None:
    """Invert photos into a StyleGAN-class generator by segments (ChunkyGAN) and edit them."""
    level = (logging.ERROR if quiet else logging.WARNING if verbose == 0 else logging.INFO if verbose == 1
             else logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    logging.getLogger("chunkygan").setLevel(level)


if __name__ == "__main__":  # pragma: no cover
    main()
