import pytest
import torch
from torch import nn

from chunkygan.edit.directions import DirectionBank, apply_edits
from chunkygan.edit.discover import (boundary_from_labelled, fit_boundary, latent_weight, linear_boundary, pca,
                                     sample_latents, sefa)


def _genforce_sefa(G, k, layer_names):
    """SeFa as in the reference code (genforce/sefa utils.factorize_weight): affine weights by name,
    ``weight = cat(style.weight.T) / norm(axis=0)``, eigenvectors of ``weight @ weight.T``."""
    sd = G.state_dict()
    weight = torch.cat([sd[f"{n}.affine.weight"].double().T for n in layer_names], dim=1)  # [w_dim, C]
    weight = weight / weight.norm(dim=0, keepdim=True)
    evals, evecs = torch.linalg.eigh(weight @ weight.T)
    order = torch.argsort(evals, descending=True)[:k]
    return evecs[:, order].T


def _sg2_layer_names(G, all_torgb=False):
    """genforce's choice: layer0..layer{n-2} are the convs, output{last} the final toRGB."""
    names, res_list = [], G.synthesis.block_resolutions
    for res in res_list:
        for part in ("conv0", "conv1", "torgb"):
            if f"synthesis.b{res}.{part}.affine.weight" not in G.state_dict():
                continue
            if part == "torgb" and res != res_list[-1] and not all_torgb:
                continue
            names.append(f"synthesis.b{res}.{part}")
    return names


def test_sefa_matches_reference_formulation_on_stylegan2(sg2):
    names = _sg2_layer_names(sg2)
    ref = _genforce_sefa(sg2, 4, names)
    dirs = sefa(sg2, k=4)
    assert [d.space for d in dirs] == ["w"] * 4 and all(d.source == "sefa" for d in dirs)
    for d, r in zip(dirs, ref):
        assert abs(float(d.vector.double() @ r)) > 0.999
        assert d.vector.norm().item() == pytest.approx(1.0, abs=1e-5)
        assert d.scale > 0
    # with every toRGB layer
    ref_all = _genforce_sefa(sg2, 2, _sg2_layer_names(sg2, all_torgb=True))
    for d, r in zip(sefa(sg2, k=2, all_style_layers=True), ref_all):
        assert abs(float(d.vector.double() @ r)) > 0.999
    # restricted to W+ layers 0-1: genforce's layer0 (b4.conv1) and layer1 (b8.conv0)
    ref01 = _genforce_sefa(sg2, 2, ["synthesis.b4.conv1", "synthesis.b8.conv0"])
    d01 = sefa(sg2, k=2, layers="0-1")
    assert d01[0].layers == (0, 2)
    for d, r in zip(d01, ref01):
        assert abs(float(d.vector.double() @ r)) > 0.999


def test_sefa_on_z_only_generator_uses_first_layer(dcgan):
    A, space = latent_weight(dcgan)
    w = dcgan.main[0].weight.detach().double()  # ConvTranspose2d [z_dim, C, 4, 4]
    assert space == "z" and torch.equal(A, w.reshape(w.shape[0], -1).T)
    dirs = sefa(dcgan, k=3)
    assert all(d.space == "z" for d in dirs)
    An = A / A.norm(dim=1, keepdim=True)
    M = An.T @ An
    lam = [float(d.vector.double() @ M @ d.vector.double()) for d in dirs]
    assert lam == sorted(lam, reverse=True)
    assert lam[0] == pytest.approx(float(torch.linalg.eigvalsh(M)[-1]), rel=1e-4)
    # std of N(0, I) along a unit vector is ~1
    assert all(0.9 < d.scale < 1.1 for d in dirs)


class AnisoStyleG(nn.Module):
    """A style-based stand-in whose W codes have a known covariance: w = z·diag(σ)·R."""

    spaces = ("z", "w", "w+")
    name = "aniso"
    z_dim = w_dim = 6
    num_ws = 2

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.R = torch.linalg.qr(torch.randn(6, 6, generator=g))[0]
        self.sigma = torch.tensor([5.0, 3.0, 1.0, 0.5, 0.3, 0.1])
        self.dummy = nn.Parameter(torch.zeros(1))

    def mapping(self, z, *a, **k):
        return ((z * self.sigma) @ self.R.T).unsqueeze(1).expand(-1, self.num_ws, -1)


def test_pca_recovers_known_principal_axes():
    G = AnisoStyleG()
    dirs = pca(G, k=2, samples=4000)
    for i, d in enumerate(dirs):
        assert abs(float(d.vector @ G.R[:, i])) > 0.99
        assert d.scale == pytest.approx(float(G.sigma[i]), rel=0.08)


class ZFeatureG(nn.Module):
    """Z-only stand-in: the first feature layer varies mostly along one latent direction v."""

    spaces = ("z",)
    name = "zfeat"
    z_dim = w_dim = 8
    num_ws = 1

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.v = nn.functional.normalize(torch.randn(8, generator=g), dim=0)
        u = nn.functional.normalize(torch.randn(32, generator=g), dim=0)
        self.fc = nn.Linear(8, 32)
        with torch.no_grad():
            self.fc.weight.copy_(10 * torch.outer(u, self.v) + 0.1 * torch.randn(32, 8, generator=g))
            self.fc.bias.fill_(5.0)  # keeps the ReLU mostly linear
        self.act = nn.ReLU()
        self.out = nn.Linear(32, 3 * 4 * 4)

    def forward(self, z, *a, **k):
        return torch.tanh(self.out(self.act(self.fc(z)))).view(-1, 3, 4, 4)


def test_pca_on_z_only_generator_regresses_feature_components_to_z():
    G = ZFeatureG()
    d = pca(G, k=1, samples=1000)[0]
    assert d.space == "z"
    assert abs(float(d.vector @ G.v)) > 0.95


def test_pca_on_tiny_generators_runs(sg2, dcgan):
    a = pca(sg2, k=3, samples=300)
    b = pca(dcgan, k=3, samples=300)
    assert [d.space for d in a] == ["w"] * 3 and [d.space for d in b] == ["z"] * 3
    V = torch.stack([d.vector for d in a])
    torch.testing.assert_close(V @ V.T, torch.eye(3), atol=1e-4, rtol=0)


def test_fit_boundary_from_labelled_latents():
    g = torch.Generator().manual_seed(5)
    truth = nn.functional.normalize(torch.randn(10, generator=g), dim=0)
    x = torch.randn(400, 10, generator=g)
    y = (x @ truth > 0).float()
    n = fit_boundary(x, y)
    assert float(n @ truth) > 0.95
    with pytest.raises(ValueError, match="both classes"):
        fit_boundary(x, torch.ones(400))
    with pytest.raises(ValueError, match="0 or 1"):
        fit_boundary(x, x[:, 0])


class BrightnessG(nn.Module):
    """Z-only stand-in: image brightness = tanh(z·d) (so a brightness labeller sees exactly z·d)."""

    spaces = ("z",)
    name = "bright"
    z_dim = w_dim = 12
    num_ws = 1

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(2)
        self.d = nn.functional.normalize(torch.randn(12, generator=g), dim=0)
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, z, *a, **k):
        b = torch.tanh(0.5 * z @ self.d)
        return b.view(-1, 1, 1, 1).expand(-1, 3, 8, 8)


def mean_brightness(images):
    return images.mean(dim=(1, 2, 3))


def test_linear_boundary_recovers_the_labellers_direction():
    G = BrightnessG()
    calls = []
    d = linear_boundary(G, mean_brightness, "bright", samples=600, progress=lambda a, b: calls.append(a))
    assert d.space == "z" and d.source == "linear"
    assert float(d.vector @ G.d) > 0.95  # right direction and sign (towards higher scores)
    assert calls[-1] == 600


def test_linear_boundary_edit_moves_the_score_on_a_real_generator(dcgan):
    d = linear_boundary(dcgan, mean_brightness, "brightness", samples=300)
    z = sample_latents(dcgan, 16, "z", seed=9)
    up = apply_edits(dcgan, z, "z", [(d, 2.0)])
    down = apply_edits(dcgan, z, "z", [(d, -2.0)])
    with torch.no_grad():
        b_up, b_down, b0 = (mean_brightness(dcgan(c)) for c in (up, down, z))
    assert (b_up > b0).float().mean() > 0.8 and (b_down < b0).float().mean() > 0.8


def test_boundary_from_labelled_scores_and_bank(tmp_path, sg2):
    w = sample_latents(sg2, 200, "w", seed=1)
    truth = nn.functional.normalize(torch.ones(16), dim=0)
    d = boundary_from_labelled(sg2, w, (w @ truth).tolist(), "ones")  # scores split at the median
    assert d.space == "w" and float(d.vector @ truth) > 0.8
    bank = DirectionBank.for_generator(sg2, sefa(sg2, k=2) + pca(sg2, k=2, samples=200) + [d])
    p = bank.save(tmp_path / "b.safetensors")
    assert DirectionBank.load(p).names() == ["sefa_0", "sefa_1", "pca_0", "pca_1", "ones"]


def test_ridge_normal_finds_a_planted_direction_and_tends_to_the_covariance_direction():
    from chunkygan.edit.discover import attribute_normals, ridge_normal

    g = torch.Generator().manual_seed(0)
    x = torch.randn(800, 6, generator=g) * torch.tensor([3.0, 1, 1, 1, 0.2, 0.2])  # anisotropic latents
    true = torch.tensor([0.0, 1, 0, 0, 0, 0])
    y = x @ true + 0.05 * torch.randn(800, generator=g)
    assert float(ridge_normal(x, y, alpha=1e-4) @ true) > 0.999  # almost plain least squares: the true normal
    xc, yc = x - x.mean(0), y - y.mean()
    cov = (xc.T @ yc) / (xc.T @ yc).norm()
    assert float(ridge_normal(x, y, alpha=1e6) @ cov) > 0.999  # heavy ridge: the covariance direction
    y[::7] = float("nan")  # unread samples are left out, not propagated
    n = attribute_normals(x, {"a": y}, method="ridge")["a"]
    assert torch.isfinite(n).all() and float(n @ true) > 0.99
