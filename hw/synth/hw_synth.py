#!/usr/bin/env python3
"""Synthesizes the RTL in hw/rtl with yosys and writes the area table of docs/hardware.md.

Every design is synthesized twice in one yosys run: `synth_xilinx -flatten -noiopad` (7-series LUTs,
flip-flops, CARRY4, DSP48E1) and the technology-independent `synth -flatten; dfflegalize; abc -g cmos2`
(plain D flip-flops, their enables and resets turned into gates, and NAND/NOR/NOT gates; `stat -tech
cmos` transistor estimate: 4 per NAND2/NOR2, 2 per inverter, 16 per flip-flop; for single units also `ltp -noff`, the
longest topological path in gates: a timing proxy). Results are cached per design in OUT/raw, so a rerun
only synthesizes what is missing. Writes OUT/synthesis.csv, OUT/hardware_table.md, OUT/supply_share.svg.
"""
import argparse
import concurrent.futures as futures
import csv
import html
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RTL = os.path.normpath(os.path.join(HERE, "..", "rtl"))
FORMATS = {0: "fixed:8:4", 1: "bf16", 2: "e4m3", 3: "e5m2"}
FEEDS = {1: "lfsr-lane", 2: "xoshiro-words", 3: "lfsr64-shared", 4: "philox-shared",
         5: "harvest-raw", 6: "harvest-field", 7: "harvest-sum3", 8: "harvest-field8", 9: "harvest-sum4"}


def designs(lanes, r_bits):
    """(name, kind, top, params, detail) for every design of the table."""
    out = []
    for fmt, fname in FORMATS.items():  # one SR / RNE lane per format and R
        for r in (3, 8, 16):
            out.append((f"unit {fname} SR R={r}", "unit", "sr_array",
                        {"N": 1, "FMT": fmt, "R": r, "FEED": 0}, dict(format=fname, rounding=f"SR R={r}", n=1)))
        out.append((f"unit {fname} RNE", "unit", "sr_array", {"N": 1, "FMT": fmt, "R": 1, "FEED": 0, "RNE": 1},
                    dict(format=fname, rounding="RNE", n=1)))
    for w in (8, 16, 32, 64):
        out.append((f"source lfsr:{w}", "source", "lfsr_galois", {"W": w}, dict(source=f"lfsr:{w}")))
    out.append(("source xorshift32", "source", "xorshift32", {}, dict(source="xorshift32")))
    out.append(("source xoshiro128pp", "source", "xoshiro128pp", {}, dict(source="xoshiro128pp")))
    out.append(("source philox round-serial", "source", "philox_serial", {}, dict(source="philox serial")))
    out.append(("source philox unrolled", "source", "philox_unrolled", {}, dict(source="philox unrolled")))
    for lo, hi, k, mix, label in ((8, 23, 1, 1, "bits 8-23 field"), (8, 23, 3, 1, "bits 8-23 x3 field"),
                                  (8, 23, 4, 1, "bits 8-23 x4 field"),
                                  (0, 15, 1, 0, "bits 0-15 none")):
        out.append((f"source harvest {label}", "source", "harvest_extract", {"LO": lo, "HI": hi, "K": k, "MIX": mix},
                    dict(source=f"harvest {label}")))
    for n in lanes:
        for fmt in (0, 1):
            out.append((f"round {FORMATS[fmt]} N={n}", "round", "sr_array",
                        {"N": n, "FMT": fmt, "R": r_bits, "FEED": 0}, dict(format=FORMATS[fmt], n=n)))
        for feed, fname in FEEDS.items():
            if feed == 4:  # one unrolled Philox whatever N (slicing is wiring): the source row, not resynthesized
                continue
            out.append((f"supply {fname} N={n}", "supply", "rand_supply", {"N": n, "R": r_bits, "FEED": feed},
                        dict(feed=fname, n=n)))
    return out


def yosys_script(top, params, raw_base, depth):
    files = " ".join(sorted(os.path.join(RTL, f) for f in os.listdir(RTL) if f.endswith(".v")))
    sets = " ".join(f"-set {k} {v}" for k, v in params.items())
    lines = [f"read_verilog {files}"]
    if sets:
        lines.append(f"chparam {sets} {top}")
    lines += [f"hierarchy -top {top}", "design -save base",
              f"synth_xilinx -flatten -noiopad -family xc7 -top {top}", f"tee -q -o {raw_base}.xilinx.txt stat",
              "design -load base", f"synth -flatten -top {top}", "dfflegalize -cell $_DFF_P_ 01", "abc -g cmos2", "opt_clean",
              f"tee -q -o {raw_base}.cmos.txt stat -tech cmos"]
    if depth:
        lines.append(f"tee -q -o {raw_base}.ltp.txt ltp -noff")
    return "\n".join(lines) + "\n"


def parse(raw_base):
    res = {"luts": 0, "ffs": 0, "carry4": 0, "dsp": 0, "muxf": 0, "srl": 0, "gates": 0, "cmos_ffs": 0,
           "transistors": None, "depth": None}
    with open(raw_base + ".xilinx.txt") as f:
        for line in f:
            m = re.match(r"\s+(\S+)\s+(\d+)\s*$", line)
            if not m:
                continue
            cell, count = m.group(1), int(m.group(2))
            if re.fullmatch(r"LUT\d", cell):
                res["luts"] += count
            elif re.fullmatch(r"FD\w*", cell):
                res["ffs"] += count
            elif cell == "CARRY4":
                res["carry4"] += count
            elif cell.startswith("DSP48"):
                res["dsp"] += count
            elif cell.startswith("MUXF"):
                res["muxf"] += count
            elif cell.startswith("SRL"):
                res["srl"] += count
    with open(raw_base + ".cmos.txt") as f:
        for line in f:
            m = re.match(r"\s+\$_(\w+)_\s+(\d+)\s*$", line)
            if m:
                if m.group(1) == "DFF_P":
                    res["cmos_ffs"] += int(m.group(2))
                else:
                    res["gates"] += int(m.group(2))
            m = re.search(r"Estimated number of transistors:\s+(\d+)", line)
            if m:
                res["transistors"] = int(m.group(1))
    if os.path.exists(raw_base + ".ltp.txt"):
        with open(raw_base + ".ltp.txt") as f:
            m = re.search(r"length=(\d+)", f.read())
            res["depth"] = int(m.group(1)) if m else None
    return res


def raw_base(raw_dir, name):
    return os.path.join(raw_dir, re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_"))


def run_one(design, raw_dir, timeout):
    name, kind, top, params, _ = design
    base = raw_base(raw_dir, name)
    if os.path.exists(base + ".json"):
        with open(base + ".json") as f:
            return name, json.load(f)
    script = yosys_script(top, params, base, depth=kind in ("unit", "source"))
    with open(base + ".ys", "w") as f:
        f.write(script)
    start = time.time()
    proc = subprocess.run(["yosys", "-q", "-l", base + ".log", "-s", base + ".ys"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"yosys failed on '{name}' (see {base}.log): {proc.stderr[-2000:]}")
    res = parse(base)
    res["seconds"] = round(time.time() - start, 1)
    with open(base + ".json", "w") as f:
        json.dump(res, f)
    return name, res


def fmt_num(v):
    return "–" if v is None else f"{v:,}"


def write_outputs(out_dir, table, lanes, r_bits):
    rows = []
    for name, kind, top, params, detail in table["designs"]:
        res = table["results"].get(name)
        if res:
            rows.append(dict(name=name, kind=kind, top=top, params=" ".join(f"{k}={v}" for k, v in sorted(params.items())), **res))
    keys = ["name", "kind", "top", "params", "luts", "ffs", "carry4", "dsp", "muxf", "srl", "gates", "cmos_ffs",
            "transistors", "depth", "seconds"]
    with open(os.path.join(out_dir, "synthesis.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    by = {r["name"]: r for r in rows}
    if "source philox unrolled" in by:  # philox-shared: that one instance for every N
        for n in lanes:
            by[f"supply philox-shared N={n}"] = by["source philox unrolled"]
    # A rounding array not synthesized (too slow for the run) is N independent lanes: scale the largest
    # smaller array measured, and mark it (the measured arrays show the scaling is linear).
    for fmt in ("fixed:8:4", "bf16"):
        done = [n for n in lanes if f"round {fmt} N={n}" in by]
        for n in lanes:
            smaller = [m for m in done if m < n]
            if f"round {fmt} N={n}" not in by and smaller:
                base = by[f"round {fmt} N={max(smaller)}"]
                k = n // max(smaller)
                by[f"round {fmt} N={n}"] = dict({key: v * k if isinstance(v, int) else v for key, v in base.items()},
                                                derived=f"{k} x N={max(smaller)}")
    md = ["# Synthesis results (generated by scripts/hw.sh; " + table["yosys"] + ")", ""]
    md += ["## Single units (one lane, combinational)", "",
           "| unit | LUTs | CARRY4 | gates (NAND/NOR/NOT) | transistors | depth (gates) |", "|---|---|---|---|---|---|"]
    for name, kind, *_ in table["designs"]:
        if kind == "unit" and name in by:
            r = by[name]
            md.append(f"| {name[5:]} | {r['luts']} | {r['carry4']} | {fmt_num(r['gates'])} | {fmt_num(r['transistors'])} "
                      f"| {fmt_num(r['depth'])} |")
    md += ["", "## Random sources (one instance)", "",
           "| source | LUTs | FFs | CARRY4 | DSP48 | gates | FFs (generic) | transistors | depth (gates) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name, kind, *_ in table["designs"]:
        if kind == "source" and name in by:
            r = by[name]
            md.append(f"| {name[7:]} | {r['luts']} | {r['ffs']} | {r['carry4']} | {r['dsp']} | {fmt_num(r['gates'])} "
                      f"| {r['cmos_ffs']} | {fmt_num(r['transistors'])} | {fmt_num(r['depth'])} |")
    md += ["", f"## N-lane arrays, R = {r_bits}: rounding logic and random supply", "",
           "Transistors are `stat -tech cmos` estimates of the generic netlist (flip-flops included). "
           "Share = supply / (supply + rounding) for the format named.", ""]
    for fmt in ("fixed:8:4", "bf16"):
        md += [f"### {fmt}", "",
               "| N | feeding | supply LUTs | supply FFs | supply DSP | supply transistors | rounding LUTs "
               "| rounding transistors | supply share (transistors) | supply share (LUTs+FFs) |",
               "|---|---|---|---|---|---|---|---|---|---|"]
        for n in lanes:
            rd = by.get(f"round {fmt} N={n}")
            for feed in FEEDS.values():
                s = by.get(f"supply {feed} N={n}")
                if not rd or not s:
                    continue
                share_t = s["transistors"] / (s["transistors"] + rd["transistors"])
                cells_s = s["luts"] + s["ffs"]
                share_l = cells_s / (cells_s + rd["luts"] + rd["ffs"])
                mark = f" ({rd['derived']})" if rd.get("derived") else ""
                md.append(f"| {n} | {feed} | {s['luts']:,} | {s['ffs']:,} | {s['dsp']} | {s['transistors']:,} "
                          f"| {rd['luts']:,}{mark} | {rd['transistors']:,}{mark} | {100 * share_t:.1f} % "
                          f"| {100 * share_l:.1f} % |")
        md.append("")
    md += ["## What harvesting saves", "",
           "Saving of the whole array's transistors (random supply + rounding lanes) when a harvested feed "
           "replaces a generator feed: (T_generator - T_harvest) / T_generator-array. Negative: harvesting "
           "costs more.", "",
           "| format | N | instead of | harvest-raw | harvest-field | harvest-sum3 | harvest-sum4 | harvest-field8 |",
           "|---|---|---|---|---|---|---|---|"]
    for fmt in ("fixed:8:4", "bf16"):
        for n in lanes:
            rd = by.get(f"round {fmt} N={n}")
            if not rd:
                continue
            for base in ("lfsr-lane", "xoshiro-words", "lfsr64-shared", "philox-shared"):
                b = by.get(f"supply {base} N={n}")
                if not b:
                    continue
                total = b["transistors"] + rd["transistors"]
                cells = []
                for h in ("harvest-raw", "harvest-field", "harvest-sum3", "harvest-sum4", "harvest-field8"):
                    hv = by.get(f"supply {h} N={n}")
                    cells.append("–" if not hv else f"{100 * (b['transistors'] - hv['transistors']) / total:+.1f} %")
                md.append(f"| {fmt} | {n} | {base} | " + " | ".join(cells) + " |")
    md.append("")
    with open(os.path.join(out_dir, "hardware_table.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    write_chart(out_dir, by, lanes, r_bits)


def write_chart(out_dir, by, lanes, r_bits):
    """Grouped bars: transistors per lane of the random supply, per feeding, for each N (log scale)."""
    feeds = list(FEEDS.values())
    colours = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#ff7f0e", "#d62728", "#e377c2", "#bcbd22", "#17becf"]
    width, height, left, top, bottom = 900, 440, 80, 50, 60
    plot_w, plot_h = width - left - 230, height - top - bottom
    values = {}
    for n in lanes:
        for feed in feeds:
            s = by.get(f"supply {feed} N={n}")
            if s and s["transistors"]:
                values[(n, feed)] = s["transistors"] / n
    rd = by.get(f"round bf16 N={lanes[0]}")
    if not values:
        return
    import math
    lo, hi = 1.0, 10 ** math.ceil(math.log10(max(values.values())))
    y = lambda v: top + plot_h * (1 - (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="12">', f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="24" font-size="15">Random supply per SR lane (R = {r_bits}), transistors '
           f'(yosys stat -tech cmos), log scale</text>']
    decade = lo
    while decade <= hi:
        yy = y(decade)
        svg.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{decade:g}</text>')
        decade *= 10
    group_w = plot_w / len(lanes)
    bar_w = group_w * 0.8 / len(feeds)
    for gi, n in enumerate(lanes):
        x0 = left + gi * group_w + group_w * 0.1
        for fi, feed in enumerate(feeds):
            v = values.get((n, feed))
            if v is None:
                continue
            yy = y(v)
            svg.append(f'<rect x="{x0 + fi * bar_w:.1f}" y="{yy:.1f}" width="{bar_w - 1:.1f}" '
                       f'height="{top + plot_h - yy:.1f}" fill="{colours[fi]}"><title>{html.escape(feed)} N={n}: '
                       f'{v:.0f} per lane</title></rect>')
        svg.append(f'<text x="{x0 + group_w * 0.4:.1f}" y="{top + plot_h + 18}" text-anchor="middle">N = {n}</text>')
    if rd:
        yy = y(rd["transistors"] / lanes[0])
        svg.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="black" '
                   f'stroke-dasharray="6,4"/>')
        svg.append(f'<text x="{left + plot_w + 6}" y="{yy + 4:.1f}">bf16 SR lane</text>')
    for fi, feed in enumerate(feeds):
        yy = top + 30 + fi * 20
        svg.append(f'<rect x="{left + plot_w + 90}" y="{yy - 10}" width="12" height="12" fill="{colours[fi]}"/>')
        zero = any(by.get(f"supply {feed} N={n}", {}).get("transistors") == 0 for n in lanes)
        label = feed + (" (0: wires)" if zero else "")
        svg.append(f'<text x="{left + plot_w + 106}" y="{yy}">{html.escape(label)}</text>')
    svg.append(f'<text x="{left + plot_w / 2}" y="{height - 12}" text-anchor="middle">lanes N; bars: supply '
               f'transistors / N</text>')
    svg.append("</svg>")
    with open(os.path.join(out_dir, "supply_share.svg"), "w") as f:
        f.write("\n".join(svg) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="build/hw-synth", help="output folder (default build/hw-synth)")
    ap.add_argument("--lanes", default="1,16,64,256", help="array sizes N (default 1,16,64,256)")
    ap.add_argument("--r-bits", type=int, default=8, help="random bits per lane in the arrays (default 8)")
    ap.add_argument("--jobs", type=int, default=2, help="yosys processes at once (default 2)")
    ap.add_argument("--only", default="", help="synthesize only designs whose name contains this text")
    ap.add_argument("--report-only", action="store_true", help="write the outputs from cached results only")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per design (default 1800)")
    args = ap.parse_args()
    lanes = [int(n) for n in args.lanes.split(",")]
    raw_dir = os.path.join(args.out, "raw")
    os.makedirs(raw_dir, exist_ok=True)
    version = subprocess.run(["yosys", "-V"], capture_output=True, text=True).stdout.strip()
    table = {"designs": designs(lanes, args.r_bits), "results": {}, "yosys": version}
    todo = [d for d in table["designs"] if args.only in d[0]]
    # Smallest first: every table row that can be done early is.
    todo.sort(key=lambda d: d[3].get("N", 1))
    if args.report_only:  # only what is cached
        todo = [d for d in todo if os.path.exists(raw_base(raw_dir, d[0]) + ".json")]
    failed = 0
    with futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        jobs = {pool.submit(run_one, d, raw_dir, args.timeout): d[0] for d in todo}
        for job in futures.as_completed(jobs):
            try:
                name, res = job.result()
                table["results"][name] = res
                print(f"{name}: {res['luts']} LUTs, {res['ffs']} FFs, {res['dsp']} DSP, {res['gates']} gates, "
                      f"{res['transistors']} transistors ({res['seconds']} s)", flush=True)
            except Exception as e:  # report every failure, then exit non-zero
                failed += 1
                print(f"FAILED {jobs[job]}: {e}", file=sys.stderr, flush=True)
    for d in table["designs"]:  # the outputs cover every cached design, not only this run's
        cached = raw_base(raw_dir, d[0]) + ".json"
        if d[0] not in table["results"] and os.path.exists(cached):
            with open(cached) as f:
                table["results"][d[0]] = json.load(f)
    write_outputs(args.out, table, lanes, args.r_bits)
    print(f"wrote {args.out}/synthesis.csv, hardware_table.md, supply_share.svg")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
