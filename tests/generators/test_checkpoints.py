"""Checkpoint import: NVIDIA pickles (safely), rosinality .pt (parity with rosinality's own model), native files."""
from __future__ import annotations

import argparse
import builtins
import collections
import io
import json
import os
import pickle
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from chunkygan.fileio import sha256_file
from chunkygan.generators import load_generator
from chunkygan.generators.checkpoints import (CheckpointError, UnsafeCheckpointError, convert_checkpoint,
                                              load_checkpoint, read_checkpoint, read_nvidia_pickle, save_generator)
from chunkygan.generators.dcgan import DCGANGenerator
from chunkygan.generators.safe_pickle import InertEasyDict, PersistentObject
from chunkygan.generators.stylegan2 import StyleGAN2Generator

from nvidia_like import nvidia_network_pickle

DATA = Path(__file__).resolve().parents[1] / "data"
KW = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs={"num_layers": 2},
          synthesis_kwargs={"channel_base": 128, "channel_max": 16, "num_fp16_res": 0, "conv_clamp": 256})


def tiny_g(seed: int = 0, **over) -> StyleGAN2Generator:
    """A tiny StyleGAN2 with every tensor random (noise strengths and biases too), eval mode."""
    torch.manual_seed(seed)
    G = StyleGAN2Generator.from_config({**KW, **over}).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, t in G.state_dict().items():
            if "resample_filter" not in name:
                t.add_(0.3 * torch.randn(t.shape, generator=gen))
    return G


def render(G, seed: int = 3) -> torch.Tensor:
    with torch.no_grad():
        z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(seed))
        return G(z, truncation_psi=0.7, noise_mode="const")


def same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def write(path: Path, raw: bytes) -> Path:
    path.write_bytes(raw)
    return path


# --- NVIDIA network pickles -----------------------------------------------------------------------------

@pytest.mark.parametrize("protocol,numpy1", [(3, True), (3, False), (4, True), (5, False)])
def test_nvidia_pickle_loads_bit_identical(tmp_path, protocol, numpy1):
    G = tiny_g()
    marker = tmp_path / "module_src_ran"
    src = f"import os\nopen({str(marker)!r}, 'w').write('pwned')\nclass Generator: pass\n"
    raw = nvidia_network_pickle(G.state_dict(), KW, module_src=src, protocol=protocol, numpy1=numpy1)
    assert (b"numpy.core.multiarray" in raw) == numpy1 and (b"numpy._core.multiarray" in raw) != numpy1
    G2 = load_checkpoint(write(tmp_path / "net.pkl", raw))
    same_state(G, G2)
    assert torch.equal(render(G), render(G2))
    assert G2.init_kwargs == G.init_kwargs
    assert G2.meta["source_format"] == "nvidia-pkl" and G2.meta["source_sha256"] == sha256_file(tmp_path / "net.pkl")
    assert not marker.exists(), "the embedded module source must never run"


@pytest.mark.parametrize("flavour", ["ada", "sg3"])
def test_snapshot_written_by_nvidia_code(flavour):
    """Pickles written by NVIDIA's own training-loop code (tests/data/nvidia_make_fixture.py; embedded source
    blanked) load and reproduce the official G_ema's images; G, D and augment_pipe stay inert records."""
    path = DATA / f"nvidia_snapshot_{flavour}.pkl"
    ref = torch.load(DATA / f"nvidia_snapshot_{flavour}_outputs.pt", weights_only=True)
    G = load_checkpoint(path)
    assert G.init_kwargs["synthesis_kwargs"]["channel_max"] == 8 and G.init_kwargs["mapping_kwargs"]["num_layers"] == 2
    with torch.no_grad():
        img = G(ref["z"], truncation_psi=ref["truncation_psi"], noise_mode="const")
        assert (img - ref["img"]).abs().max() < 1e-4
        assert (G(ref["z"], noise_mode="const") - ref["img"]).abs().max() > 1e-2  # w_avg matters
    data = read_nvidia_pickle(path)
    assert data["training_set_kwargs"]["max_size"] == 70000
    for key, cls in [("G", "Generator"), ("D", "Discriminator"), ("augment_pipe", "AugmentPipe")]:
        assert type(data[key]) is PersistentObject and data[key].class_name == cls
        assert data[key].module_src.startswith("# NVIDIA module source removed")
    assert "b16" in data["D"].state["_modules"] and "p" in data["augment_pipe"].state["_buffers"]


def test_stylegan3_repo_flat_kwargs_are_nested(tmp_path):
    """stylegan3's networks_stylegan2.Generator takes synthesis options as flat keywords."""
    G = tiny_g()
    flat = {k: v for k, v in KW.items() if k != "synthesis_kwargs"}
    flat.update(KW["synthesis_kwargs"], fused_modconv_default="inference_only")
    G2 = load_checkpoint(write(tmp_path / "sg3.pkl", nvidia_network_pickle(G.state_dict(), flat)))
    assert G2.init_kwargs["synthesis_kwargs"]["channel_base"] == 128
    assert torch.equal(render(G), render(G2))


def test_conv_clamp_comes_from_the_pickled_layers_when_kwargs_omit_it(tmp_path):
    """stylegan3's networks_stylegan2 defaults conv_clamp to 256, stylegan2-ada-pytorch to None: read the stored value."""
    G = tiny_g()
    flat = {k: v for k, v in KW.items() if k != "synthesis_kwargs"}
    flat.update({k: v for k, v in KW["synthesis_kwargs"].items() if k != "conv_clamp"})
    for stored in (256, None):
        raw = nvidia_network_pickle(G.state_dict(), flat, conv_clamp=stored)
        G2 = load_checkpoint(write(tmp_path / f"clamp{stored}.pkl", raw))
        assert G2.init_kwargs["synthesis_kwargs"]["conv_clamp"] == stored


def test_other_networks_are_inert(tmp_path):
    G = tiny_g()
    data = read_nvidia_pickle(write(tmp_path / "net.pkl", nvidia_network_pickle(G.state_dict(), KW)))
    assert sorted(data) == ["D", "G", "G_ema", "augment_pipe", "training_set_kwargs"]
    for key, cls in [("G", "Generator"), ("D", "Discriminator"), ("augment_pipe", "AugmentPipe")]:
        obj = data[key]
        assert type(obj) is PersistentObject and obj.class_name == cls
        assert not isinstance(obj, torch.nn.Module) and not callable(obj)
    b8 = data["D"].state["_modules"]["b8"].state["_modules"]
    assert b8["conv0"].state["_parameters"]["weight"].shape == (4, 3, 3, 3)
    assert b8["skip"].state["_parameters"]["bias"] is None
    assert data["augment_pipe"].init_kwargs == {"xflip": 1, "rotate90": 1, "xint": 1, "scale": 1}
    assert type(data["training_set_kwargs"]) is InertEasyDict and data["training_set_kwargs"]["max_size"] == 70000
    fc0 = data["G_ema"].state["_modules"]["mapping"].state["_modules"]["fc0"]
    assert isinstance(fc0.state["weight_gain"], np.float64)
    assert fc0.state["weight_gain"] == pytest.approx(0.01 / np.sqrt(8))


class _Evil:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _evil_cases(marker: Path):
    return [
        ("io.open", _Evil(builtins.open, str(marker), "w")),
        ("builtins.exec", _Evil(builtins.exec, f"open({str(marker)!r}, 'w')")),
        ("system", _Evil(os.system, f"touch {marker}")),  # posix.system on Linux
        ("subprocess.call", _Evil(subprocess.call, ["touch", str(marker)])),
    ]


@pytest.mark.parametrize("case", range(4))
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, case):
    marker = tmp_path / "pwned"
    name, evil = _evil_cases(marker)[case]
    # alone, and hidden deep inside an otherwise valid network pickle
    plain = write(tmp_path / "evil.pkl", pickle.dumps(evil))
    G = tiny_g()
    nested = write(tmp_path / "evil_net.pkl", nvidia_network_pickle(G.state_dict(), KW, extra={"G": {"x": [evil]}}))
    for path in (plain, nested):
        with pytest.raises(UnsafeCheckpointError, match=name) as e:
            load_checkpoint(path)
        assert "not on chunkygan's allowlist" in str(e.value)
        with pytest.raises(UnsafeCheckpointError):
            load_generator(path)
    assert not marker.exists()


def test_malicious_tensor_storage_bytes_are_refused(tmp_path):
    """Storage bytes are read with torch.load(weights_only=True): a code-running payload there is refused."""
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Evil(os.system, f"touch {marker}"), protocol=2)
    evil_storage = _Evil(torch.storage._load_from_bytes, payload)
    path = write(tmp_path / "evil.pkl", pickle.dumps({"G_ema": evil_storage}))
    with pytest.raises(UnsafeCheckpointError, match="storage"):
        load_checkpoint(path)
    assert not marker.exists()


def test_not_a_network_pickle(tmp_path):
    with pytest.raises(CheckpointError, match="expected a dict with 'G_ema'.*'G', 'x'"):
        load_checkpoint(write(tmp_path / "a.pkl", pickle.dumps({"G": 1, "x": 2})))
    with pytest.raises(CheckpointError, match="not a readable network pickle"):
        load_checkpoint(write(tmp_path / "b.pkl", pickle.dumps({"G_ema": 1})[:-5]))
    with pytest.raises(CheckpointError, match="not a readable network pickle"):
        load_checkpoint(write(tmp_path / "c.pkl", b"GIF89a not a pickle"))
    with pytest.raises(CheckpointError, match="not a recognised generator checkpoint"):
        load_checkpoint(write(tmp_path / "c.bin", b"GIF89a not a pickle"))
    with pytest.raises(CheckpointError, match="expected a dict with 'G_ema'"):  # protocol 0: no header
        load_checkpoint(write(tmp_path / "d.pkl", pickle.dumps({"G": 1}, protocol=0)))


def test_stylegan3_generator_is_rejected_clearly(tmp_path):
    sd = {"synthesis.input.affine.weight": torch.zeros(4, 8), "mapping.fc0.weight": torch.zeros(8, 8)}
    path = write(tmp_path / "sg3.pkl", nvidia_network_pickle(sd, {**KW, "img_resolution": 16}))
    with pytest.raises(CheckpointError, match="StyleGAN3 \\(alias-free\\).*only StyleGAN2"):
        load_checkpoint(path)


def test_nvidia_resolution_mismatch(tmp_path):
    G = tiny_g()
    path = write(tmp_path / "bad.pkl", nvidia_network_pickle(G.state_dict(), {**KW, "img_resolution": 32}))
    with pytest.raises(CheckpointError, match="missing .*synthesis.b32.*holds a 16x16 generator but the config "
                                              "describes 32x32.*Nothing was loaded"):
        load_checkpoint(path)


# --- rosinality -------------------------------------------------------------------------------------------

def test_rosinality_parity_with_reference_outputs():
    """Images from rosinality's own model.py (tests/data/rosinality_make_fixture.py) are reproduced."""
    ref = torch.load(DATA / "rosinality_tiny64_outputs.pt", weights_only=True)
    G = load_checkpoint(DATA / "rosinality_tiny64.pt")
    assert G.resolution == 64 and G.init_kwargs["mapping_kwargs"]["num_layers"] == 3
    assert G.init_kwargs["synthesis_kwargs"]["channel_max"] == 16
    with torch.no_grad():
        for fused in (True, False):
            ws = G.mapping(ref["z"])
            assert (ws[:, 0] - ref["w"]).abs().max() < 1e-5
            assert (G.synthesis(ws, noise_mode="const", fused_modconv=fused) - ref["img_z"]).abs().max() < 1e-4
            assert (G.synthesis(ref["ws"], noise_mode="const", fused_modconv=fused) - ref["img_ws"]).abs().max() < 1e-4
            img = G(ref["z"][:1], truncation_psi=ref["truncation_psi"], fused_modconv=fused)
            assert (img - ref["img_trunc"]).abs().max() < 1e-4
        # the reference really depends on the noise and on w_avg (the comparison above can fail)
        assert (G.synthesis(ref["ws"], noise_mode="none") - ref["img_ws"]).abs().max() > 1e-2
        assert (G(ref["z"][:1]) - ref["img_trunc"]).abs().max() > 1e-2


def test_rosinality_train_checkpoint_without_latent_avg(tmp_path):
    """train.py checkpoints hold g, d, g_ema, optimiser states and argparse args, but no latent_avg."""
    ck = torch.load(DATA / "rosinality_tiny64.pt", weights_only=True)
    path = tmp_path / "010000.pt"
    torch.save({"g": ck["g_ema"], "d": {"convs.0.0.weight": torch.zeros(2, 3, 1, 1)}, "g_ema": ck["g_ema"],
                "g_optim": {"state": {}, "param_groups": []}, "args": argparse.Namespace(size=64, n_mlp=3, lr=0.002),
                "ada_aug_p": 0.1}, path)
    G = load_checkpoint(path)
    assert "estimated" in G.meta["w_avg"]
    # rosinality's mean_latent(2048) and our estimate (10000 samples) agree to sampling error
    assert (G.mapping.w_avg - ck["latent_avg"]).abs().max() < 0.05 * ck["latent_avg"].abs().max() + 0.05
    G_ref = load_checkpoint(DATA / "rosinality_tiny64.pt")
    ws = torch.randn(1, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(0))
    assert torch.equal(G.synthesis(ws), G_ref.synthesis(ws))


def test_rosinality_missing_and_bad_tensors(tmp_path):
    ck = torch.load(DATA / "rosinality_tiny64.pt", weights_only=True)
    sd = dict(ck["g_ema"])
    del sd["to_rgbs.1.bias"]
    torch.save({"g_ema": sd, "latent_avg": ck["latent_avg"]}, tmp_path / "a.pt")
    with pytest.raises(CheckpointError, match="missing 1 tensor\\(s\\): to_rgbs.1.bias"):
        load_checkpoint(tmp_path / "a.pt")
    sd = dict(ck["g_ema"], **{"convs.0.extra": torch.zeros(1)})
    torch.save({"g_ema": sd}, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match="unexpected 1 tensor\\(s\\): convs.0.extra"):
        load_checkpoint(tmp_path / "b.pt")
    sd = dict(ck["g_ema"])
    sd["convs.2.conv.weight"] = sd["convs.2.conv.weight"][:, :, :-1]  # one input channel short
    torch.save({"g_ema": sd}, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="wrong shape: synthesis.b16.conv0.weight"):
        load_checkpoint(tmp_path / "c.pt")


def test_torch_file_that_is_not_a_generator(tmp_path):
    torch.save({"conv1.weight": torch.zeros(8, 3, 7, 7), "fc.bias": torch.zeros(10)}, tmp_path / "resnet.pth")
    with pytest.raises(CheckpointError, match="not a StyleGAN2 generator"):
        load_checkpoint(tmp_path / "resnet.pth")
    torch.save({"model": [1, 2, 3]}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a generator checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_torch_file_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"g_ema": _Evil(os.system, f"touch {marker}")}, tmp_path / "evil.pt")
    with pytest.raises(UnsafeCheckpointError, match="weights_only=True"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()


def test_official_state_dict_in_a_pt_file(tmp_path):
    G = tiny_g()
    torch.save(G.state_dict(), tmp_path / "g_ema.pt")
    G2 = load_checkpoint(tmp_path / "g_ema.pt")
    assert G2.init_kwargs["synthesis_kwargs"]["channel_max"] == 16 and G2.num_ws == G.num_ws
    assert torch.equal(render(G), render(G2))


# --- native format and round trips ---------------------------------------------------------------------

def test_round_trip_through_all_three_formats(tmp_path):
    """rosinality .pt -> native -> NVIDIA pickle -> native: identical tensors and identical images."""
    G0 = load_checkpoint(DATA / "rosinality_tiny64.pt")
    conv = convert_checkpoint(DATA / "rosinality_tiny64.pt", tmp_path / "a")
    assert conv.safetensors == tmp_path / "a.safetensors" and conv.json.is_file()
    G1 = load_checkpoint(conv.safetensors)
    raw = nvidia_network_pickle(G1.state_dict(), G1.init_kwargs)
    G2 = load_checkpoint(write(tmp_path / "b.pkl", raw))
    conv2 = convert_checkpoint(tmp_path / "b.pkl", tmp_path / "c.json")
    G3 = load_generator(conv2.json)
    ref = render(G0)
    for G in (G1, G2, G3):
        same_state(G0, G)
        assert torch.equal(render(G), ref)
    assert G1.meta["source"] == "rosinality_tiny64.pt" and G3.meta["source"] == "b.pkl"


def test_native_file_layout(tmp_path):
    G = tiny_g()
    G.meta = {"licence": "test licence"}
    st, js = save_generator(G, tmp_path / "g.safetensors", {"note": "x"})
    cfg = json.loads(js.read_text())
    assert cfg["format"] == "chunkygan-generator" and cfg["version"] == 1 and cfg["architecture"] == "stylegan2"
    assert cfg["init_kwargs"] == G.init_kwargs and cfg["meta"]["licence"] == "test licence"
    assert cfg["meta"]["note"] == "x" and cfg["weights"] == {"file": "g.safetensors", "sha256": sha256_file(st)}
    assert set(load_file(str(st))) == set(G.state_dict())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json", "g.safetensors"]  # no temporary leftovers
    G2 = load_checkpoint(js)
    assert torch.equal(render(G), render(G2)) and G2.meta["licence"] == "test licence"


def test_dcgan_native_round_trip(tmp_path):
    torch.manual_seed(0)
    G = DCGANGenerator(z_dim=8, ngf=4, img_resolution=16).eval()
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2)
    st, js = save_generator(G, tmp_path / "dc")
    assert json.loads(js.read_text())["architecture"] == "dcgan"
    G2 = load_checkpoint(st)
    assert isinstance(G2, DCGANGenerator) and G2.resolution == 16
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(G(z), G2(z))


def _rewrite(st: Path, js: Path, tensors: dict | None = None, **cfg_changes) -> None:
    if tensors is not None:
        save_file(tensors, str(st))
    cfg = json.loads(js.read_text())
    cfg["weights"]["sha256"] = sha256_file(st)
    for k, v in cfg_changes.items():
        cfg[k] = v
    js.write_text(json.dumps(cfg))


def test_native_mismatches_give_clear_errors(tmp_path):
    G = tiny_g()
    st, js = save_generator(G, tmp_path / "g")
    sd = load_file(str(st))
    kwargs = json.loads(js.read_text())["init_kwargs"]

    _rewrite(st, js, {k: v for k, v in sd.items() if k != "mapping.fc1.bias"})
    with pytest.raises(CheckpointError, match="missing 1 tensor\\(s\\): mapping.fc1.bias"):
        load_checkpoint(st)
    _rewrite(st, js, {**sd, "synthesis.b16.extra": torch.zeros(2)})
    with pytest.raises(CheckpointError, match="unexpected 1 tensor\\(s\\): synthesis.b16.extra"):
        load_checkpoint(st)
    _rewrite(st, js, sd, init_kwargs={**kwargs, "img_resolution": 32})
    with pytest.raises(CheckpointError, match="holds a 16x16 generator but the config describes 32x32"):
        load_checkpoint(st)
    _rewrite(st, js, sd, init_kwargs={**kwargs, "w_dim": 16})
    with pytest.raises(CheckpointError, match="wrong shape: synthesis.b4.conv1.affine.weight: file \\[16, 8\\] vs model \\[16, 16\\]"):
        load_checkpoint(st)
    _rewrite(st, js, sd, init_kwargs={**kwargs, "mapping_kwargs": {"num_layerz": 2}})
    with pytest.raises(CheckpointError, match="cannot build a stylegan2 generator.*num_layerz"):
        load_checkpoint(st)
    _rewrite(st, js, sd, init_kwargs=kwargs, architecture="stylegan9")
    with pytest.raises(CheckpointError, match="unknown architecture 'stylegan9'.*known: stylegan2, dcgan"):
        load_checkpoint(st)
    _rewrite(st, js, sd, architecture="stylegan2", format="something-else")
    with pytest.raises(CheckpointError, match="not a chunkygan generator config"):
        load_checkpoint(js)
    _rewrite(st, js, sd, format="chunkygan-generator")
    assert torch.equal(render(load_checkpoint(st)), render(G))  # repaired: loads again
    save_file({**sd, "mapping.fc0.bias": sd["mapping.fc0.bias"] + 1}, str(st))  # weights swapped, json not
    with pytest.raises(CheckpointError, match="sha256 differs"):
        load_checkpoint(st)
    js.unlink()
    with pytest.raises(CheckpointError, match="needs g.json"):
        load_checkpoint(st)


def test_unsupported_generator_cannot_be_saved(tmp_path):
    with pytest.raises(CheckpointError, match="not a registered generator architecture"):
        save_generator(torch.nn.Linear(2, 2), tmp_path / "x")
    assert not list(tmp_path.iterdir())


def test_read_checkpoint_does_not_build(tmp_path):
    ck = read_checkpoint(DATA / "rosinality_tiny64.pt")
    assert ck.architecture == "stylegan2" and "synthesis.b64.torgb.weight" in ck.state_dict
    assert ck.state_dict["synthesis.b4.const"].shape == (16, 4, 4)
    assert ck.state_dict["synthesis.b4.conv1.noise_strength"].shape == ()
    # blur kernels (with rosinality's x4 up-sampling gain) became NVIDIA's normalised resample filters
    assert ck.state_dict["synthesis.b8.conv0.resample_filter"].sum().item() == pytest.approx(1.0)


# --- the restricted unpickler itself ---------------------------------------------------------------------

@pytest.mark.parametrize("module,name", [("builtins", "getattr"), ("builtins", "eval"), ("__builtin__", "exec"),
                                         ("copyreg", "_reconstructor"), ("torch", "load"), ("torch", "Tensor"),
                                         ("numpy", "load"), ("pickle", "loads"), ("torch_utils.persistence",
                                                                                  "_src_to_module")])
def test_unlisted_globals_are_refused(module, name):
    from chunkygan.generators.safe_pickle import RestrictedUnpickler, UnsafePickleError

    with pytest.raises(UnsafePickleError, match="not on chunkygan's allowlist"):
        RestrictedUnpickler(io.BytesIO(b"")).find_class(module, name)


def test_plain_data_round_trips_through_the_restricted_unpickler():
    from chunkygan.generators.safe_pickle import UnsafePickleError, safe_load

    data = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "i": np.int64(3), "h": np.float16(0.5),
            "s": {1, 2}, "f": frozenset("ab"), "size": torch.Size([2, 3]), "t": torch.arange(6.0)[1::2],
            "dtype": torch.float16}
    for protocol in (2, 3, 4, 5):
        out = safe_load(io.BytesIO(pickle.dumps(data, protocol=protocol)))
        assert out.keys() == data.keys()
        assert np.array_equal(out["a"], data["a"]) and out["i"] == 3 and out["h"] == np.float16(0.5)
        assert out["s"] == {1, 2} and out["f"] == frozenset("ab") and out["size"] == torch.Size([2, 3])
        assert torch.equal(out["t"], torch.tensor([1.0, 3.0, 5.0])) and out["dtype"] is torch.float16
    with pytest.raises(UnsafePickleError, match="object dtype"):
        safe_load(io.BytesIO(pickle.dumps(np.array([None, 1], dtype=object))))


def test_storages_saved_on_cuda_load_on_cpu():
    """A snapshot pickled from CUDA tensors names location 'cuda:0' in its storage bytes; read on CPU."""
    from chunkygan.generators.safe_pickle import safe_load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage is deprecated, but that is what tensors pickle through
        storage_bytes = torch.arange(4.0).storage().__reduce__()[1][0]
    assert storage_bytes.count(b"X\x03\x00\x00\x00cpu") == 1
    cuda_bytes = storage_bytes.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
    tensor = _Evil(torch._utils._rebuild_tensor_v2, _Evil(torch.storage._load_from_bytes, cuda_bytes), 0, (4,), (1,),
                   False, collections.OrderedDict())
    t = safe_load(io.BytesIO(pickle.dumps({"w": tensor})))["w"]
    assert t.device.type == "cpu" and torch.equal(t, torch.arange(4.0))
