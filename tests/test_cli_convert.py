"""``chunkygan convert``: NVIDIA .pkl / rosinality .pt -> native .safetensors + .json."""
from __future__ import annotations

import importlib.util
import json
import os
import pickle
from pathlib import Path

import torch
from click.testing import CliRunner

from chunkygan.cli import main
from chunkygan.generators.checkpoints import load_checkpoint

DATA = Path(__file__).resolve().parent / "data"


def _nvidia_like():
    spec = importlib.util.spec_from_file_location("nvidia_like", Path(__file__).parent / "generators" / "nvidia_like.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _image(G) -> torch.Tensor:
    ws = torch.randn(1, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        return G.synthesis(ws, noise_mode="const")


def test_convert_rosinality_pt(tmp_path):
    r = CliRunner().invoke(main, ["convert", str(DATA / "rosinality_tiny64.pt"), str(tmp_path / "out" / "ros"),
                                  "--licence", "CC0 (test weights)"])
    assert r.exit_code == 0, r.output
    st, js = tmp_path / "out" / "ros.safetensors", tmp_path / "out" / "ros.json"
    assert f"wrote {st}" in r.output and f"wrote {js}" in r.output and "64x64" in r.output
    cfg = json.loads(js.read_text())
    assert cfg["meta"]["licence"] == "CC0 (test weights)" and cfg["meta"]["source_format"] == "rosinality-pt"
    assert torch.equal(_image(load_checkpoint(st)), _image(load_checkpoint(DATA / "rosinality_tiny64.pt")))
    # existing outputs are kept unless --force
    r = CliRunner().invoke(main, ["convert", str(DATA / "rosinality_tiny64.pt"), str(st)])
    assert r.exit_code != 0 and "--force" in r.output
    r = CliRunner().invoke(main, ["convert", str(DATA / "rosinality_tiny64.pt"), str(js), "--force"])
    assert r.exit_code == 0, r.output


def test_convert_nvidia_pickle(tmp_path):
    G = load_checkpoint(DATA / "rosinality_tiny64.pt")
    pkl = tmp_path / "network-snapshot-000000.pkl"
    pkl.write_bytes(_nvidia_like().nvidia_network_pickle(G.state_dict(), G.init_kwargs, numpy1=True))
    r = CliRunner().invoke(main, ["convert", str(pkl), str(tmp_path / "snap.safetensors")])
    assert r.exit_code == 0, r.output
    assert "nvidia-pkl" in r.output and "NVIDIA Source Code License-NC" in r.output
    assert torch.equal(_image(load_checkpoint(tmp_path / "snap.json")), _image(G))


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def test_convert_refuses_malicious_pickle(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"G_ema": _Evil(marker)}))
    r = CliRunner().invoke(main, ["convert", str(evil), str(tmp_path / "out")])
    assert r.exit_code != 0
    assert "refused" in r.output and "system" in r.output
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.pkl"]  # nothing written


def test_convert_reports_non_generator(tmp_path):
    bad = tmp_path / "resnet.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, bad)
    r = CliRunner().invoke(main, ["convert", str(bad), str(tmp_path / "out")])
    assert r.exit_code != 0 and "not a StyleGAN2 generator" in r.output
