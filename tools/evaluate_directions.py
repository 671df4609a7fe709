"""How strongly and how reliably bundled directions change what a face labeller measures.

For N random W (or Z) codes of a built-in generator (seeded, disjoint from the seeds the boundaries
were fitted on), each direction is applied globally at strengths -2, -1, 0, 1, 2; the labeller of the
same name (face extra) scores every image. Prints the mean score per strength and the share of
samples whose score rises monotonically with the strength (a sample counts only if the labeller read
all five images). Optionally refits the linear boundary from more labelled samples for comparison.

Run: ``.venv/bin/python tools/evaluate_directions.py [--generator NAME] [--names smile yaw]
[--samples 200] [--refit 1000 3000]``.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

STRENGTHS = (-2.0, -1.0, 0.0, 1.0, 2.0)


def evaluate(G, direction, labeller, codes: torch.Tensor, space: str, batch: int = 50) -> dict:
    """Mean labeller score per strength and the monotone share over ``codes`` ``[N, ...]``."""
    from chunkygan.edit.directions import apply_edits

    per = []
    for s in STRENGTHS:
        with torch.no_grad():
            moved = apply_edits(G, codes, space, [(direction, s)])
            imgs = torch.cat([G(moved[i:i + batch]) if space == "z" else G.synthesis(moved[i:i + batch])
                              for i in range(0, len(moved), batch)])
        per.append(torch.as_tensor(labeller(imgs)).float().reshape(-1))
    per = torch.stack(per)  # [5, N]
    ok = torch.isfinite(per).all(0)
    rising = ((per[1:, ok] - per[:-1, ok]) > 0).all(0).float().mean()
    return {"mean_score": [round(float(torch.nanmean(p)), 4) for p in per],
            "monotone_share": round(float(rising), 3), "read_by_labeller": int(ok.sum()), "samples": int(len(ok))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--generator", default=None, help="built-in generator (default: the default generator)")
    ap.add_argument("--names", nargs="+", default=["smile", "yaw"])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--seed", type=int, default=123, help="seed of the evaluation codes (the bank used seed 1)")
    ap.add_argument("--refit", type=int, nargs="*", default=[], help="also refit each boundary from N samples")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from chunkygan.edit import discover as disc
    from chunkygan.edit.directions import load_bank_for
    from chunkygan.face.labellers import labeller
    from chunkygan.generators import default_generator_name, load_generator

    G = load_generator(a.generator or default_generator_name())
    bank = load_bank_for(G.name)
    space = "w" if "w" in G.spaces else "z"
    lat = disc.sample_latents(G, a.samples, space, a.seed)
    codes, code_space = (lat, "z") if space == "z" else (lat.unsqueeze(1).expand(-1, G.num_ws, -1).contiguous(), "w+")
    report = {"generator": G.name, "strengths": list(STRENGTHS), "directions": {}}
    for name in a.names:
        lab = labeller(name, missing="nan")
        rows = {"bundled": {"description": bank[name].description,
                            **evaluate(G, bank[name], lab, codes, code_space)}}
        for n in a.refit:
            t = time.perf_counter()
            d = disc.linear_boundary(G, lab, name, samples=n, seed=1)
            rows[f"refit_{n}"] = {"description": d.description, "fit_seconds": round(time.perf_counter() - t, 1),
                                  **evaluate(G, d, lab, codes, code_space)}
        report["directions"][name] = rows
        print(json.dumps({name: rows}, indent=1), flush=True)


if __name__ == "__main__":
    main()
