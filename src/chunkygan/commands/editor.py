"""``chunkygan editor``: start the layered photo editor in the browser (a local web server; see chunkygan.app)."""
from __future__ import annotations

import time
from pathlib import Path

import click

from ._common import FiniteFloat, device_option, get_device


@click.command("editor")
@click.argument("photo", required=False, type=click.Path(dir_okay=False))
@click.option("--generator", default=None, help="Generator name or checkpoint (default: the bundled default).")
@click.option("--session", "session_dir", type=click.Path(file_okay=False), default=None,
              help="Session folder: reopened if it holds a session, saved into after every step "
                   "(default: a new chunkygan-session-<time> folder here).")
@click.option("--space", default="w+", show_default=True, help="Latent space of new layers (w+, w or s).")
@click.option("--bank", type=click.Path(dir_okay=False), default=None,
              help="Direction bank file for the sliders (default: the generator's own bank).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (the token and Host check still apply elsewhere).")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="Port; 0 picks a free one.")
@click.option("--allow-host", "allow_hosts", multiple=True,
              help="Another name the browser may use for this machine in the Host header (repeatable; e.g. the "
                   "server's name when it runs on a remote GPU machine behind an SSH tunnel).")
@click.option("--max-upload-mb", type=FiniteFloat(0, 4096, min_open=True), default=32, show_default=True, help="Largest photo upload accepted.")
@click.option("--no-align", is_flag=True, help="Do not try FFHQ face alignment on open (always centre-crop).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default web browser.")
@device_option
def command(photo, generator, session_dir, space, bank, host, port, allow_hosts, max_upload_mb, no_align,
            open_browser, device) -> None:
    """Edit PHOTO (optional; or open one in the page) layer by layer in the browser.

    Prints a URL with a random access token; the page works offline. Stop with Ctrl-C: the session
    is already saved (reopen it with --session DIR).
    """
    try:
        from ..app.editor import Editor, EditorError
        from ..app.server import Server
    except ImportError as e:
        raise click.ClickException(str(e)) from None
    from ..edit.directions import DirectionError, load_bank_for
    from ..generators import default_generator_name, load_generator

    dev = get_device(device)
    G = load_generator(generator or default_generator_name(), device=dev)
    try:
        directions = load_bank_for(G, bank)
        directions.check(G)
    except DirectionError as e:
        if bank is not None:
            raise click.ClickException(str(e)) from None
        from ..edit.discover import make_default_bank

        click.echo(f"no direction bank for {G.name}; discovering SeFa and PCA directions (a few seconds)")
        directions = make_default_bank(G)
    folder = Path(session_dir) if session_dir else Path(f"chunkygan-session-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        editor = Editor(G, directions, session_dir=folder, space=space, max_upload_bytes=int(max_upload_mb * 2**20),
                        align=not no_align)
        if photo:
            if editor.session is not None:
                raise click.ClickException(f"{folder} already holds a session; give either PHOTO or --session")
            click.echo(editor.open_path(photo)["note"])
        server = Server(editor, host=host, port=port, allow_hosts=allow_hosts)
    except (EditorError, OSError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"session folder (saved after every step): {folder}")
    click.echo(f"ChunkyGAN editor running; open this URL in a browser (Ctrl-C stops it):\n    {server.url}")
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    server.run()
