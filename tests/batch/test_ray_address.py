"""An explicit --ray HOST:PORT that nothing listens on fails at once with one line (no Ray is started)."""
from __future__ import annotations

import socket

import pytest


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_address_is_refused_before_ray_starts():
    from chunkygan.batch.ray_runner import RayUnreachable, check_reachable

    port = _closed_port()
    with pytest.raises(RayUnreachable, match=f"127.0.0.1:{port}"):
        check_reachable(f"127.0.0.1:{port}", timeout=2)
    with pytest.raises(RayUnreachable):
        check_reachable(f"ray://127.0.0.1:{port}", timeout=2)
    check_reachable("auto")  # other forms are Ray's business


def test_cli_refuses_an_unreachable_cluster_in_one_line(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from chunkygan.cli import main

    for i in range(2):
        Image.new("RGB", (16, 16), (40 * i, 80, 120)).save(tmp_path / f"p{i}.png")
    port = _closed_port()
    r = CliRunner().invoke(main, ["project", str(tmp_path / "p0.png"), str(tmp_path / "p1.png"), "-o",
                                  str(tmp_path / "out"), "--steps", "2", "--ray", f"127.0.0.1:{port}"])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    lines = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0]
