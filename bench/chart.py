#!/usr/bin/env python3
"""Chart the results bench/run wrote with --json: two PNG files of grouped
bars, one group per benchmark and one bar per allocator.

  DIR/NAME-time.png   median time of each allocator / the reference's
  DIR/NAME-rss.png    median peak RSS of each allocator / the reference's

The reference is glibc when it ran (the allocator every reader has), else
cistern (--base picks another); below 1 is faster, or less memory.  A last
group gives the geometric mean over the benchmarks where both succeeded,
as bench/run's suite table does.  mass_free gets a second RSS group for
the memory still resident after its idle wait, which is what it measures.

The figures plotted are printed as a table too.  Missing bars are failed
runs, listed under the chart.  gnuplot draws the charts; without it the
table is still printed and the exit status is 3.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

# Extra RSS groups: (benchmark, figure in median_metrics, group label).
RSS_EXTRA = [("mass_free", "rss_idle_kb", "mass_free\n(idle)")]

# One colour per allocator, fixed so that charts of different runs compare
# at a glance; others take the fallbacks in turn.
COLOURS = {"glibc": "#888888", "jemalloc": "#1f77b4", "tcmalloc": "#2ca02c",
           "mimalloc": "#9467bd", "cistern": "#d62728"}
FALLBACK = ["#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def load(path):
    with open(path) as f:
        doc = json.load(f)
    if "benchmarks" not in doc or "meta" not in doc:
        sys.exit(f"{path}: not a bench/run --json file")
    return doc


def allocators(doc):
    seen = list(doc["meta"].get("allocators", {}))
    for per in doc["benchmarks"].values():
        seen += [a for a in per if a not in seen]
    return seen


def figure(summary, key):
    """One allocator's median for key ('time', 'rss' or a metric), or None."""
    if not summary or not summary.get("ok"):
        return None
    if key == "time":
        v = summary.get("median_time")
    elif key == "rss":
        v = summary.get("median_rss_kb")
    else:
        v = summary.get("median_metrics", {}).get(key)
    return v if isinstance(v, (int, float)) and v > 0 else None


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def ratios(doc, allocs, base, kind):
    """[(group label, {allocator: ratio or None})], the geometric mean last.
    The mean counts one figure per benchmark (the extra RSS groups stay
    out of it), so it matches bench/run's suite table."""
    groups, primary = [], []
    for bench, per in doc["benchmarks"].items():
        keys = [(bench, kind)]
        if kind == "rss":
            keys += [(label, metric) for b, metric, label in RSS_EXTRA if b == bench]
        for label, key in keys:
            ref = figure(per.get(base), key)
            row = {}
            for a in allocs:
                v = figure(per.get(a), key)
                row[a] = v / ref if v is not None and ref is not None else None
            groups.append((label, row))
            if key == kind:
                primary.append(row)
    mean = {a: geomean([row[a] for row in primary if row[a] is not None]) for a in allocs}
    groups.append(("geomean", mean))
    return groups


def log_tics(lo, hi):
    """Round ratios between lo and hi, for a log axis with few labels."""
    steps = [1 / 16, 1 / 8, 1 / 4, 1 / 2, 3 / 4, 1, 1.5, 2, 3, 4, 6, 8, 16, 32, 64]
    return ", ".join(f"\"{t:g}\" {t}" for t in steps if lo <= t <= hi)


def failures(doc, allocs):
    out = []
    for bench, per in doc["benchmarks"].items():
        for a in allocs:
            s = per.get(a)
            if s and s.get("failed"):
                out.append(f"{a} on {bench} ({s['failed']}/{len(s.get('runs', []))} runs)")
    return out


def print_table(title, groups, allocs):
    print(f"\n== {title}")
    print(f"{'benchmark':<16}" + "".join(f"{a:>10}" for a in allocs))
    for label, row in groups:
        cells = "".join(f"{row[a]:>10.2f}" if row[a] is not None else f"{'-':>10}"
                        for a in allocs)
        print(f"{label.replace(chr(10), ' '):<16}{cells}")


def gp_quote(s):
    """A gnuplot double-quoted string (where \\n is a line break)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def plot(groups, allocs, base, what, subtitle, note, out_png, gnuplot):
    values = [row[a] for _, row in groups for a in allocs if row[a] is not None]
    if not values:
        return False
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as dat:
        for label, row in groups:
            cells = " ".join(f"{row[a]:.4f}" if row[a] is not None else "NaN" for a in allocs)
            dat.write(f"{gp_quote(label.replace(chr(10), ' '))} {cells}\n")
    # Wide spreads (a peer 10x slower somewhere) would flatten every other
    # bar on a linear axis: use a log axis then, on which twice as slow and
    # twice as fast sit equally far from 1.
    lo, hi = min(values), max(values)
    log = hi / lo > 6
    width = max(900, 110 * len(groups) + 200)
    colours = dict(COLOURS)
    spare = iter(FALLBACK)
    for a in allocs:
        colours.setdefault(a, next(spare, "#444444"))
    labels = ", ".join(f"{gp_quote(label)} {i}" for i, (label, _) in enumerate(groups))
    series = ", ".join(
        f"{gp_quote(dat.name)} using {i + 2} title {gp_quote(a)} lc rgb {gp_quote(colours[a])}"
        for i, a in enumerate(allocs))
    script = f"""
set terminal pngcairo size {width},560 font "DejaVu Sans,10" noenhanced
set output {gp_quote(out_png)}
set title {gp_quote(f"{what} relative to {base} (lower is better)" + chr(10) + subtitle)}
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border rgb "#333333"
set boxwidth 0.9
set datafile missing "NaN"
set key outside right top vertical
set grid ytics lc rgb "#dddddd"
set xtics ({labels}) nomirror
set ylabel {gp_quote(f"{what} / {base}")}
{f"set logscale y 2; set ytics ({log_tics(lo / 1.3, hi * 1.15)})" if log else "unset logscale y"}
set yrange [{(lo / 1.3) if log else 0}:{hi * 1.15}]
set xrange [-0.6:{len(groups) - 0.4}]
set bmargin {6 if note else 4}
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.5 lc rgb "#000000" front
{f"set label {gp_quote(note)} at screen 0.01, screen 0.02 font ',9'" if note else ""}
plot {series}
"""
    try:
        done = subprocess.run([gnuplot], input=script, text=True).returncode == 0
    finally:
        os.unlink(dat.name)
    if not done:
        print(f"chart: gnuplot failed on {out_png}", file=sys.stderr)
    return done


def main():
    ap = argparse.ArgumentParser(description="Chart bench/run --json results as PNG bar charts.")
    ap.add_argument("json", help="results written by bench/run --json FILE")
    ap.add_argument("--base", help="allocator the others are divided by "
                                   "(default: glibc when it ran, else cistern)")
    ap.add_argument("--outdir", help="where the PNG files go (default: bench/results "
                                     "next to this script)")
    ap.add_argument("--name", help="file name stem (default: the run's date, "
                                   "YYYY-MM-DD-HHMM)")
    args = ap.parse_args()

    doc = load(args.json)
    meta = doc["meta"]
    allocs = allocators(doc)
    base = args.base or next((a for a in ("glibc", "cistern") if a in allocs), None)
    if base not in allocs:
        sys.exit(f"no results for '{base}' to compare with (allocators: {', '.join(allocs)})")

    stem = args.name
    if not stem:
        try:
            stem = time.strftime("%Y-%m-%d-%H%M", time.strptime(meta["date"][:19],
                                                                 "%Y-%m-%dT%H:%M:%S"))
        except (KeyError, ValueError):
            stem = time.strftime("%Y-%m-%d-%H%M")
    outdir = args.outdir or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

    time_groups = ratios(doc, allocs, base, "time")
    rss_groups = ratios(doc, allocs, base, "rss")
    print_table(f"median time / {base}'s", time_groups, allocs)
    print_table(f"median peak RSS / {base}'s", rss_groups, allocs)

    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        print("\nchart: gnuplot not found (Debian: apt-get install gnuplot-nox); "
              "no PNG written", file=sys.stderr)
        return 3
    os.makedirs(outdir, exist_ok=True)
    quick = " - quick run, not a measurement" if meta.get("scale", 1) < 1 and meta.get("reps") == 1 else ""
    subtitle = (f"{meta.get('date', '?')[:16].replace('T', ' ')}, {meta.get('host', '?')}, "
                f"{meta.get('cpus', '?')} CPUs, {meta.get('reps', '?')} rep(s), "
                f"BENCH_SCALE={meta.get('scale', '?')}{quick}")
    failed = failures(doc, allocs)
    note = ("no bar: failed runs: " + "; ".join(failed)) if failed else ""
    written = []
    for kind, groups, what in (("time", time_groups, "time"), ("rss", rss_groups, "peak RSS")):
        png = os.path.join(outdir, f"{stem}-{kind}.png")
        if plot(groups, allocs, base, what, subtitle, note, png, gnuplot):
            written.append(png)
    print()
    for png in written:
        print(f"chart: {png}")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
