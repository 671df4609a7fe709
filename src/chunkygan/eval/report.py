"""Tables, win counts and plots of the evaluation (Table 1, Fig. 4, Table 2), written atomically.

Table 1 layout: one row per method, columns LPIPS, identity and L2, each cell ``mean ± std`` over the
images (rows whose identity could not be scored are counted in the cell, never silently dropped).
Fig. 4: for each latent space, global LPIPS (x) against segment-wise LPIPS (y), one point per image,
coloured by λ_reg, with the equality line; points below the line are images where segment-wise wins.
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from ..fileio import atomic_path, atomic_write_text
from .methods import MethodSpec, global_counterpart
from .metrics import L2_RANGE, LPIPS_RESOLUTION, summarise

METRIC_COLUMNS = (("lpips", "LPIPS"), ("identity", "identity"), ("l2", "L2"))
_SPACE_FILE = {"z": "z", "w": "w", "w+": "wplus", "s": "s"}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return path


def win_counts(rows: list[dict], methods: list[MethodSpec], metric: str = "lpips") -> list[dict]:
    """For each segment-wise method: on how many images it beats (is lower than) its global counterpart."""
    by = {(r["method"], r["image"]): r for r in rows}
    out = []
    for spec in methods:
        glob = global_counterpart(spec, methods) if spec.chunky else None
        if glob is None:
            continue
        images = sorted({img for (m, img) in by if m == spec.spec} & {img for (m, img) in by if m == glob.spec})
        pairs = [(by[(glob.spec, i)].get(metric), by[(spec.spec, i)].get(metric)) for i in images]
        pairs = [(g, c) for g, c in pairs if g is not None and c is not None]
        out.append({"method": spec.spec, "global": glob.spec, "metric": metric, "images": len(pairs),
                    "wins": sum(c < g for g, c in pairs), "ties": sum(c == g for g, c in pairs)})
    return out


def fidelity_table(rows: list[dict], methods: list[MethodSpec]) -> list[dict]:
    """One dict per method: ``method``, ``name`` (the paper's), ``n`` and ``mean``/``std``/``unscored`` per metric."""
    table = []
    for spec in methods:
        mine = [r for r in rows if r["method"] == spec.spec]
        entry = {"method": spec.spec, "name": spec.paper_name, "n": len(mine)}
        for key, _ in METRIC_COLUMNS:
            s = summarise(r.get(key) for r in mine)
            entry[key] = s
        table.append(entry)
    return table


def fidelity_markdown(table: list[dict], wins: list[dict], digits: int = 4) -> str:
    lines = ["| method | paper row | images | " + " | ".join(label for _, label in METRIC_COLUMNS) + " |",
             "|---|---|---|" + "---|" * len(METRIC_COLUMNS)]
    for e in table:
        cells = [e[k].format(digits) for k, _ in METRIC_COLUMNS]
        lines.append(f"| `{e['method']}` | {e['name']} | {e['n']} | " + " | ".join(cells) + " |")
    lines += ["", f"Mean ± standard deviation over the images. LPIPS: v0.1 AlexNet at {LPIPS_RESOLUTION} px. Identity: "
              "1 − cos of ArcFace descriptors (FFHQ-template alignment). L2: mean squared error, "
              f"{L2_RANGE}. Lower is better everywhere."]
    if wins:
        lines += ["", "| segment-wise | global | images where segment-wise has the lower LPIPS |", "|---|---|---|"]
        for w in wins:
            lines.append(f"| `{w['method']}` | `{w['global']}` | {w['wins']} of {w['images']} |")
    return "\n".join(lines) + "\n"


def fidelity_csv(table: list[dict]) -> str:
    buf = io.StringIO()
    cols = ["method", "paper_row", "images"]
    for k, _ in METRIC_COLUMNS:
        cols += [f"{k}_mean", f"{k}_std", f"{k}_unscored"]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for e in table:
        row = [e["method"], e["name"], e["n"]]
        for k, _ in METRIC_COLUMNS:
            s = e[k]
            row += [_num(s.mean), _num(s.std), s.failed]
        w.writerow(row)
    return buf.getvalue()


def _num(v: float) -> str:
    return "" if v is None or math.isnan(v) else f"{v:.6f}"


def scatter_plots(out_dir: Path, rows: list[dict], methods: list[MethodSpec]) -> dict[str, Path]:
    """Fig. 4: one PNG per space with both a global and a segment-wise method (``fig4_<space>.png``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = {(r["method"], r["image"]): r.get("lpips") for r in rows}
    files = {}
    for space in dict.fromkeys(s.space for s in methods):
        chunky = [s for s in methods if s.chunky and s.space == space]
        glob = global_counterpart(chunky[0], methods) if chunky else None
        if glob is None:
            continue
        fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=120)
        lo, hi = math.inf, -math.inf
        for spec in chunky:
            pts = [(by[(glob.spec, img)], v) for (m, img), v in by.items()
                   if m == spec.spec and by.get((glob.spec, img)) is not None and v is not None]
            if not pts:
                continue
            xs, ys = zip(*pts)
            lo, hi = min(lo, *xs, *ys), max(hi, *xs, *ys)
            colour = "tab:blue" if spec.lambda_reg > 0 else "tab:orange"
            ax.scatter(xs, ys, s=22, c=colour, alpha=0.85, edgecolors="none",
                       label=f"{spec.spec} (λ_reg = {spec.lambda_reg:g})")
        if lo is math.inf:
            plt.close(fig)
            continue
        pad = 0.05 * (hi - lo or 1.0)
        lo, hi = lo - pad, hi + pad
        ax.plot([lo, hi], [lo, hi], color="red", lw=1, label="equal LPIPS")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_xlabel(f"global {glob.spec}: LPIPS")
        ax.set_ylabel("segment-wise: LPIPS")
        ax.set_title(f"{glob.paper_name} space, one point per image")
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        path = out_dir / f"fig4_{_SPACE_FILE[space]}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        files[f"fig4_{_SPACE_FILE[space]}"] = path
    return files


def write_fidelity_reports(out_dir: Path, rows: list[dict], methods: list[MethodSpec]) -> dict[str, Path]:
    """``results.jsonl``, ``table.md``, ``table.csv``, ``wins.json`` and the Fig. 4 PNGs."""
    out = Path(out_dir)
    table = fidelity_table(rows, methods)
    wins = win_counts(rows, methods)
    files = {"results": write_jsonl(out / "results.jsonl", rows)}
    atomic_write_text(out / "table.md", fidelity_markdown(table, wins))
    atomic_write_text(out / "table.csv", fidelity_csv(table))
    atomic_write_text(out / "wins.json", json.dumps(wins, indent=2) + "\n")
    files.update(table_md=out / "table.md", table_csv=out / "table.csv", wins=out / "wins.json")
    files.update(scatter_plots(out, rows, methods))
    return files


__all__ = ["write_fidelity_reports", "fidelity_table", "fidelity_markdown", "fidelity_csv", "win_counts",
           "scatter_plots", "write_jsonl"]
