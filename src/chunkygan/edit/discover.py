"""Finding editing directions without downloads, for any generator (including the embedded DCGAN).

* :func:`sefa` — closed-form factorisation (Shen & Zhou 2021): eigenvectors of ``AᵀA`` where ``A``
  stacks the (row-normalised) weights that first act on the latent: every style affine of a
  style-based generator (read through ``G.styles``, so no parameter names are assumed), or the
  first layer that consumes ``z`` in a Z-only generator.
* :func:`pca` — GANSpace (Härkönen et al. 2020): principal components of sampled W codes; for a
  Z-only generator, PCA of an early feature layer's activations, regressed back onto ``z``.
* :func:`linear_boundary` / :func:`fit_boundary` — InterFaceGAN-style (Shen et al. 2020): the normal
  of a linear classifier separating latents with high and low scores from any labeller callable
  ``images [B,3,H,W] -> scores [B]``, or from user-labelled latents.

Every discovered direction gets ``scale`` = the standard deviation of sampled latents along it, so
a strength of 1 means "one standard deviation" in every method and space.
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import torch
from torch import nn

from .directions import Direction, parse_layers, style_w_indices

log = logging.getLogger(__name__)


def sample_latents(G, n: int, space: str | None = None, seed: int = 0, batch: int = 512) -> torch.Tensor:
    """``n`` random codes ``[n, dim]`` in ``space`` (``z``, or ``w`` = mapped z; default: ``w`` when offered)."""
    space = space or ("w" if "w" in G.spaces else "z")
    if space not in ("z", "w"):
        raise ValueError(f"sampling is in z or w space, not {space!r}")
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=g)
    if space == "z":
        return z
    dev = _device(G)
    with torch.no_grad():
        return torch.cat([G.mapping(z[i:i + batch].to(dev))[:, 0].cpu() for i in range(0, n, batch)])


def _latent_std(samples: torch.Tensor, direction: torch.Tensor) -> float:
    return float((samples @ direction).std())


def _fix_sign(v: torch.Tensor) -> torch.Tensor:
    """Eigenvectors have no sign; make the largest-magnitude entry positive (deterministic output)."""
    return v if v[v.abs().argmax()] >= 0 else -v


# --------------------------------------------------------------------------------------------------
# SeFa


def latent_weight(G, layers=None, all_style_layers: bool = False) -> tuple[torch.Tensor, str]:
    """The matrix ``A`` ``[rows, dim]`` of the weights that first act on the latent, and its space.

    Style-based: the stacked style affines ``s_l = A_l·w_{i(l)} + b_l``, read exactly as
    ``styles(e_j) − styles(0)``, for the W+ indices in ``layers`` (half-open; None = all). As in the
    reference SeFa (genforce ``factorize_weight``), each W+ index contributes one style layer: the
    last one in S order that it drives (every conv layer, and the final toRGB); ``all_style_layers``
    also takes the intermediate toRGB layers. Z-only: the first ``nn.Linear`` / ``nn.Conv*`` /
    ``nn.ConvTranspose*`` with ``z_dim`` inputs (as SeFa does for PGGAN's first layer).
    """
    dev = _device(G)
    if "w" in G.spaces:
        w_dim, num_ws = G.w_dim, G.num_ws
        widx = style_w_indices(G)
        a, b = (0, num_ws) if layers is None else parse_layers(layers)
        if all_style_layers:
            chosen = [i for i, j in enumerate(widx) if a <= j < b]
        else:
            last = {j: i for i, j in enumerate(widx)}  # W+ index -> its last style layer in S order
            chosen = sorted(i for j, i in last.items() if a <= j < b)
        if not chosen:
            raise ValueError(f"no style layer is driven by W+ layers {a}-{b - 1}")
        with torch.no_grad():
            eye = torch.eye(w_dim, device=dev).unsqueeze(1).expand(w_dim, num_ws, w_dim)
            s1 = G.styles(eye.contiguous())
            s0 = G.styles(torch.zeros(1, num_ws, w_dim, device=dev))
        rows = [(s1[i] - s0[i]).T for i in chosen]  # [C_l, w_dim]
        return torch.cat(rows).double().cpu(), "w"
    for name, m in G.named_modules():
        if isinstance(m, nn.Linear) and m.in_features == G.z_dim:
            return m.weight.detach().double().cpu(), "z"
        if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)) and m.in_channels == G.z_dim:
            wt = m.weight.detach().double().cpu()  # [z_dim, out, k, k]
            return wt.reshape(G.z_dim, -1).T, "z"
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and m.in_channels == G.z_dim:
            wt = m.weight.detach().double().cpu()  # [out, z_dim, k, k]
            return wt.transpose(0, 1).reshape(G.z_dim, -1).T, "z"
    raise ValueError(f"generator {G.name!r}: found no layer that takes the {G.z_dim}-dim latent; SeFa needs one")


def sefa(G, k: int = 5, layers=None, samples: int = 2000, seed: int = 0, prefix: str = "sefa",
         all_style_layers: bool = False) -> list[Direction]:
    """SeFa: the ``k`` eigenvectors of ``AᵀA`` with the largest eigenvalues (rows of A unit-normalised).

    Returns W directions (acting on ``layers`` of W+) for style-based generators, Z directions
    otherwise. ``scale`` is the standard deviation of ``samples`` sampled latents along each.
    """
    A, space = latent_weight(G, layers, all_style_layers)
    A = A / A.norm(dim=1, keepdim=True).clamp_min(1e-12)
    evals, evecs = torch.linalg.eigh(A.T @ A)  # ascending
    order = torch.argsort(evals, descending=True)[:k]
    lat = sample_latents(G, samples, space, seed)
    out = []
    for rank, i in enumerate(order.tolist()):
        v = _fix_sign(evecs[:, i]).float()
        out.append(Direction(name=f"{prefix}_{rank}", space=space, vector=v, generator=G.name,
                             layers=parse_layers(layers), scale=_latent_std(lat, v), source="sefa",
                             description=f"SeFa eigenvector {rank} (eigenvalue {float(evals[i]):.4g})"))
    return out


# --------------------------------------------------------------------------------------------------
# GANSpace-style PCA


class _FeaturesTaken(Exception):
    """Raised by the feature hook to stop the forward pass once the features are captured."""


def _feature_module(G, feature: str | None) -> nn.Module:
    mods = dict(G.named_modules())
    if feature is not None:
        if feature not in mods:
            raise ValueError(f"generator {G.name!r} has no module {feature!r}; some of its modules: "
                             f"{', '.join(list(mods)[1:12])}")
        return mods[feature]
    # default: the first non-linearity (output of the first block)
    for name, m in G.named_modules():
        if isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Tanh)):
            return m
    raise ValueError(f"generator {G.name!r}: name a feature module for PCA (feature=...)")


def pca(G, k: int = 5, samples: int = 2000, seed: int = 0, feature: str | None = None,
        batch: int = 250, prefix: str = "pca") -> list[Direction]:
    """GANSpace: the top ``k`` principal directions of sampled latents.

    Style-based generators: PCA of ``samples`` W codes -> W directions. Z-only generators (where
    PCA of isotropic ``z`` would be meaningless): PCA of the activations of ``feature`` (default:
    the first non-linearity), then each component's coordinates are regressed onto ``z`` (least
    squares) and the regression vector, normalised, is the Z direction.
    """
    if "w" in G.spaces:
        w = sample_latents(G, samples, "w", seed).double()
        mu = w.mean(0)
        _, S, Vh = torch.linalg.svd(w - mu, full_matrices=False)
        out = []
        for i in range(k):
            v = _fix_sign(Vh[i]).float()
            out.append(Direction(name=f"{prefix}_{i}", space="w", vector=v, generator=G.name,
                                 scale=float(S[i] / (samples - 1) ** 0.5), source="pca",
                                 description=f"PCA of {samples} W codes, component {i}"))
        return out
    mod = _feature_module(G, feature)
    z = sample_latents(G, samples, "z", seed)
    feats = []

    def grab(module, inputs, output):  # keep the features and skip the rest of the network
        feats.append(output.detach().flatten(1).double().cpu())
        raise _FeaturesTaken

    hook = mod.register_forward_hook(grab)
    dev = _device(G)
    try:
        with torch.no_grad():
            for i in range(0, samples, batch):
                try:
                    G(z[i:i + batch].to(dev))
                except _FeaturesTaken:
                    pass
    finally:
        hook.remove()
    y = torch.cat(feats)
    y = y - y.mean(0)
    q = min(k + 10, *y.shape)
    U, S, _ = torch.svd_lowrank(y, q=q, niter=6)  # the top components only (randomised, Halko et al.)
    coords = U[:, :k] * S[:k]  # [N, k] coordinates along the components
    coef = torch.linalg.lstsq(coords, z.double()).solution  # [k, z_dim]: z ≈ coords @ coef
    out = []
    for i in range(k):
        v = coef[i] / coef[i].norm().clamp_min(1e-12)
        v = _fix_sign(v).float()
        out.append(Direction(name=f"{prefix}_{i}", space="z", vector=v, generator=G.name,
                             scale=_latent_std(z, v), source="pca",
                             description=f"PCA of feature activations ({samples} samples), component {i}, "
                                         "regressed onto z"))
    return out


# --------------------------------------------------------------------------------------------------
# InterFaceGAN-style linear boundaries


def fit_boundary(latents: torch.Tensor, labels: torch.Tensor, l2: float = 1e-3, steps: int = 200) -> torch.Tensor:
    """Unit normal ``[dim]`` of a logistic-regression boundary separating ``labels`` 1 from 0.

    latents ``[N, dim]``; labels ``[N]`` in {0, 1} (or booleans). The normal points to label 1.
    """
    x = latents.detach().double().cpu()
    y = torch.as_tensor(labels).detach().double().cpu().reshape(-1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x.shape[0]} latents but {y.shape[0]} labels")
    if not torch.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1 (use linear_boundary or scores_to_labels for scores)")
    if y.min() == y.max():
        raise ValueError("all samples have the same label; a boundary needs both classes")
    mu, sd = x.mean(0), x.std(0).clamp_min(1e-8)
    xs = (x - mu) / sd
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")
    sgn = 2 * y - 1

    def closure():
        opt.zero_grad()
        loss = nn.functional.softplus(-sgn * (xs @ w + b)).mean() + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    normal = (w.detach() / sd)  # back to the latent's own coordinates
    return (normal / normal.norm().clamp_min(1e-12)).float()


def scores_to_labels(scores: torch.Tensor, ratio: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the top and bottom ``ratio`` of samples by score: returns ``(indices, labels)``."""
    s = torch.as_tensor(scores).reshape(-1).float()
    n = max(1, int(round(ratio * s.numel())))
    order = torch.argsort(s)
    idx = torch.cat([order[:n], order[-n:]])
    lab = torch.cat([torch.zeros(n), torch.ones(n)])
    return idx, lab


def linear_boundary(G, labeller: Callable[[torch.Tensor], torch.Tensor], name: str, samples: int = 1000,
                    space: str | None = None, ratio: float = 0.3, seed: int = 0, batch: int = 64,
                    progress: Callable[[int, int], None] | None = None) -> Direction:
    """InterFaceGAN-style direction: sample, render, score with ``labeller``, fit a boundary.

    ``labeller``: images ``[B,3,H,W]`` in [-1,1] -> scores ``[B]`` (higher = more of the attribute).
    The top and bottom ``ratio`` of the samples by score are the two classes. ``space``: ``z`` or
    ``w`` (default ``w`` when offered). ``progress(done, total)`` is called after each batch.
    """
    space = space or ("w" if "w" in G.spaces else "z")
    lat = sample_latents(G, samples, space, seed)
    dev = _device(G)
    scores = []
    with torch.no_grad():
        for i in range(0, samples, batch):
            c = lat[i:i + batch].to(dev)
            img = G(c) if space == "z" else G.synthesis(c.unsqueeze(1).expand(-1, G.num_ws, -1))
            s = torch.as_tensor(labeller(img)).reshape(-1).float().cpu()
            if s.numel() != c.shape[0]:
                raise ValueError(f"the labeller returned {s.numel()} scores for {c.shape[0]} images")
            scores.append(s)
            if progress:
                progress(min(i + batch, samples), samples)
    scores = torch.cat(scores)
    ok = torch.isfinite(scores)
    if ok.sum() < 4:
        raise ValueError("the labeller gave fewer than 4 usable scores (NaN for faces it could not read?)")
    lat, scores = lat[ok], scores[ok]
    idx, lab = scores_to_labels(scores, ratio)
    v = fit_boundary(lat[idx], lab)
    return Direction(name=name, space=space, vector=v, generator=G.name, scale=_latent_std(lat, v),
                     source="linear", description=f"linear boundary from {int(ok.sum())} scored samples "
                                                  f"(top/bottom {ratio:.0%})")


def boundary_from_labelled(G, latents: torch.Tensor, labels: Sequence[float], name: str,
                           space: str | None = None) -> Direction:
    """A direction from user-labelled latents ``[N, dim]`` (labels 0/1, or scores split at the median)."""
    space = space or ("w" if latents.shape[1] == getattr(G, "w_dim", -1) and "w" in G.spaces else "z")
    y = torch.as_tensor(labels, dtype=torch.float32)
    if not torch.all((y == 0) | (y == 1)):
        y = (y > y.median()).float()
    v = fit_boundary(latents, y)
    return Direction(name=name, space=space, vector=v, generator=G.name, scale=_latent_std(latents.float(), v),
                     source="linear", description=f"linear boundary from {latents.shape[0]} labelled latents")


def _device(G) -> torch.device:
    try:
        return next(G.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


__all__ = ["sefa", "pca", "make_default_bank", "linear_boundary", "fit_boundary", "boundary_from_labelled", "scores_to_labels",
           "sample_latents", "latent_weight"]


def make_default_bank(G, k: int = 5, samples: int = 2000, seed: int = 0, save: bool = True):
    """SeFa (``k``) + PCA (``k``) directions for ``G`` as a bank, saved to the cache when ``save``.

    Used when a generator has no bank yet (no cached, bundled or given one): both methods are
    closed-form or sampling-only and take seconds, so every generator gets directions on demand.
    """
    from .directions import DirectionBank, default_bank_path

    bank = DirectionBank.for_generator(G, sefa(G, k=k, seed=seed) + pca(G, k=k, samples=samples, seed=seed),
                                       description=f"made on demand: SeFa {k} + PCA {k} ({samples} samples, seed {seed})")
    if save:
        p = default_bank_path(G)
        bank.save(p)
        log.info("no direction bank for %s yet: discovered %d directions (SeFa, PCA) and saved them to %s",
                 G.name, len(bank), p)
    return bank


# --------------------------------------------------------------------------------------------------
# InterFaceGAN conditional boundaries (Shen et al. 2020, Sec. 2.2 "conditional manipulation")


def attribute_normals(latents: torch.Tensor, scores: dict[str, torch.Tensor], ratio: float = 0.3,
                      method: str = "mean", ridge_alpha: float = 1.0) -> dict[str, torch.Tensor]:
    """Unit boundary normal ``[D]`` per label from the top vs bottom ``ratio`` of the samples the labeller
    read (finite scores), pointing towards higher scores. ``latents`` ``[N,D]``, scores ``[N]``.

    ``method="mean"`` (default): the difference of the two classes' mean latents — the separating normal
    when both classes share an isotropic spread, and it stays in the subspace the latents actually occupy.
    ``"logistic"``: :func:`fit_boundary`. Measured on ``stylegan2-faces-64`` (1,000 labelled samples,
    24 held-out, strengths -2/0/2): the logistic normal falls into low-variance W directions (smile
    0.021 score/unit, monotone on 70%; age 0.42 years/unit, 50%), the mean difference does not
    (smile 0.094, 95%; age 6.4, 75%). ``"ridge"``: :func:`ridge_normal` on every read sample (continuous
    scores, no classes).
    """
    out = {}
    for name, s in scores.items():
        ok = torch.isfinite(s)
        if ok.sum() < 20:
            raise ValueError(f"label {name!r}: only {int(ok.sum())} samples were read by the labeller; need 20+")
        if method == "ridge":
            out[name] = ridge_normal(latents[ok], s[ok], ridge_alpha)
            continue
        idx, lab = scores_to_labels(s[ok], ratio)
        x = latents[ok][idx].double()
        if method == "mean":
            v = x[lab == 1].mean(0) - x[lab == 0].mean(0)
            out[name] = (v / v.norm().clamp_min(1e-12)).float()
        elif method == "logistic":
            out[name] = fit_boundary(x, lab)
        else:
            raise ValueError(f"method must be 'mean', 'logistic' or 'ridge', not {method!r}")
    return out


def ridge_normal(latents: torch.Tensor, scores: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Unit normal ``[D]`` of the ridge regression of ``scores [N]`` on ``latents [N,D]`` (both centred).

    ``w = (XᵀX + λI)⁻¹ Xᵀy`` with ``λ = alpha × mean eigenvalue of XᵀX``: between the whitened least-squares
    normal (``alpha -> 0``, which falls into low-variance directions like the logistic one) and the
    covariance direction ``Xᵀy`` (``alpha -> ∞``, close to the class-mean difference). Measured for ``age`` on
    ``stylegan2-faces-64`` (4,000 labelled samples, 110 held-out, strengths -2..2): monotone on 86-87% with
    λ = 1,000-10,000 (alpha 0.4-4.4) against 76% for the conditional class-mean normal.
    """
    x = latents.double() - latents.double().mean(0)
    y = scores.double() - scores.double().mean()
    gram = x.T @ x
    lam = float(alpha) * float(torch.diagonal(gram).mean())
    v = torch.linalg.solve(gram + lam * torch.eye(gram.shape[0], dtype=gram.dtype), x.T @ y)
    return (v / v.norm().clamp_min(1e-12)).float()


def project_out(normal: torch.Tensor, others: Sequence[torch.Tensor]) -> torch.Tensor:
    """InterFaceGAN's conditional direction: ``n - N (NᵀN)⁻¹ Nᵀ n`` (``N`` = the ``others`` as columns), unit length.

    Moving along the result leaves the other attributes' boundary distances ``Nᵀw`` unchanged."""
    n = normal.double()
    if not others:
        return (n / n.norm()).float()
    N = torch.stack([o.double() for o in others], dim=1)  # [D,k]
    coef = torch.linalg.lstsq(N, n.unsqueeze(1)).solution  # [k,1]
    r = n - (N @ coef).squeeze(1)
    if r.norm() < 1e-6 * n.norm():
        raise ValueError("the boundary lies in the span of the attributes it is conditioned on")
    return (r / r.norm()).float()


def correlated_labels(scores: dict[str, torch.Tensor], primary: str, candidates: Sequence[str],
                      threshold: float = 0.2) -> dict[str, float]:
    """Labels among ``candidates`` whose Pearson correlation with ``primary`` over samples both read is
    at least ``threshold`` in magnitude: ``{name: r}`` (the attributes to condition on)."""
    out = {}
    p = scores[primary]
    for c in candidates:
        if c == primary or c not in scores:
            continue
        ok = torch.isfinite(p) & torch.isfinite(scores[c])
        if ok.sum() < 20:
            continue
        r = float(torch.corrcoef(torch.stack([p[ok], scores[c][ok]]))[0, 1])
        if abs(r) >= threshold:
            out[c] = round(r, 3)
    return out


def conditional_boundary(latents: torch.Tensor, scores: dict[str, torch.Tensor], primary: str,
                         condition_on: Sequence[str] = (), ratio: float = 0.3,
                         normals: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """The unit normal ``[D]`` of ``primary`` with the normals of ``condition_on`` projected out."""
    normals = normals or attribute_normals(latents, {k: scores[k] for k in (primary, *condition_on)}, ratio)
    return project_out(normals[primary], [normals[c] for c in condition_on])


__all__ += ["attribute_normals", "project_out", "correlated_labels", "conditional_boundary"]
