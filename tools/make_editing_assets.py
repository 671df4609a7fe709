"""Make the bundled, checked direction bank of a built-in generator (issue #17).

For ``--generator`` (default: the default generator; run it for ``stylegan2-faces-64`` and ``dcgan-faces-64``):

1. label ``--samples`` (4000) seeded samples once with every face labeller (face extra), cached outside the
   repository (``--label-cache``, default ``<CHUNKYGAN_CACHE>/labels``; see :mod:`chunkygan.edit.labelled`);
2. fit InterFaceGAN boundaries for age, gender, smile, eyes_open, gaze, yaw, pitch, conditional (correlated
   labels projected out) and plain (:mod:`chunkygan.edit.named`); choose each one's variant and W+ layer
   range by measurement on ``--layer-samples`` held-out samples (seed 2);
3. measure each direction's card on ``--card-samples`` (500) further held-out samples, drawn at truncation
   ``--card-psi`` (0.7, InterFaceGAN's setting; :func:`chunkygan.edit.cards.card_latents`), and keep it as a
   part file (``--parts``; runs for different ``--names`` may go in parallel); ``--recard`` re-measures the
   cards of existing parts (same directions) at ``--card-psi`` and keeps their earlier card as
   ``card_untruncated`` when it was measured without truncation;
4. ``--assemble``: a direction with a monotone response on fewer than 90% of the card samples is *not*
   shipped under its name (it is listed in the report); a near miss (85-90%) is offered as
   ``<name>_unverified`` with its failing card attached; add SeFa (5) and PCA (5) directions (unnamed,
   exploratory), save the bank to ``src/chunkygan/data/directions-<generator>.safetensors`` and the
   report to ``docs/img/directions-<generator>.json``.

Seeds: labels 1, layer choice 2, cards 3. Run (nice, one thread; the labellers dominate the time):
``OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/make_editing_assets.py --generator stylegan2-faces-64``.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import torch

#: a named direction whose card is monotone on at least this share (but under 90%) ships as <name>_unverified
UNVERIFIED_SHARE = 0.85
UNVERIFIED_SUFFIX = "_unverified"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--generator", default=None, help="built-in generator (default: the default generator)")
    ap.add_argument("--bank", default=None, help="default: src/chunkygan/data/directions-<generator>.safetensors")
    ap.add_argument("--report", default=None, help="default: docs/img/directions-<generator>.json")
    ap.add_argument("--samples", type=int, default=4000, help="labelled samples the boundaries are fitted on")
    ap.add_argument("--layer-samples", type=int, default=48, help="held-out samples for the layer-range choice")
    ap.add_argument("--card-samples", type=int, default=500, help="held-out samples of each card")
    ap.add_argument("--card-strengths", type=float, nargs="+", default=[-2.0, -1.0, 0.0, 1.0, 2.0])
    ap.add_argument("--card-psi", type=float, default=None, help="truncation of the card samples (default 0.7)")
    ap.add_argument("--recard", action="store_true", help="re-measure the cards of the existing parts at --card-psi")
    ap.add_argument("--label-cache", default=None, help="where labels are cached (outside the repository)")
    ap.add_argument("--names", nargs="+", default=None, help="only these target directions")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--parts", default=None, help="where each direction's measurement is kept "
                    "(default /work/cache/editing-parts/<generator>); runs with different --names can go in parallel")
    ap.add_argument("--ridge", action="store_true", help="also try the ridge-regression normal of each label "
                    "(chunkygan.edit.discover.ridge_normal) in the measured choice")
    ap.add_argument("--include-failing", action="store_true", help="with --assemble and a scratch --bank: keep the "
                    "directions whose card fails too (to measure them on photos; never for the bundled bank)")
    ap.add_argument("--assemble", action="store_true", help="build the bank and report from the measured parts")
    a = ap.parse_args()
    if a.include_failing and a.bank is None:
        ap.error("--include-failing needs a scratch --bank (the bundled bank ships only directions that pass)")
    torch.set_num_threads(a.threads)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from tqdm import tqdm

    from chunkygan.edit import discover as disc
    from chunkygan.edit.cards import CARD_TRUNCATION, card_latents, format_card, identity_distances, measure_card
    from chunkygan.edit.directions import DirectionBank
    from chunkygan.edit.labelled import LABELS, face_labeller, labelled_samples
    from chunkygan.edit.named import TARGETS, choose_layers, fit_directions
    from chunkygan.face.labellers import labeller as one_labeller
    from chunkygan.generators import default_generator_name, load_generator

    psi = CARD_TRUNCATION if a.card_psi is None else a.card_psi
    name = a.generator or default_generator_name()
    G = load_generator(name)
    bank_path = Path(a.bank or f"src/chunkygan/data/directions-{name}.safetensors")
    report_path = Path(a.report or f"docs/img/directions-{name}.json")
    targets = {k: v for k, v in TARGETS.items() if a.names is None or k in a.names}
    report: dict = {"generator": G.name, "timings_s": {}, "samples": a.samples, "card_samples": a.card_samples,
                    "directions": {}, "not_shipped": {}}

    t = time.perf_counter()
    with tqdm(total=a.samples, desc=f"labelling {name}", unit="img") as bar:
        data = labelled_samples(G, a.samples, seed=1, cache=a.label_cache,
                                progress=lambda d, n: bar.update(d - bar.n))
    report["timings_s"]["labelling"] = round(time.perf_counter() - t, 1)
    report["read_share"] = {k: round(float(torch.isfinite(v).float().mean()), 4) for k, v in data.scores.items()}
    label_std = {k: float(v[torch.isfinite(v)].std()) for k, v in data.scores.items()}

    t = time.perf_counter()
    fitted = [d for d in fit_directions(G, data.latents, data.space, data.scores) if d.name in targets]
    # the same boundaries without conditioning: which one ships is measured on held-out samples, like the layers
    plain = {d.name: d for d in fit_directions(G, data.latents, data.space, data.scores, corr_threshold=2.0)}
    # a ridge-regression normal on every sample (continuous labels): better for the noisy age label
    ridge = {d.name: d for d in fit_directions(G, data.latents, data.space, data.scores, corr_threshold=2.0,
                                               method="ridge")}
    report["timings_s"]["fit"] = round(time.perf_counter() - t, 2)

    parts = Path(a.parts or f"/work/cache/editing-parts/{name}")
    if not a.assemble and not a.recard:
        lay_lat = disc.sample_latents(G, a.layer_samples, data.space, seed=2)
        card_lat = card_latents(G, a.card_samples, data.space, seed=3, psi=psi)
        for d in fitted:
            label = targets[d.name]
            t = time.perf_counter()
            # off-target change: the MediaPipe labels (cheap); age/gender only when the target is one of them
            mp = ["smile", "eyes_open", "gaze_x", "yaw", "pitch"]
            others = [v for v in (mp if label in mp else ["age", "gender", *mp]) if v != label]
            lab_all = face_labeller(tuple(dict.fromkeys([label, *others])))
            variants = {}
            for kind, cand in (("conditional", d), ("plain", plain[d.name]), ("ridge", ridge[d.name])):
                if kind == "plain" and torch.equal(cand.vector, d.vector):
                    continue  # nothing was correlated: both are the same
                if kind == "ridge" and not a.ridge:
                    continue
                chosen, rows = choose_layers(G, cand, lab_all, label, lay_lat, data.space, others, label_std)
                variants[kind] = (chosen, rows, max(r["score"] for r in rows) if rows else 0.0)
            kind = max(variants, key=lambda k: variants[k][2])
            d, rows = variants[kind][0], {k: v[1] for k, v in variants.items()}
            rows["chosen"] = kind
            lt = time.perf_counter() - t
            t = time.perf_counter()
            lab = one_labeller(label, missing="nan")
            with tqdm(total=len(a.card_strengths), desc=f"card {d.name}", unit="strength") as bar:
                card = measure_card(G, d, lab, label, card_lat, data.space, strengths=a.card_strengths,
                                    identity=identity_distances, progress=lambda i, n: bar.update(i - bar.n),
                                    truncation_psi=psi)
            card["layers_chosen_from"] = rows
            entry = {"variant": kind, "fit_samples": a.samples,
                     "layers": None if d.layers is None else [d.layers[0], d.layers[1] - 1], "scale": d.scale,
                     "description": d.description, "card": card,
                     "timings_s": {"layer_choice": round(lt, 1), "card": round(time.perf_counter() - t, 1)}}
            print(format_card(d.name, card), flush=True)
            parts.mkdir(parents=True, exist_ok=True)
            (parts / f"{d.name}.json").write_text(json.dumps(entry, indent=1))
        return

    def rebuild(d, entry):
        """The direction a part was measured on: refitted from its recorded variant and sample count."""
        n_fit = int(entry.get("fit_samples", a.samples))
        if n_fit != a.samples:  # this part was measured on a fit from another number of labelled samples
            more = labelled_samples(G, n_fit, seed=1, cache=a.label_cache)
            kw = dict(corr_threshold=2.0) if entry.get("variant") in ("plain", "ridge") else {}
            if entry.get("variant") == "ridge":
                kw["method"] = "ridge"
            d = next(x for x in fit_directions(G, more.latents, more.space, more.scores, **kw) if x.name == d.name)
        elif entry.get("variant") == "plain":
            d = plain[d.name]
        elif entry.get("variant") == "ridge":
            d = ridge[d.name]
        if abs(float(d.scale) - float(entry["scale"])) > 1e-4 * max(1.0, abs(float(entry["scale"]))):
            raise SystemExit(f"{d.name}: the refitted direction (unit {d.scale:.6g}) is not the measured one "
                             f"({entry['scale']:.6g}); re-measure it")
        lay = entry["layers"]
        return d.with_layers(None if lay is None else (lay[0], lay[1] + 1))

    if a.recard:
        card_lat = card_latents(G, a.card_samples, data.space, seed=3, psi=psi)
        for d in fitted:
            f = parts / f"{d.name}.json"
            if not f.is_file():
                print(f"no measured part for {d.name} ({f}); run without --recard first")
                continue
            entry = json.loads(f.read_text())
            d = rebuild(d, entry)
            t = time.perf_counter()
            lab = one_labeller(targets[d.name], missing="nan")
            with tqdm(total=len(a.card_strengths), desc=f"card {d.name} (psi {psi:g})", unit="strength") as bar:
                card = measure_card(G, d, lab, targets[d.name], card_lat, data.space, strengths=a.card_strengths,
                                    identity=identity_distances, progress=lambda i, n: bar.update(i - bar.n),
                                    truncation_psi=psi)
            old = entry["card"]
            if old.get("truncation_psi") in (None, 1.0):
                old["truncation_psi"] = 1.0
                entry["card_untruncated"] = old
            card["layers_chosen_from"] = old.get("layers_chosen_from")
            entry["card"] = card
            entry.setdefault("timings_s", {})["card"] = round(time.perf_counter() - t, 1)
            print(format_card(d.name, card), flush=True)
            f.write_text(json.dumps(entry, indent=1))
        return

    shipped = []
    for d in fitted:
        f = parts / f"{d.name}.json"
        if not f.is_file():
            print(f"no measured part for {d.name} ({f}); run without --assemble first")
            report.setdefault("not_measured", []).append(d.name)  # never shipped without a card
            continue
        entry = json.loads(f.read_text())
        d = rebuild(d, entry)
        d.card = entry["card"]
        if (d.card["shipped"] and d.card["samples"] >= 500) or a.include_failing:
            shipped.append(d)
            report["directions"][d.name] = entry
        else:
            report["not_shipped"][d.name] = entry
            if d.card["samples"] >= 500 and d.card["monotone_share"] >= UNVERIFIED_SHARE:
                # a near miss is offered, never under the attribute's own name: <name>_unverified, card attached
                u = replace(d, name=f"{d.name}{UNVERIFIED_SUFFIX}", description=(
                    f"UNVERIFIED: monotone on {d.card['monotone_share']:.1%} of {d.card['samples']} held-out samples "
                    f"(< 90%, so not shipped as {d.name!r}); {d.description}"))
                shipped.append(u)
                report.setdefault("unverified", {})[u.name] = entry
    t = time.perf_counter()
    extra = disc.sefa(G, k=5) + disc.pca(G, k=5, samples=2000)
    report["timings_s"]["sefa_pca"] = round(time.perf_counter() - t, 2)
    bank = DirectionBank.for_generator(G, shipped + extra, description=(
        f"tools/make_editing_assets.py: conditional InterFaceGAN directions from {a.samples} labelled samples "
        f"(only those monotone on >=90% of {a.card_samples} held-out samples at truncation {psi:g}), SeFa 5, PCA 5"))
    bank.save(bank_path)
    report["bank"] = {"file": str(bank_path), "names": bank.names(), "fingerprint": bank.fingerprint}
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=1))
    print("bank:", ", ".join(bank.names()), "->", bank_path)
    print("not shipped:", ", ".join(report["not_shipped"]) or "(none)")


if __name__ == "__main__":
    main()
