"""Distil the embedded DCGAN into a small StyleGAN2 so W, W+ and S exist on a face model offline.

For z ~ N(0, I) the student (our StyleGAN2, z_dim 100, 64×64) is trained to reproduce the teacher
(``dcgan-faces-64``) image for the same z: loss = w_l1·L1 + w_lpips·LPIPS_alex(student(z), teacher(z)).
Noise inputs are held constant (``noise_mode="const"``) because the teacher is a deterministic map.

Batches are a pure function of (seed, step), so a resumed run sees exactly the batches an
uninterrupted run would; checkpoints (student, optimiser, step, loss log) are written atomically and
loaded with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import json
import logging
import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from .fileio import atomic_path

log = logging.getLogger(__name__)

HELD_OUT_SEED = 1_000_000_007  # evaluation z never overlap training z (training uses seeds < 1e9)


@dataclass
class DistillConfig:
    """Everything that defines a distillation run (stored in every checkpoint)."""

    channel_base: int = 4096  # channels per block = min(channel_base / res, channel_max)
    channel_max: int = 256
    w_dim: int = 256
    mapping_layers: int = 4
    # Official StyleGAN2 slows the mapping to 0.01× the learning rate; for distillation at this budget
    # that leaves the student at an average face (held-out LPIPS 0.286 vs 0.245 with 1.0 after 300 steps).
    mapping_lr_multiplier: float = 1.0
    batch: int = 16
    steps: int = 6000
    lr: float = 2e-3
    lr_final_frac: float = 0.05  # cosine decay to lr·frac over the last `decay_steps` steps
    decay_frac: float = 0.3
    w_l1: float = 1.0
    w_lpips: float = 1.0
    # Feature matching (FitNets-style hints): MSE between a learned 1×1 projection of each student block's
    # features and the teacher's activations at the same resolution (4–32 px). 0 disables it.
    w_feat: float = 0.0
    seed: int = 0
    teacher: str = "dcgan-faces-64"
    ckpt_every: int = 100
    extra: dict = field(default_factory=dict)

    def student_kwargs(self) -> dict:
        """Official StyleGAN2 init kwargs of the student (z_dim 100, 64×64 RGB, skip architecture)."""
        return dict(z_dim=100, c_dim=0, w_dim=self.w_dim, img_resolution=64, img_channels=3,
                    mapping_kwargs={"num_layers": self.mapping_layers,
                                    "lr_multiplier": self.mapping_lr_multiplier},
                    synthesis_kwargs={"channel_base": self.channel_base, "channel_max": self.channel_max,
                                      "num_fp16_res": 0, "conv_clamp": None, "architecture": "skip"})


def batch_z(seed: int, step: int, batch: int, z_dim: int = 100) -> torch.Tensor:
    """The training latents of one step ``[batch, z_dim]``, a pure function of (seed, step)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return torch.randn(batch, z_dim, generator=g)


def held_out_z(n: int, z_dim: int = 100) -> torch.Tensor:
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(HELD_OUT_SEED))


def lr_at(cfg: DistillConfig, step: int) -> float:
    """Constant learning rate, then a cosine decay over the last ``decay_frac`` of the steps."""
    start = int(cfg.steps * (1 - cfg.decay_frac))
    if step < start:
        return cfg.lr
    t = min(1.0, (step - start) / max(1, cfg.steps - start))
    return cfg.lr * (cfg.lr_final_frac + (1 - cfg.lr_final_frac) * 0.5 * (1 + math.cos(math.pi * t)))


class Distiller:
    """Stateful training loop: ``step()`` once per batch; ``save``/``load`` for resuming.

    Args:
        cfg: the run configuration.
        device: where to train (the teacher and LPIPS move there too).
        teacher / lpips: injectable for tests (defaults: the embedded DCGAN and LPIPS alex at native size).
    """

    def __init__(self, cfg: DistillConfig, device: str | torch.device = "cpu",
                 teacher: torch.nn.Module | None = None, lpips: torch.nn.Module | None = None):
        from .generators import load_generator
        from .generators.stylegan2 import StyleGAN2Generator
        from .losses.lpips import LPIPS

        self.cfg = cfg
        self.device = torch.device(device)
        torch.manual_seed(cfg.seed)  # student initialisation
        self.student = StyleGAN2Generator(**cfg.student_kwargs()).to(self.device).train()
        self.teacher = (teacher or load_generator(cfg.teacher)).to(self.device).eval().requires_grad_(False)
        self.lpips = (lpips or LPIPS("alex", working_resolution=None)).to(self.device)
        self.hints = FeatureHints(self.student, self.teacher).to(self.device) if cfg.w_feat else None
        params = list(self.student.parameters()) + (list(self.hints.parameters()) if self.hints else [])
        self.opt = torch.optim.Adam(params, lr=cfg.lr, betas=(0.9, 0.99))
        self.step_count = 0
        self.history: list[dict] = []  # one row per step: step, loss, l1, lpips, seconds
        self.wall = 0.0

    def losses(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.hints is None:
            with torch.no_grad():
                target = self.teacher(z)
            pred = self.student(z, noise_mode="const")
            feat = None
        else:
            with torch.no_grad(), self.hints.recording("teacher"):
                target = self.teacher(z)
            with self.hints.recording("student"):
                pred = self.student(z, noise_mode="const")
            feat = self.hints.loss()
        l1 = (pred - target).abs().mean()
        lp = self.lpips(pred, target).mean()
        out = {"loss": self.cfg.w_l1 * l1 + self.cfg.w_lpips * lp, "l1": l1, "lpips": lp}
        if feat is not None:
            out["loss"] = out["loss"] + self.cfg.w_feat * feat
            out["feat"] = feat
        return out

    def step(self) -> dict[str, float]:
        """One optimisation step on the batch of ``self.step_count``; returns its losses."""
        t0 = time.perf_counter()
        for g in self.opt.param_groups:
            g["lr"] = lr_at(self.cfg, self.step_count)
        z = batch_z(self.cfg.seed, self.step_count, self.cfg.batch).to(self.device)
        out = self.losses(z)
        self.opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        self.opt.step()
        self.step_count += 1
        dt = time.perf_counter() - t0
        self.wall += dt
        row = {"step": self.step_count, **{k: float(v.detach()) for k, v in out.items()}, "seconds": dt}
        self.history.append(row)
        return row

    @torch.no_grad()
    def evaluate(self, n: int = 1000, batch: int = 50) -> float:
        """Mean LPIPS (alex, native 64 px) between student(z) and teacher(z) over ``n`` held-out z."""
        self.student.eval()
        z_all = held_out_z(n).to(self.device)
        total = 0.0
        for i in range(0, n, batch):
            z = z_all[i:i + batch]
            total += float(self.lpips(self.student(z, noise_mode="const"), self.teacher(z)).sum())
        self.student.train()
        return total / n

    # -- checkpoints ---------------------------------------------------------------------------------

    def state(self) -> dict:
        st = {"format": "chunkygan-distill", "version": 1, "config": json.dumps(asdict(self.cfg)),
              "step": self.step_count, "wall": self.wall, "history": json.dumps(self.history),
              "student": self.student.state_dict(), "optimizer": self.opt.state_dict()}
        if self.hints is not None:
            st["hints"] = self.hints.state_dict()
        return st

    def save(self, path: str | Path) -> None:
        """Write a resumable checkpoint atomically."""
        with atomic_path(path) as tmp:
            torch.save(self.state(), tmp)

    def load(self, path: str | Path) -> None:
        """Resume from a checkpoint written by :meth:`save` (same configuration required)."""
        ck = torch.load(path, map_location=self.device, weights_only=True)
        if not isinstance(ck, dict) or ck.get("format") != "chunkygan-distill":
            raise ValueError(f"{path}: not a chunkygan distillation checkpoint")
        saved = json.loads(ck["config"])
        mine = asdict(self.cfg)
        arch = ("channel_base", "channel_max", "w_dim", "mapping_layers", "mapping_lr_multiplier", "seed", "teacher",
                "batch", "w_feat")
        diff = {k: (saved.get(k), mine[k]) for k in arch if saved.get(k) != mine[k]}
        if diff:
            raise ValueError(f"{path}: checkpoint was made with a different configuration {diff} (saved, asked)")
        self.student.load_state_dict(ck["student"], strict=True)
        if self.hints is not None:
            self.hints.load_state_dict(ck["hints"], strict=True)
        self.opt.load_state_dict(ck["optimizer"])
        self.step_count, self.wall = int(ck["step"]), float(ck["wall"])
        self.history = json.loads(ck["history"])


class FeatureHints(torch.nn.Module):
    """Feature-matching term: ``mean_r MSE(P_r(student block r features), teacher activation at r px)``.

    Teacher activations are the outputs of its ReLUs (DCGAN: 4, 8, 16, 32 px with 512…64 channels); the
    student features are the ``x`` outputs of its synthesis blocks ``b{r}``; ``P_r`` is a learned 1×1
    convolution (student channels → teacher channels) per shared resolution. Only training uses it; it
    is not part of the exported generator.
    """

    def __init__(self, student: torch.nn.Module, teacher: torch.nn.Module):
        super().__init__()
        self._store: dict[str, dict[int, torch.Tensor]] = {"teacher": {}, "student": {}}
        self._mode: str | None = None
        for m in teacher.modules():
            if isinstance(m, torch.nn.ReLU):
                m.register_forward_hook(self._record("teacher"))
        for b in student.synthesis.blocks():
            b.register_forward_hook(self._record("student"))
        z = torch.zeros(1, student.z_dim)  # one probe pass finds the channels at each resolution
        with torch.no_grad():
            with self.recording("teacher"):
                teacher(z.to(next(teacher.parameters()).device))
            with self.recording("student"):
                student(z.to(next(student.parameters()).device), noise_mode="const")
        t = {r: x.shape[1] for r, x in self._store["teacher"].items()}
        s = {r: x.shape[1] for r, x in self._store["student"].items()}
        self.resolutions = sorted(set(t) & set(s))
        if not self.resolutions:
            raise ValueError("feature hints: teacher and student share no feature resolution")
        self.proj = torch.nn.ModuleDict({str(r): torch.nn.Conv2d(s[r], t[r], 1) for r in self.resolutions})

    def _record(self, who: str):
        def hook(_module, _inputs, out):
            if self._mode == who:
                x = out[0] if isinstance(out, tuple) else out  # synthesis blocks return (x, img)
                self._store[who][x.shape[-1]] = x
        return hook

    @contextmanager
    def recording(self, who: str):
        """Context in which forward passes of ``who`` (``"teacher"``/``"student"``) store their features."""
        self._mode, self._store[who] = who, {}
        try:
            yield
        finally:
            self._mode = None

    def loss(self) -> torch.Tensor:
        t, s = self._store["teacher"], self._store["student"]
        terms = [F.mse_loss(self.proj[str(r)](s[r]), t[r]) for r in self.resolutions]
        self._store = {"teacher": {}, "student": {}}
        return torch.stack(terms).mean()


def run(cfg: DistillConfig, workdir: str | Path, device="cpu", resume: bool = True,
        callback: Callable[[dict], None] | None = None, distiller: Distiller | None = None) -> Distiller:
    """Train until ``cfg.steps``, checkpointing to ``workdir/checkpoint.pt`` every ``cfg.ckpt_every`` steps.

    With ``resume`` an existing checkpoint is continued. ``callback(row)`` is called after every step.
    A loss log is kept in ``workdir/log.jsonl`` (rewritten atomically with each checkpoint).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    d = distiller or Distiller(cfg, device)
    ckpt = workdir / "checkpoint.pt"
    if resume and ckpt.exists():
        d.load(ckpt)
        log.info("resumed from %s at step %d", ckpt, d.step_count)
    while d.step_count < cfg.steps:
        row = d.step()
        if callback:
            callback(row)
        if d.step_count % cfg.ckpt_every == 0 or d.step_count == cfg.steps:
            d.save(ckpt)
            with atomic_path(workdir / "log.jsonl") as tmp:
                tmp.write_text("".join(json.dumps(r) + "\n" for r in d.history))
    return d


@torch.no_grad()
def mean_w(G, n: int = 100_000, batch: int = 5000, seed: int = 123) -> torch.Tensor:
    """The mean latent E_z[mapping(z)] ``[w_dim]`` over ``n`` samples (stored as the model's ``w_avg``)."""
    g = torch.Generator().manual_seed(seed)
    acc = torch.zeros(G.w_dim, dtype=torch.float64)
    for i in range(0, n, batch):
        z = torch.randn(min(batch, n - i), G.z_dim, generator=g)
        acc += G.mapping(z, update_w_avg=False)[:, 0].double().sum(0)
    return (acc / n).float()


def export(d: Distiller, path: str | Path, held_out_lpips: float | None = None, command: str = "",
           half: bool = True) -> tuple[Path, Path]:
    """Write the student as native ``.safetensors`` + ``.json`` with its mean latent and training record.

    The mean latent (``mapping.w_avg``) is recomputed over 100k z so truncation and the W/W+/S
    initialisation use E[w], not a running average.
    """
    from .generators.checkpoints import save_generator
    from .generators.stylegan2 import StyleGAN2Generator

    G = StyleGAN2Generator(**d.cfg.student_kwargs())
    G.load_state_dict(d.student.state_dict())
    G.eval()
    G.mapping.w_avg.copy_(mean_w(G))
    if half:
        G = G.half()
    meta = {
        "name": "stylegan2-faces-64",
        "source": "chunkygan distillation of dcgan-faces-64 (PyPI gan-face-generate 1.1.1)",
        "licence": "derived from a model trained on DigiFace-1M: non-commercial research use only",
        "teacher": d.cfg.teacher,
        "training_command": command,
        "config": asdict(d.cfg),
        "steps": d.step_count,
        "wall_seconds": round(d.wall, 1),
        "held_out_lpips_alex": held_out_lpips,
        "dtype": "float16" if half else "float32",
    }
    return save_generator(G, path, meta=meta)
