"""Direction cards, conditional boundaries and banks keyed by the generator's weights (issue #17)."""
import pytest
import torch
from edit_tiny_generators import make_tiny_sg2

from chunkygan.edit.cards import format_card, measure_card, monotone_mask
from chunkygan.edit.directions import (Direction, DirectionBank, DirectionError, default_bank_path,
                                       generator_fingerprint, load_bank_for)
from chunkygan.edit.discover import (attribute_normals, conditional_boundary, correlated_labels, make_default_bank,
                                     project_out, sample_latents)
from chunkygan.edit.labelled import labelled_samples
from chunkygan.edit.named import choose_layers, fit_directions, layer_candidates
from chunkygan.generators.checkpoints import save_generator


def brightness(images):
    """A synthetic labeller: mean intensity of the lower half (``[B]``)."""
    return images[:, :, images.shape[-2] // 2:].mean(dim=(1, 2, 3))


def test_monotone_mask_with_a_noise_tolerance():
    s = torch.tensor([[0.0, 0.0, 0.0, 1.0],  # strength -1, four samples
                      [0.1, 0.0, -0.1, 0.5],  # strength 0
                      [0.2, 0.0, 0.5, 0.2]])  # strength +1
    assert monotone_mask(s).tolist() == [True, False, False, False]
    assert monotone_mask(s, tol=0.15).tolist() == [True, False, True, False]


def test_conditional_boundary_projects_out_a_correlated_attribute():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3000, 8, generator=g)
    scores = {"a": x[:, 0] + x[:, 1], "b": x[:, 1]}  # a is correlated with b
    assert set(correlated_labels(scores, "a", ["b"])) == {"b"}
    plain = attribute_normals(x, scores)["a"]
    cond = conditional_boundary(x, scores, "a", ["b"])
    nb = attribute_normals(x, scores)["b"]
    assert abs(float(cond @ nb)) < 1e-5  # moving along it keeps b
    assert float(cond[0]) > 0.95 and abs(float(plain[1])) > 0.5  # it is a's own part, x0
    with pytest.raises(ValueError, match="span"):
        project_out(nb, [nb])


def test_card_on_a_tiny_generator_with_a_synthetic_labeller(tmp_path):
    G = make_tiny_sg2()
    data = labelled_samples(G, 600, seed=1, labeller=lambda im: {"bright": brightness(im)}, names=("bright",),
                            cache=tmp_path, chunk=300)
    assert len(data) == 600 and (tmp_path / next(p.name for p in tmp_path.iterdir())).is_dir()
    (d,) = fit_directions(G, data.latents, data.space, data.scores, targets={"brighter": "bright"})
    held = sample_latents(G, 60, "w", seed=3)
    card = measure_card(G, d, brightness, "bright", held, "w", identity=None, tolerance=0.0)
    assert card["samples"] == card["read"] == 60 and card["response_per_unit"] > 0
    assert card["monotone_share"] >= 0.9 and card["shipped"]
    assert card["fingerprint"] == generator_fingerprint(G)
    flipped = Direction("darker", "w", -d.vector, G.name, scale=d.scale)
    bad = measure_card(G, flipped, brightness, "bright", held, "w", identity=None, tolerance=0.0)
    assert bad["monotone_share"] <= 0.1 and not bad["shipped"] and "FAILS" in format_card("darker", bad)
    # the layer range is chosen by measurement among the candidates
    lab = lambda im: {"bright": brightness(im)}
    chosen, rows = choose_layers(G, d, lab, "bright", held[:16], "w")
    assert len(rows) == len(layer_candidates(G)) > 1
    best = max(rows, key=lambda r: r["score"])
    assert chosen.layers == (None if best["layers"] is None else (best["layers"][0], best["layers"][1] + 1))


def test_labels_are_cached_by_fingerprint_and_reused(tmp_path):
    G = make_tiny_sg2()
    calls = []

    def lab(im):
        calls.append(len(im))
        return {"bright": brightness(im)}

    a = labelled_samples(G, 40, labeller=lab, names=("bright",), cache=tmp_path, chunk=20)
    b = labelled_samples(G, 40, labeller=lab, names=("bright",), cache=tmp_path, chunk=20)
    assert calls == [20, 20] and torch.equal(a.scores["bright"], b.scores["bright"])
    labelled_samples(make_tiny_sg2(seed=5), 20, labeller=lab, names=("bright",), cache=tmp_path, chunk=20)
    assert calls == [20, 20, 20]  # other weights: labelled afresh


def test_bank_cache_is_keyed_by_weights_not_by_file_name(tmp_path, monkeypatch):
    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path / "cache"))
    from chunkygan.generators import load_generator

    one, two = make_tiny_sg2(seed=0), make_tiny_sg2(seed=7)  # same name, different weights
    st1, _ = save_generator(one, tmp_path / "a" / "gen")
    st2, _ = save_generator(two, tmp_path / "b" / "gen")  # the same file name in another folder
    G1, G2 = load_generator(str(st1)), load_generator(str(st2))
    assert G1.name == G2.name and generator_fingerprint(G1) != generator_fingerprint(G2)
    bank = make_default_bank(G1, k=2, samples=200)
    assert default_bank_path(G1).is_file() and default_bank_path(G1) != default_bank_path(G2)
    assert bank.fingerprint == generator_fingerprint(G1)
    assert load_bank_for(G1).fingerprint == generator_fingerprint(G1)
    with pytest.raises(DirectionError, match="no direction bank for these weights"):
        load_bank_for(G2)  # never G1's bank
    with pytest.raises(TypeError):
        default_bank_path(G1.name)


def test_bank_round_trip_keeps_fingerprint_and_cards(tmp_path):
    G = make_tiny_sg2()
    d = Direction("smile", "w", torch.ones(G.w_dim), G.name, card={"label": "smile", "monotone_share": 0.93})
    bank = DirectionBank.for_generator(G, [d])
    again = DirectionBank.load(bank.save(tmp_path / "b.safetensors"))
    assert again.fingerprint == generator_fingerprint(G) and again["smile"].card["monotone_share"] == 0.93


def test_directions_evaluate_prints_stored_cards_and_refuses_unknown_names(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from chunkygan.cli import main

    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path / "cache"))
    G = make_tiny_sg2()
    st, _ = save_generator(G, tmp_path / "tiny")
    card = {"label": "smile", "response_per_unit": 0.05, "monotone_share": 0.95, "read": 500, "samples": 500,
            "identity_per_unit": 0.02, "shipped": True}
    bank = DirectionBank.for_generator(G, [Direction("smile", "w", torch.ones(G.w_dim), G.name, card=card),
                                           Direction("odd", "w", -torch.ones(G.w_dim), G.name)])
    p = bank.save(tmp_path / "bank.safetensors")
    r = CliRunner().invoke(main, ["directions", "evaluate", "--generator", str(st), "--bank", str(p)])
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if x.startswith("smile"))
    assert "+0.050/unit" in line and "95.0%" in line and "500/500" in line and "ok" in line
    r = CliRunner().invoke(main, ["directions", "evaluate", "--generator", str(st), "--bank", str(p), "--json"])
    assert json.loads(r.output)["cards"]["smile"]["monotone_share"] == 0.95
    r = CliRunner().invoke(main, ["directions", "evaluate", "--generator", str(st), "--bank", str(p),
                                  "--names", "frown"])
    assert r.exit_code != 0 and "no direction called 'frown'" in r.output
    r = CliRunner().invoke(main, ["directions", "evaluate", "--generator", str(st), "--bank", str(p),
                                  "--names", "odd", "--measure", "--samples", "4"])
    assert r.exit_code != 0 and "no labeller measures 'odd'" in r.output
    r = CliRunner().invoke(main, ["directions", "list", "--generator", str(st), "--bank", str(p)])
    assert "monotone on 95% of 500" in r.output


def test_card_samples_are_truncated_towards_the_mean_and_the_card_records_it():
    from chunkygan.edit.cards import CARD_TRUNCATION, card_latents

    G = make_tiny_sg2()
    full = sample_latents(G, 40, "w", seed=3)
    assert torch.equal(card_latents(G, 40, "w", seed=3, psi=1.0), full)
    half = card_latents(G, 40, "w", seed=3, psi=0.5)
    mean = G.mean_w()
    assert torch.allclose(half - mean, 0.5 * (full - mean), atol=1e-6)
    z = card_latents(G, 40, "z", seed=3, psi=0.7)
    assert torch.allclose(z, 0.7 * sample_latents(G, 40, "z", seed=3))
    assert CARD_TRUNCATION == 0.7  # InterFaceGAN's STYLEGAN_TRUNCATION_PSI
    d = Direction("brighter", "w", torch.randn(G.w_dim), G.name)
    card = measure_card(G, d, brightness, "bright", half[:8], "w", identity=None, truncation_psi=0.5)
    assert card["truncation_psi"] == 0.5 and "(psi 0.5)" in format_card("brighter", card)


def test_directions_evaluate_measure_uses_truncated_samples(tmp_path, monkeypatch):
    """``--measure`` draws its held-out samples at --psi (default 0.7) and records it in each card."""
    import json

    from click.testing import CliRunner

    import chunkygan.face.labellers as labellers
    from chunkygan.cli import main

    monkeypatch.setenv("CHUNKYGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(labellers, "labeller", lambda name, missing="raise", probe=None: brightness)
    G = make_tiny_sg2()
    st, _ = save_generator(G, tmp_path / "tiny")
    p = DirectionBank.for_generator(G, [Direction("smile", "w", torch.ones(G.w_dim), G.name)]).save(tmp_path / "b.st")
    for extra, psi in (([], 0.7), (["--psi", "1"], 1.0)):
        r = CliRunner().invoke(main, ["directions", "evaluate", "--generator", str(st), "--bank", str(p), "--measure",
                                      "--samples", "6", "--no-identity", "--json", *extra])
        assert r.exit_code == 0, r.output
        card = json.loads(r.output[r.output.index("{"):])["cards"]["smile"]
        assert card["truncation_psi"] == psi and card["samples"] == 6
    r = CliRunner().invoke(main, ["directions", "evaluate", "--generator", str(st), "--bank", str(p), "--measure",
                                  "--psi", "0"])
    assert r.exit_code != 0 and "--psi" in r.output
