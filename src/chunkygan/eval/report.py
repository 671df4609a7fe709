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
from .methods import MethodSpec, global_counterpart, untuned_counterpart
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
                    "wins": sum(c < g for g, c in pairs), "ties": sum(c == g for g, c in pairs),
                    "label": spec.label, "global_label": glob.label})
    return out


def tuning_wins(rows: list[dict], methods: list[MethodSpec], metric: str = "lpips") -> list[dict]:
    """For each tuned method (``w++pti``): on how many images it beats its untuned projection (``w+``)."""
    by = {(r["method"], r["image"]): r.get(metric) for r in rows}
    out = []
    for spec in methods:
        base = untuned_counterpart(spec, methods)
        if base is None:
            continue
        pairs = [(by[(base.spec, i)], v) for (m, i), v in by.items()
                 if m == spec.spec and v is not None and by.get((base.spec, i)) is not None]
        out.append({"method": spec.spec, "untuned": base.spec, "metric": metric, "images": len(pairs),
                    "wins": sum(t < u for u, t in pairs), "label": spec.label, "untuned_label": base.label})
    return out


def fidelity_table(rows: list[dict], methods: list[MethodSpec]) -> list[dict]:
    """One dict per method: ``method``, ``name`` (the paper's), ``n`` and ``mean``/``std``/``unscored`` per metric."""
    table = []
    for spec in methods:
        mine = [r for r in rows if r["method"] == spec.spec]
        entry = {"method": spec.spec, "label": spec.label, "name": spec.paper_name, "n": len(mine)}
        for key, _ in METRIC_COLUMNS:
            s = summarise(r.get(key) for r in mine)
            entry[key] = s
        table.append(entry)
    return table


def fidelity_markdown(table: list[dict], wins: list[dict], digits: int = 4, tuned: list[dict] | None = None) -> str:
    lines = ["| method | paper row | images | " + " | ".join(label for _, label in METRIC_COLUMNS) + " |",
             "|---|---|---|" + "---|" * len(METRIC_COLUMNS)]
    for e in table:
        cells = [e[k].format(digits) for k, _ in METRIC_COLUMNS]
        lines.append(f"| `{e.get('label', e['method'])}` | {e['name']} | {e['n']} | " + " | ".join(cells) + " |")
    lines += ["", f"Mean ± standard deviation over the images. LPIPS: v0.1 AlexNet at {LPIPS_RESOLUTION} px. Identity: "
              "1 − cos of ArcFace descriptors (FFHQ-template alignment). L2: mean squared error, "
              f"{L2_RANGE}. Lower is better everywhere."]
    if wins:
        lines += ["", "| segment-wise | global | images where segment-wise has the lower LPIPS |", "|---|---|---|"]
        for w in wins:
            lines.append(f"| `{w.get('label', w['method'])}` | `{w.get('global_label', w['global'])}` | "
                         f"{w['wins']} of {w['images']} |")
    if tuned:
        lines += ["", "| tuned (PTI) | untuned | images where tuning lowered the LPIPS |", "|---|---|---|"]
        for w in tuned:
            lines.append(f"| `{w['label']}` | `{w['untuned_label']}` | {w['wins']} of {w['images']} |")
        lines += ["", "A `+ pti` row is scored on its tuned reconstruction (reconstruction_pti.png); its projection is "
                  "the untuned row's (the same projection steps)."]
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
        chunky = [s for s in methods if s.chunky and s.space == space and s.pti is None]  # (Fig. 4: untuned)
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
            regs = sorted({s.lambda_reg for s in chunky if s.lambda_reg > 0})
            colour = "tab:orange" if spec.lambda_reg == 0 else plt.get_cmap("Blues")(
                0.5 + 0.5 * regs.index(spec.lambda_reg) / max(1, len(regs) - 1))  # λ_reg > 0: darker = stronger
            ax.scatter(xs, ys, s=22, color=colour, alpha=0.85, edgecolors="none",
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
        ax.legend(fontsize=7, loc="best")
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
    tuned = tuning_wins(rows, methods)
    files = {"results": write_jsonl(out / "results.jsonl", rows)}
    atomic_write_text(out / "table.md", fidelity_markdown(table, wins, tuned=tuned))
    atomic_write_text(out / "table.csv", fidelity_csv(table))
    atomic_write_text(out / "wins.json", json.dumps(wins + tuned, indent=2) + "\n")
    files.update(table_md=out / "table.md", table_csv=out / "table.csv", wins=out / "wins.json")
    files.update(scatter_plots(out, rows, methods))
    return files


# --- Table 2 -------------------------------------------------------------------------------------------

def editing_table(run, methods: list[MethodSpec], directions: list[str]) -> list[dict]:
    """One dict per method: for each direction the calibrated strength and ``Summary`` of (a) and (b)."""
    edits = [r for r in run.rows if r.get("kind") == "edit"]
    table = []
    for spec in methods:
        entry = {"method": spec.spec, "name": spec.paper_name}
        for d in directions:
            mine = [r for r in edits if r["method"] == spec.spec and r["direction"] == d]
            cal = run.calibrations.get(d)
            strength = None if cal is None else cal.strengths.get(spec.spec)
            scored = mine if strength is not None else []  # no calibrated strength: the cell says "—"
            entry[d] = {
                "strength": strength,
                "a": summarise(r.get("identity_projected") for r in scored) if scored else None,
                "b": summarise(r.get("identity_original") for r in scored) if scored else None,
            }
        table.append(entry)
    return table


def editing_markdown(run, table: list[dict], directions: list[str], digits: int = 3) -> str:
    head = " | ".join(f"(a) {d}" for d in directions) + " | " + " | ".join(f"(b) {d}" for d in directions)
    lines = [f"| method | paper row | {head} |", "|---|---|" + "---|" * (2 * len(directions))]

    def cell(c):
        return "—" if c is None else c.format(digits)

    for e in table:
        a = [cell(e[d]["a"]) for d in directions]
        b = [cell(e[d]["b"]) for d in directions]
        lines.append(f"| `{e['method']}` | {e['name']} | " + " | ".join(a + b) + " |")
    lines += ["", "Identity distance (1 − cos of ArcFace descriptors, mean ± std over the images) between the projected "
              "and the edited image (a) and between the original photo and the edited image (b), after a global edit "
              "whose strength is calibrated per method so that the direction's labeller changes by the same amount "
              "(Sec. 4.2). Lower is better.", "",
              "| method | " + " | ".join(f"strength {d}" for d in directions) + " |", "|---|" + "---|" * len(directions)]
    for e in table:
        vals = ["—" if e[d]["strength"] is None else f"{e[d]['strength']:.3f}" for d in directions]
        lines.append(f"| `{e['method']}` | " + " | ".join(vals) + " |")
    notes = []
    for d in directions:
        if d in run.skipped_directions:
            notes.append(f"* **{d}** is empty: {run.skipped_directions[d]}")
        cal = run.calibrations.get(d)
        if cal is not None:
            if cal.effect is not None:
                ref = "the median rate" if cal.reference == "median" else f"the rate of `{cal.reference}`"
                notes.append(f"* **{d}**: target effect {cal.effect:+.4f} labeller units ({ref} times the reference "
                             "strength); rates per unit strength: "
                             + ", ".join(f"`{m}` {'n/a' if r is None else f'{r:+.4f}'}" for m, r in cal.rates.items()))
            for m, note in cal.notes.items():
                notes.append(f"  * `{m}`: {note}")
    if notes:
        lines += [""] + notes
    return "\n".join(lines) + "\n"


def editing_csv(table: list[dict], directions: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols = ["method", "paper_row"]
    for d in directions:
        cols += [f"{d}_strength", f"{d}_a_mean", f"{d}_a_std", f"{d}_b_mean", f"{d}_b_std", f"{d}_unscored"]
    w.writerow(cols)
    for e in table:
        row = [e["method"], e["name"]]
        for d in directions:
            c = e[d]
            a, b = c["a"], c["b"]
            row += ["" if c["strength"] is None else f"{c['strength']:.6f}",
                    _num(a.mean) if a else "", _num(a.std) if a else "", _num(b.mean) if b else "",
                    _num(b.std) if b else "", (a.failed + b.failed) if a and b else ""]
        w.writerow(row)
    return buf.getvalue()


def calibration_plot(path: Path, run, methods: list[MethodSpec]) -> Path | None:
    """Mean labeller score against edit strength per method, with the fitted rate and the calibrated strength."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dirs = list(run.calibrations)
    if not dirs:
        return None
    fig, axes = plt.subplots(1, len(dirs), figsize=(4.2 * len(dirs), 3.6), dpi=120, squeeze=False)
    sweeps = [r for r in run.rows if r.get("kind") == "sweep"]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, d in zip(axes[0], dirs):
        cal = run.calibrations[d]
        for k, spec in enumerate(methods):
            mine = [r for r in sweeps if r["direction"] == d and r["method"] == spec.spec]
            if not mine:
                continue
            xs = mine[0]["strengths"]
            means = []
            for j in range(len(xs)):
                v = [r["scores"][j] for r in mine if r["scores"][j] is not None]
                means.append(sum(v) / len(v) if v else float("nan"))
            c = colours[k % len(colours)]
            ax.plot(xs, means, "o", color=c, ms=4)
            rate = cal.rates.get(spec.spec)
            ok = [(x, m) for x, m in zip(xs, means) if not math.isnan(m)]
            if rate is not None and ok:
                x0 = sum(x for x, _ in ok) / len(ok)
                y0 = sum(m for _, m in ok) / len(ok)
                ax.plot([xs[0], xs[-1]], [y0 + rate * (xs[0] - x0), y0 + rate * (xs[-1] - x0)], "-", color=c, lw=1,
                        label=f"{spec.spec}: {rate:+.3f}/unit")
                s = cal.strengths.get(spec.spec)
                if s is not None:
                    ax.axvline(s, color=c, ls=":", lw=1)
        ax.set_title(f"{d}: labeller score vs edit strength")
        ax.set_xlabel("edit strength (dotted: calibrated)")
        ax.set_ylabel(f"{d} score (mean over images)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def write_editing_reports(out_dir: Path, run, methods: list[MethodSpec], directions: list[str]) -> dict[str, Path]:
    """``editing/results.jsonl``, ``table2.md``, ``table2.csv``, ``calibration.json`` and ``calibration.png``."""
    out = Path(out_dir)
    run.table = editing_table(run, methods, directions)
    files = {"results": write_jsonl(out / "editing" / "results.jsonl", run.rows)}
    atomic_write_text(out / "table2.md", editing_markdown(run, run.table, directions))
    atomic_write_text(out / "table2.csv", editing_csv(run.table, directions))
    cal = {d: {"effect": c.effect, "reference": c.reference, "rates": c.rates, "strengths": c.strengths, "notes": c.notes}
           for d, c in run.calibrations.items()}
    cal["_skipped"] = run.skipped_directions
    atomic_write_text(out / "calibration.json", json.dumps(cal, indent=2, sort_keys=True) + "\n")
    files.update(table2_md=out / "table2.md", table2_csv=out / "table2.csv", calibration=out / "calibration.json")
    plot = calibration_plot(out / "calibration.png", run, methods)
    if plot is not None:
        files["calibration_plot"] = plot
    return files


__all__ = ["write_fidelity_reports", "write_editing_reports", "fidelity_table", "fidelity_markdown", "fidelity_csv", "win_counts",
           "tuning_wins",
           "scatter_plots", "write_jsonl"]
