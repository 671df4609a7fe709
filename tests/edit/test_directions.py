import json

import numpy as np
import pytest
import torch

from chunkygan.edit.directions import (Direction, DirectionBank, DirectionError, Edit, GeneratorMismatchError,
                                       apply_edits, direction_delta, import_ganspace, import_interfacegan,
                                       import_npy, import_stylespace, parse_layers, style_w_indices)
from chunkygan.latents import get_space

from edit_tiny_generators import make_tiny_sg2


def test_parse_layers():
    assert parse_layers("0-5") == (0, 6)
    assert parse_layers("7") == (7, 8)
    assert parse_layers((2, 4)) == (2, 4)
    assert parse_layers(None) is None
    for bad in ("5-2", "a-b", "1-2-3"):
        with pytest.raises(DirectionError):
            parse_layers(bad)


def test_direction_validation(sg2):
    with pytest.raises(DirectionError, match="either a vector"):
        Direction("x", "w", None, "g")
    with pytest.raises(DirectionError, match="unknown space"):
        Direction("x", "q", torch.zeros(3), "g")
    with pytest.raises(DirectionError, match="without spaces"):
        Direction("a b", "w", torch.zeros(3), "g")
    d = Direction("x", "w", torch.zeros(5), sg2.name)
    assert "needs 16" in d.fits(sg2)


def test_w_direction_on_all_code_spaces(sg2):
    g = torch.Generator().manual_seed(0)
    v = torch.randn(sg2.w_dim, generator=g)
    d = Direction("d", "w", v, sg2.name, scale=2.0)
    # W codes
    torch.testing.assert_close(direction_delta(sg2, d, 1.5, "w"), 3.0 * v)
    # W+ codes, layer range 1-2 only
    dw = direction_delta(sg2, d, 1.0, "w+", layers="1-2")
    assert dw.shape == (sg2.num_ws, sg2.w_dim)
    assert torch.all(dw[0] == 0) and torch.all(dw[3:] == 0)
    torch.testing.assert_close(dw[1], 2.0 * v)
    # S codes: moving S by the mapped delta equals moving W+ first (the affines are affine maps)
    ws = get_space("w+").mean(sg2, 1) + 0.1 * torch.randn(1, sg2.num_ws, sg2.w_dim, generator=g)
    s = get_space("s").from_ws(sg2, ws)
    ds = direction_delta(sg2, d, 1.0, "s", layers="1-2")
    s_expected = get_space("s").from_ws(sg2, ws + dw.unsqueeze(0))
    torch.testing.assert_close(s + ds, s_expected, atol=1e-5, rtol=1e-5)
    # a layer range cannot be put into a W code
    with pytest.raises(DirectionError, match="Project in w\\+"):
        direction_delta(sg2, d, 1.0, "w", layers="0-1")
    # Z direction on W codes is refused, and a W direction on Z codes
    dz = Direction("dz", "z", torch.randn(sg2.z_dim, generator=g), sg2.name)
    with pytest.raises(DirectionError, match="not linear"):
        direction_delta(sg2, dz, 1.0, "w+")
    with pytest.raises(DirectionError, match="not linear"):
        direction_delta(sg2, d, 1.0, "z")


def test_s_channel_direction(sg2):
    dims = sg2.style_dims()
    d = Direction("ch", "s", None, sg2.name, channel=(2, 3), scale=0.5)
    delta = direction_delta(sg2, d, 4.0, "s")
    assert delta.shape == (sum(dims),)
    idx = dims[0] + dims[1] + 3
    assert delta[idx] == 2.0 and delta.abs().sum() == 2.0
    with pytest.raises(DirectionError, match="S-space"):
        direction_delta(sg2, d, 1.0, "w+")
    bad = Direction("ch", "s", None, sg2.name, channel=(len(dims), 0))
    with pytest.raises(DirectionError, match="style layers"):
        direction_delta(sg2, bad, 1.0, "s")


def test_apply_edits_global_local_and_zero(sg2):
    g = torch.Generator().manual_seed(1)
    codes = torch.randn(3, sg2.num_ws, sg2.w_dim, generator=g)
    d = Direction("d", "w", torch.randn(sg2.w_dim, generator=g), sg2.name)
    assert torch.equal(apply_edits(sg2, codes, "w+", [(d, 0.0)]), codes)
    out = apply_edits(sg2, codes, "w+", [(d, 1.0)], segments=[1])
    assert torch.equal(out[0], codes[0]) and torch.equal(out[2], codes[2])
    torch.testing.assert_close(out[1], codes[1] + d.vector)
    both = apply_edits(sg2, codes, "w+", [Edit(d, 1.0), Edit(d, -0.5, (0, 2))])
    exp = codes + d.vector
    exp[:, :2] -= 0.5 * d.vector
    torch.testing.assert_close(both, exp)
    with pytest.raises(DirectionError, match="segments 0-2"):
        apply_edits(sg2, codes, "w+", [(d, 1.0)], segments=[3])


def test_style_w_indices_probe_matches_official_layout(sg2):
    official = sg2.synthesis.layer_w_indices()

    class Wrapper:  # same generator without layer_w_indices: the probe must find the same mapping
        def __init__(self, G):
            self.G = G
            self.num_ws, self.w_dim = G.num_ws, G.w_dim

        def styles(self, ws):
            return self.G.styles(ws)

        def parameters(self):
            return self.G.parameters()

    assert style_w_indices(Wrapper(sg2)) == official


def test_bank_round_trip_and_refusal(tmp_path, sg2):
    g = torch.Generator().manual_seed(2)
    bank = DirectionBank.for_generator(sg2, description="test")
    bank.add(Direction("smile", "w", torch.randn(16, generator=g), sg2.name, layers=(2, 4), scale=1.5,
                       default_strength=2.0, strength_range=(-4, 4), source="linear"))
    bank.add(Direction("wp", "w+", torch.randn(sg2.num_ws, 16, generator=g), sg2.name))
    bank.add(Direction("chan", "s", None, sg2.name, channel=(1, 2)))
    p = bank.save(tmp_path / "bank.safetensors")
    back = DirectionBank.load(p)
    assert back.names() == ["smile", "wp", "chan"]
    assert back.generator == sg2.name and back.signature == bank.signature
    for a in bank:
        b = back[a.name]
        assert b.metadata() == a.metadata()
        if a.vector is not None:
            assert torch.equal(a.vector, b.vector)
    back.check(sg2)
    other = make_tiny_sg2(seed=3, name="other-gen")
    with pytest.raises(GeneratorMismatchError) as e:
        back.check(other)
    assert "tiny-sg2" in str(e.value) and "other-gen" in str(e.value)
    with pytest.raises(DirectionError, match="known: smile, wp, chan"):
        back.get("nope")
    with pytest.raises(DirectionError, match="already has"):
        back.add(Direction("smile", "w", torch.zeros(16), sg2.name))
    with pytest.raises(GeneratorMismatchError):
        back.add(Direction("x", "w", torch.zeros(16), "other-gen"))


def test_bank_same_name_other_shape_refused(tmp_path, sg2):
    bank = DirectionBank("tiny-sg2", [Direction("d", "w", torch.zeros(16), "tiny-sg2")],
                         signature={"z_dim": 16, "w_dim": 32, "num_ws": 6})
    with pytest.raises(GeneratorMismatchError, match="w_dim=32"):
        bank.check(sg2)


def test_load_rejects_other_files(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "x.safetensors"), metadata={"format": "other"})
    with pytest.raises(DirectionError, match="import other formats"):
        DirectionBank.load(tmp_path / "x.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(DirectionError, match="not a readable"):
        DirectionBank.load(tmp_path / "junk.safetensors")


def test_import_interfacegan_shapes(tmp_path):
    g = torch.Generator().manual_seed(3)
    t1 = torch.randn(1, 512, generator=g)
    t18 = torch.randn(1, 18, 512, generator=g)
    torch.save(t1, tmp_path / "age.pt")
    torch.save(t18, tmp_path / "pose.pt")
    d1 = import_interfacegan(tmp_path / "age.pt", "age", "ffhq")
    d18 = import_interfacegan(tmp_path / "pose.pt", "pose", "ffhq", layers="0-5")
    assert d1.space == "w" and torch.equal(d1.vector, t1[0])
    assert d18.space == "w+" and torch.equal(d18.vector, t18[0]) and d18.layers == (0, 6)
    np.save(tmp_path / "smile.npy", t1.numpy())
    dn = import_interfacegan(tmp_path / "smile.npy", "smile", "ffhq")
    assert torch.equal(dn.vector, t1[0])
    # a pickle with code in it is refused by weights_only loading
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DirectionError, match="only tensors"):
        import_interfacegan(tmp_path / "evil.pt", "evil", "ffhq")
    torch.save(torch.zeros(2, 3, 4, 5), tmp_path / "bad.pt")
    with pytest.raises(DirectionError, match="must be"):
        import_interfacegan(tmp_path / "bad.pt", "bad", "ffhq")


def test_import_npy_with_layers(tmp_path):
    v = np.arange(16, dtype=np.float32)
    np.save(tmp_path / "d.npy", v)
    d = import_npy(tmp_path / "d.npy", "d", "g", layers="4-7")
    assert d.layers == (4, 8) and d.space == "w"
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DirectionError, match="plain .npy"):
        import_npy(tmp_path / "obj.npy", "o", "g")


def test_import_ganspace_dict_and_presets(tmp_path, sg2):
    g = torch.Generator().manual_seed(4)
    comp = torch.nn.functional.normalize(torch.randn(80, 1, 16, generator=g), dim=-1)
    std = torch.rand(80, generator=g) + 0.5
    torch.save({"mean": torch.randn(1, 16, generator=g), "comp": comp, "std": std}, tmp_path / "pca.pt")
    dirs = import_ganspace(tmp_path / "pca.pt", sg2.name, presets=[("smile", 46, 4, 5, -20.0)])
    d = dirs[0]
    assert d.layers == (4, 5) and d.default_strength == -20.0
    assert torch.equal(d.vector, comp[46, 0]) and d.scale == pytest.approx(float(std[46]))
    # applied like e4e's (component, start, end): only W+ layer 4 moves, by strength·std·comp
    delta = direction_delta(sg2, d.with_layers((1, 2)), -2.0, "w+")
    assert torch.all(delta[0] == 0) and torch.all(delta[2:] == 0)
    torch.testing.assert_close(delta[1], -2.0 * float(std[46]) * comp[46, 0])
    plain = import_ganspace(tmp_path / "pca.pt", sg2.name, components=3)
    assert [x.name for x in plain] == ["ganspace_0", "ganspace_1", "ganspace_2"]
    np.savez(tmp_path / "gs.npz", lat_comp=comp.numpy(), lat_mean=np.zeros((1, 16), np.float32),
             lat_stdev=std.numpy())
    npz = import_ganspace(tmp_path / "gs.npz", sg2.name, components=2)
    assert torch.equal(npz[1].vector, comp[1, 0])
    torch.save({"comp": comp}, tmp_path / "bad.pt")
    with pytest.raises(DirectionError, match="'std'"):
        import_ganspace(tmp_path / "bad.pt", sg2.name)


def test_import_stylespace_presets(tmp_path, sg2):
    (tmp_path / "p.txt").write_text("# name layer channel strength\nsmile 2 3 5\nhair,1_4\neye_open 0_1 -2\n")
    (tmp_path / "p.json").write_text(json.dumps([{"name": "smile", "layer": 2, "channel": 3, "strength": 5}]))
    a = import_stylespace(tmp_path / "p.txt", sg2.name)
    b = import_stylespace(tmp_path / "p.json", sg2.name, G=sg2, scale_samples=200)
    assert [(d.name, d.channel, d.default_strength) for d in a] == [("smile", (2, 3), 5.0), ("hair", (1, 4), 1.0),
                                                                   ("eye_open", (0, 1), -2.0)]
    assert b[0].channel == (2, 3) and b[0].scale > 0
    # scale = that channel's std over samples
    z = torch.randn(200, 16, generator=torch.Generator().manual_seed(0))
    s = sg2.styles(sg2.mapping(z))[2][:, 3]
    assert b[0].scale == pytest.approx(float(s.double().std()), rel=1e-4)
