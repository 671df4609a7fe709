"""``chunkygan edit`` and ``chunkygan directions`` end to end on a tiny generator saved as a checkpoint."""
import pytest
import torch
from click.testing import CliRunner
from edit_tiny_generators import make_tiny_sg2

from chunkygan.cli import main
from chunkygan.edit.apply import edited_composite
from chunkygan.edit.cards import CARD_TRUNCATION
from chunkygan.edit.directions import Direction, DirectionBank, DirectionError, bundled_bank_path
from chunkygan.generators.checkpoints import save_generator
from chunkygan.imageio import load_image
from chunkygan.latents import get_space
from chunkygan.project.io import Projection


@pytest.fixture()
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path / "cache"))
    G = make_tiny_sg2()
    st, _ = save_generator(G, tmp_path / "tiny")
    x = torch.arange(16).float()
    a = (1 - ((x - 4) / 2).clamp(0, 1))
    c = ((x - 10) / 2).clamp(0, 1)
    masks = torch.stack([a, 1 - a - c, c]).view(3, 1, 1, 16).expand(3, 1, 16, 16).contiguous()
    codes = get_space("w+").mean(G, 3) + 0.3 * torch.randn(3, G.num_ws, 16, generator=torch.Generator().manual_seed(0))
    proj = Projection(codes=codes, space="w+", masks=masks, generator=str(st))
    proj.save(tmp_path / "proj" / "projection.safetensors")
    return tmp_path, st, G, proj


def run(args):
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    return r


def test_discover_list_edit_and_sweep(setup):
    tmp, st, G, proj = setup
    bank = str(tmp / "bank.safetensors")
    for args in (["--method", "sefa", "-k", "2"], ["--method", "pca", "-k", "2", "--samples", "200"],
                 ["--method", "linear", "--labeller", "brightness", "--samples", "60"]):
        r = run(["directions", "discover", "--generator", str(st), "--bank", bank, *args])
        assert r.exit_code == 0, r.output
    (tmp / "labels.txt").write_text("".join(f"{s} {s % 2}\n" for s in range(12)))
    r = run(["directions", "discover", "--generator", str(st), "--bank", bank, "--method", "linear",
             "--labels", str(tmp / "labels.txt"), "--name", "odd"])
    assert r.exit_code == 0, r.output
    r = run(["directions", "list", "--bank", bank])
    names = [line.split("\t")[0] for line in r.output.strip().splitlines()]
    assert names == ["sefa_0", "sefa_1", "pca_0", "pca_1", "brightness", "odd"]
    # the same name again is refused unless --replace
    r = CliRunner().invoke(main, ["directions", "discover", "--generator", str(st), "--bank", bank, "--method", "sefa",
                                  "-k", "1"])
    assert r.exit_code != 0 and "--replace" in r.output

    out = tmp / "out"
    r = run(["edit", str(tmp / "proj"), "--direction", "sefa_0=3", "--direction", "pca_0=1", "--segments", "2",
             "--layers", "0-3", "--bank", bank, "-o", str(out)])
    assert r.exit_code == 0, r.output
    edited = Projection.load(out / "projection.safetensors")
    assert torch.equal(edited.codes[:2], proj.codes[:2]) and not torch.equal(edited.codes[2], proj.codes[2])
    before, after = proj.composite(G), edited_composite(G, proj, edited)
    outside = proj.masks[2, 0] == 0
    assert torch.equal(before[0][:, outside], after[0][:, outside])
    fresh = edited.composite(G)  # a fresh batched render: equal up to float rounding
    assert (fresh - before)[0][:, outside].abs().max() <= 1 / 255
    png = load_image(out / "edited.png")
    assert (png - after.clamp(-1, 1)).abs().max() <= 1 / 127.5 + 1e-6  # 8-bit rounding only

    r = run(["edit", str(tmp / "proj"), "--direction", "brightness=-2:2:3", "--bank", bank, "-o", str(tmp / "sw")])
    assert r.exit_code == 0, r.output
    strip = load_image(tmp / "sw" / "strip.png")
    assert strip.shape[-1] == 3 * (128 + 4) + 4 and (tmp / "sw" / "edited_2.png").is_file()  # captioned tiles
    mid = load_image(tmp / "sw" / "edited_1.png")  # strength 0 = the projection
    assert (mid - before.clamp(-1, 1)).abs().max() <= 1 / 127.5 + 1e-6


def test_edit_errors(setup):
    tmp, st, G, proj = setup
    bank = DirectionBank.for_generator(G)
    bank.save(tmp / "empty.safetensors")
    r = CliRunner().invoke(main, ["edit", str(tmp / "proj"), "--direction", "smile=1", "--bank",
                                  str(tmp / "empty.safetensors"), "-o", str(tmp / "o")])
    assert r.exit_code != 0 and "no direction called 'smile'" in r.output
    r = CliRunner().invoke(main, ["edit", str(tmp / "proj"), "--direction", "smile", "-o", str(tmp / "o")])
    assert r.exit_code != 0 and "NAME=STRENGTH" in r.output
    other = DirectionBank("someone-elses-gan")
    other.save(tmp / "other.safetensors")
    r = CliRunner().invoke(main, ["edit", str(tmp / "proj"), "--direction", "x=1", "--bank",
                                  str(tmp / "other.safetensors"), "-o", str(tmp / "o")])
    assert r.exit_code != 0
    assert "someone-elses-gan" in r.output and "tiny-sg2" in r.output


@pytest.mark.parametrize("name", ["stylegan2-faces-64", "dcgan-faces-64"])
def test_built_in_generators_have_a_bundled_bank_with_every_method(tmp_path, monkeypatch, name):
    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path))  # no cached bank: the bundled one is listed
    p = bundled_bank_path(name)
    assert p is not None, f"src/chunkygan/data/directions-{name}.safetensors is missing"
    r = run(["directions", "list"] + ([] if name == "stylegan2-faces-64" else ["--generator", name]))
    assert r.exit_code == 0, r.output
    rows = [line.split("\t") for line in r.output.strip().splitlines()]
    assert {row[4] for row in rows} >= {"sefa", "pca"}
    assert {"sefa_0", "pca_0"} <= {row[0] for row in rows}
    # every direction shipped under an attribute's name carries a card that passed the 90% monotone test
    bank = DirectionBank.load(p)
    named = [d for d in bank if d.source == "interfacegan"]
    if name == "stylegan2-faces-64":
        assert named, "no named (InterFaceGAN) direction passed its card"
    for d in named:
        if d.name.endswith("_unverified"):  # a near miss: offered only under a name that says so
            assert d.card["samples"] >= 500 and 0.85 <= d.card["monotone_share"] < 0.9 and not d.card["shipped"]
            assert d.name.removesuffix("_unverified") not in bank.names() and "UNVERIFIED" in d.description
            with pytest.raises(DirectionError, match="_unverified' is offered instead"):
                bank.get(d.name.removesuffix("_unverified"))
        else:
            assert d.card["samples"] >= 500 and d.card["monotone_share"] >= 0.9 and d.card["shipped"], d.name
        assert d.card.get("truncation_psi") == CARD_TRUNCATION, d.name  # the bundled banks' card protocol
    if name == "stylegan2-faces-64":  # the named edits that pass their card on the default generator
        assert {"age", "gender", "smile", "yaw", "pitch"} <= set(bank.names())


def test_a_near_miss_is_named_when_its_attribute_is_asked_for():
    G = make_tiny_sg2()
    card = {"monotone_share": 0.87, "samples": 500, "shipped": False}
    bank = DirectionBank.for_generator(G, [Direction("age_unverified", "w", torch.ones(G.w_dim), G.name, card=card)])
    with pytest.raises(DirectionError, match="'age_unverified' is offered instead"):
        bank.get("age")


@pytest.mark.parametrize("name", ["stylegan2-faces-64", "dcgan-faces-64"])
def test_bundled_bank_fits_its_generator_and_sefa_reproduces_it(name):
    from chunkygan.edit.discover import sefa
    from chunkygan.generators import load_generator

    G = load_generator(name)
    bank = DirectionBank.load(bundled_bank_path(name))
    bank.check(G)
    for d in sefa(G, k=5, samples=200):
        assert float(d.vector @ bank[d.name].vector) > 0.9999
    other = make_tiny_sg2()
    with pytest.raises(Exception, match=name):
        bank.check(other)


def test_a_generator_without_bank_gets_one_on_demand(setup):
    tmp, st, G, proj = setup
    r = run(["edit", str(tmp / "proj"), "--direction", "sefa_0=1", "-o", str(tmp / "od")])
    assert r.exit_code == 0, r.output
    from chunkygan.edit.directions import default_bank_path, generator_fingerprint
    from chunkygan.generators import load_generator

    cached = default_bank_path(load_generator(str(st)))
    assert cached.is_file() and cached.name == f"tiny-sg2-{generator_fingerprint(G)}.safetensors"
    r = run(["directions", "list", "--generator", str(st)])
    names = [line.split("\t")[0] for line in r.output.strip().splitlines()]
    assert names == [f"sefa_{i}" for i in range(5)] + [f"pca_{i}" for i in range(5)]


def test_edit_a_projection_of_the_embedded_generator_with_the_bundled_bank(tmp_path, monkeypatch):
    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path / "cache"))
    from chunkygan.generators import load_generator

    G = load_generator("dcgan-faces-64")
    z = torch.randn(2, 100, generator=torch.Generator().manual_seed(3))
    masks = torch.zeros(2, 1, 64, 64)
    masks[0, :, :32] = 1
    masks[1] = 1 - masks[0]
    proj = Projection(codes=z, space="z", masks=masks, generator="dcgan-faces-64")
    proj.save(tmp_path / "p" / "projection.safetensors")
    r = run(["edit", str(tmp_path / "p"), "--direction", "sefa_0=2", "--direction", "pca_0=-1", "--segments", "1",
             "-o", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    out = load_image(tmp_path / "o" / "edited.png")
    before = proj.composite(G).clamp(-1, 1)
    assert (out[..., :32, :] - before[..., :32, :]).abs().max() <= 1 / 127.5 + 1e-6  # segment 0 untouched
    assert (out[..., 32:, :] - before[..., 32:, :]).abs().mean() > 0.02  # segment 1 edited
