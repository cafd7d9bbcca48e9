//! Turns criterion's results for rixy's benchmarks into `report.md` (tables of cycles and
//! nanoseconds per packet, the targets of issue 7) and `fwd-batch.png` (cycles per packet
//! against the batch size, like Figure 6 of the ixy paper). `ci/bench-report` runs it.
//!
//! ```text
//! bench-report [CRITERION_DIR] [OUT_DIR]
//! ```
//!
//! CRITERION_DIR defaults to `$CARGO_TARGET_DIR/criterion` (`target/criterion`), OUT_DIR to
//! `rixy-bench` beside it. Every `new/benchmark.json` + `new/estimates.json` pair below
//! CRITERION_DIR is read; figures are criterion's median per iteration divided by the packets
//! per iteration (its `Throughput::Elements`). The instruction counts of
//! `cargo bench --bench instructions` (callgrind) are read from `instructions/summary.json`
//! beside CRITERION_DIR when it is there, and tabled beside the cycles.
//!
//! The plot's text (tick labels, legend) is drawn with a TrueType font when one is found:
//! `$RIXY_BENCH_FONT`, or Debian's `fonts-dejavu-core`, `fonts-liberation` or `fonts-freefont-ttf`.
//! Without one the plot is drawn without text, and report.md carries the axes and the legend.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use plotters::prelude::*;
use serde::Deserialize;

/// Fonts tried in order when `RIXY_BENCH_FONT` is not set (Debian package paths).
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
];

/// The series of the plot: criterion function id, legend, colour.
const SERIES: &[(&str, &str, RGBColor)] = &[
    ("total", "total (driver + model)", RGBColor(31, 119, 180)),
    ("model", "model alone", RGBColor(127, 127, 127)),
    (
        "driver",
        "driver (model timed inline)",
        RGBColor(214, 39, 40),
    ),
    ("diff", "total - model alone", RGBColor(255, 127, 14)),
];

#[derive(Deserialize)]
struct BenchmarkJson {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
    throughput: Option<ThroughputJson>,
}

/// Criterion's throughput: only the packet counts are used.
#[derive(Deserialize)]
#[allow(dead_code)]
enum ThroughputJson {
    Elements(u64),
    Bytes(u64),
    BytesDecimal(u64),
    Bits(u64),
    ElementsAndBytes { elements: u64, bytes: u64 },
}

#[derive(Deserialize)]
struct Estimates {
    median: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
    confidence_interval: Interval,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

/// A benchmark's median per packet (cycles or ns), with its 95% confidence interval.
#[derive(Clone, Copy, Debug)]
struct Figure {
    median: f64,
    low: f64,
    high: f64,
}

impl Figure {
    fn minus(self, other: Figure) -> Figure {
        Figure {
            median: self.median - other.median,
            low: self.low - other.high,
            high: self.high - other.low,
        }
    }
}

/// What `benches/instructions.rs` wrote: per-packet counts under callgrind.
#[derive(Deserialize)]
struct Instructions {
    tool: String,
    packets: u64,
    caches: BTreeMap<String, String>,
    cases: Vec<InstructionCase>,
}

#[derive(Deserialize)]
struct InstructionCase {
    name: String,
    path: String,
    batch: u64,
    ring: u64,
    part: String,
    packets: u64,
    per_packet: PerPacket,
    top: Vec<TopFunction>,
}

#[derive(Deserialize)]
struct PerPacket {
    instructions: f64,
    l1i_misses: f64,
    l1d_misses: f64,
    ll_misses: f64,
}

#[derive(Deserialize)]
struct TopFunction {
    /// The source file the code came from (inlined code keeps its own).
    file: String,
    function: String,
    #[serde(rename = "Ir")]
    ir: u64,
}

impl Instructions {
    /// `summary.json` in `dir`, if there is one.
    fn load(dir: &Path) -> Result<Option<Instructions>, String> {
        let path = dir.join("summary.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    fn case(&self, path: &str, batch: u64, ring: u64, part: &str) -> Option<&InstructionCase> {
        self.cases
            .iter()
            .find(|c| c.path == path && c.batch == batch && c.ring == ring && c.part == part)
    }
}

/// The criterion group and value that measured the same setting in cycles.
fn cycles_row(r: &Results, path: &str, batch: u64, ring: u64) -> Option<Row> {
    let (group, value) = match (path, batch, ring) {
        ("rx" | "tx", 32, 512) => (path, "32".to_string()),
        ("fwd", b, 512) => ("fwd-batch", b.to_string()),
        ("fwd", 32, ring) => ("fwd-ring", ring.to_string()),
        _ => return None,
    };
    Some(Row::of(r, group, &value))
}

fn instructions_section(out: &mut String, r: &Results, ins: &Instructions) {
    let _ = writeln!(
        out,
        "## Instructions and simulated cache misses per packet (callgrind)\n"
    );
    let caches: Vec<String> = ins.caches.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(
        out,
        "Counted by `cargo bench --bench instructions` under {} (callgrind, {} packets per case, \
         simulated caches {} as size,ways,line bytes): the same worlds as the cycles, counted \
         deterministically. **driver** counts only the driver's part of each batch (the model \
         behind its register accesses and its steps are not counted; a register access counts \
         the few instructions of the call into the model); **model** is the model alone \
         (Replay). The driver's counts are exact from run to run; the model's (and the cache \
         misses, which the model's memory traffic between batches affects) vary in the last \
         digits because the model's hash maps are seeded at random. The cycles are TSC cycles \
         from the tables above (driver inline; model alone), for reading the two side by side.\n",
        ins.tool,
        ins.packets,
        caches.join(", ")
    );
    let _ = writeln!(
        out,
        "| setting | driver instructions | driver cycles | cycles/instruction | L1i misses | L1d misses | LL misses | model instructions | model cycles |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut settings: Vec<(&str, u64, u64)> = Vec::new();
    for c in &ins.cases {
        let s = (c.path.as_str(), c.batch, c.ring);
        if !settings.contains(&s) {
            settings.push(s);
        }
    }
    for (path, batch, ring) in settings {
        let driver = ins.case(path, batch, ring, "driver");
        let model = ins.case(path, batch, ring, "model");
        let cycles = cycles_row(r, path, batch, ring);
        let driver_cycles = cycles.as_ref().and_then(|row| row.driver);
        let model_cycles = cycles.as_ref().and_then(|row| row.model);
        let per_instruction = driver
            .zip(driver_cycles)
            .map(|(d, c)| c.median / d.per_packet.instructions);
        let pp = |f: fn(&PerPacket) -> f64| driver.map(|d| f(&d.per_packet));
        let misses = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.2}"));
        let _ = writeln!(
            out,
            "| {path} batch {batch} ring {ring} | {} | {} | {} | {} | {} | {} | {} | {} |",
            num(pp(|p| p.instructions)),
            fig(driver_cycles),
            per_instruction.map_or("–".into(), |v| format!("{v:.2}")),
            misses(pp(|p| p.l1i_misses)),
            misses(pp(|p| p.l1d_misses)),
            misses(pp(|p| p.ll_misses)),
            num(model.map(|m| m.per_packet.instructions)),
            fig(model_cycles),
        );
    }
    out.push('\n');
    if let Some(fwd) = ins.case("fwd", 32, 512, "driver") {
        let _ = writeln!(
            out,
            "Where the driver's instructions go, fwd batch 32 ring 512 (`{}`), per packet, by \
             source file and the function the code runs in (code inlined from another file \
             counts under that file, as `callgrind_annotate` groups it; \
             `callgrind_annotate --auto=yes target/instructions/{}.callgrind.out` shows the \
             source lines).\n",
            fwd.name, fwd.name
        );
        let _ = writeln!(
            out,
            "| instructions/packet | source file | function |\n|---:|---|---|"
        );
        for t in &fwd.top {
            let _ = writeln!(
                out,
                "| {:.1} | `{}` | `{}` |",
                t.ir as f64 / fwd.packets.max(1) as f64,
                t.file,
                t.function.replace('|', "\\|")
            );
        }
        out.push('\n');
    }
}

/// Results keyed by (group, function, value).
#[derive(Default)]
struct Results(BTreeMap<(String, String, String), Figure>);

impl Results {
    fn load(dir: &Path) -> Result<Results, String> {
        let mut results = Results::default();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(d) = pending.pop() {
            let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
            for entry in entries.flatten() {
                let path = entry.path();
                if !path.is_dir() {
                    continue;
                }
                if path.file_name().is_some_and(|n| n == "new") {
                    results.add(&path)?;
                } else if path.file_name().is_none_or(|n| n != "report") {
                    pending.push(path);
                }
            }
        }
        Ok(results)
    }

    fn add(&mut self, new: &Path) -> Result<(), String> {
        let read = |name: &str| {
            let p = new.join(name);
            std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
        };
        let (Ok(bench), Ok(estimates)) = (read("benchmark.json"), read("estimates.json")) else {
            return Ok(());
        };
        let bench: BenchmarkJson = serde_json::from_str(&bench)
            .map_err(|e| format!("{}: {e}", new.join("benchmark.json").display()))?;
        let estimates: Estimates = serde_json::from_str(&estimates)
            .map_err(|e| format!("{}: {e}", new.join("estimates.json").display()))?;
        let per = match bench.throughput {
            Some(ThroughputJson::Elements(n)) => n,
            Some(ThroughputJson::ElementsAndBytes { elements, .. }) => elements,
            Some(
                ThroughputJson::Bytes(_)
                | ThroughputJson::BytesDecimal(_)
                | ThroughputJson::Bits(_),
            )
            | None => 1,
        }
        .max(1) as f64;
        let m = &estimates.median;
        self.0.insert(
            (
                bench.group_id,
                bench.function_id.unwrap_or_default(),
                bench.value_str.unwrap_or_default(),
            ),
            Figure {
                median: m.point_estimate / per,
                low: m.confidence_interval.lower_bound / per,
                high: m.confidence_interval.upper_bound / per,
            },
        );
        Ok(())
    }

    fn get(&self, group: &str, function: &str, value: &str) -> Option<Figure> {
        self.0
            .get(&(group.to_string(), function.to_string(), value.to_string()))
            .copied()
    }

    /// TSC cycles per nanosecond: the median ratio of the `total` and `model` benchmarks
    /// measured both ways.
    fn tsc_ghz(&self) -> Option<f64> {
        let mut ratios: Vec<f64> = self
            .0
            .iter()
            .filter(|((g, f, _), _)| g.ends_with("/cycles") && (f == "total" || f == "model"))
            .filter_map(|((g, f, v), c)| {
                let base = g.strip_suffix("/cycles")?;
                let t = self.get(&format!("{base}/time"), f, v)?;
                (t.median > 0.0).then(|| c.median / t.median)
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        ratios.get(ratios.len() / 2).copied()
    }
}

/// One row of a driver table: a setting of rx, tx or fwd.
struct Row {
    total: Option<Figure>,
    model: Option<Figure>,
    driver: Option<Figure>,
    total_ns: Option<Figure>,
    model_ns: Option<Figure>,
}

impl Row {
    fn of(r: &Results, group: &str, value: &str) -> Row {
        let cyc = format!("{group}/cycles");
        let time = format!("{group}/time");
        Row {
            total: r.get(&cyc, "total", value),
            model: r.get(&cyc, "model", value),
            driver: r.get(&cyc, "driver", value),
            total_ns: r.get(&time, "total", value),
            model_ns: r.get(&time, "model", value),
        }
    }

    fn diff(&self) -> Option<Figure> {
        Some(self.total?.minus(self.model?))
    }

    fn is_empty(&self) -> bool {
        self.total.is_none() && self.model.is_none() && self.driver.is_none()
    }
}

fn num(f: Option<f64>) -> String {
    match f {
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
        None => "–".into(),
    }
}

fn fig(f: Option<Figure>) -> String {
    num(f.map(|f| f.median))
}

/// A figure with its confidence interval.
fn fig_ci(f: Option<Figure>) -> String {
    match f {
        Some(f) => format!(
            "{} [{}, {}]",
            num(Some(f.median)),
            num(Some(f.low)),
            num(Some(f.high))
        ),
        None => "–".into(),
    }
}

fn driver_table(
    out: &mut String,
    r: &Results,
    ghz: Option<f64>,
    first: &str,
    rows: &[(String, Row)],
) {
    let _ = writeln!(
        out,
        "| {first} | total | model alone | total − model alone | driver (inline) | total ns | model ns | driver ns |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (label, row) in rows {
        let driver_ns = row.driver.zip(ghz).map(|(d, g)| d.median / g);
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} | {} | {} |",
            fig(row.total),
            fig(row.model),
            fig(row.diff()),
            fig_ci(row.driver),
            fig(row.total_ns),
            fig(row.model_ns),
            num(driver_ns),
        );
    }
    let _ = r;
    out.push('\n');
}

fn machine() -> String {
    let lscpu = Command::new("lscpu")
        .env("LC_ALL", "C")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let field = |name: &str| {
        lscpu
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let model = field("Model name:").unwrap_or_else(|| "unknown CPU".into());
    let cpus = field("CPU(s):").unwrap_or_else(|| "?".into());
    let hypervisor = field("Hypervisor vendor:")
        .map(|h| format!(", virtualised ({h})"))
        .unwrap_or_default();
    format!("{model}, {cpus} CPUs{hypervisor}")
}

/// What the report says about each target.
struct Verdicts {
    lines: Vec<String>,
}

impl Verdicts {
    fn add(&mut self, target: &str, measured: String, goal: &str, met: Option<bool>) {
        let met = match met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "–",
        };
        self.lines
            .push(format!("| {target} | {measured} | {goal} | {met} |"));
    }
}

fn report(
    r: &Results,
    instructions: Option<&Instructions>,
    png: Option<&str>,
    text_drawn: bool,
) -> String {
    let mut out = String::new();
    let ghz = r.tsc_ghz();
    let _ = writeln!(out, "# rixy benchmarks\n");
    let _ = writeln!(
        out,
        "Machine: {}. TSC: {} cycles/ns (measured: the benchmarks' cycles over their time). \
         Figures are criterion's medians per packet; `[low, high]` is the 95% confidence \
         interval of the median. `cargo bench` wrote them; `ci/bench-report` wrote this.\n",
        machine(),
        ghz.map_or("?".into(), |g| format!("{g:.3}"))
    );

    let _ = writeln!(out, "## How the model's share is taken out\n");
    out.push_str(
        "The model runs on the driver's thread: in `World::step` between batches, and behind \
         every register access the driver makes (a tail write makes the model snapshot and check \
         the descriptors it hands over). Each rx/tx/fwd setting is measured three ways:\n\n\
         - **total**: one `World::step` and one batch per iteration, driver on the model's bus.\n\
         - **model alone**: the same world, traffic and ring sizes, with the driver replaced by \
         the least the model needs (write the descriptors, move the tails: no status checks, no \
         mempool, no bookkeeping). The real driver opens the ports first, so the model is set \
         up the same way.\n\
         - **driver (inline)**: the driver's cycles measured directly: each batch is timed \
         without the step before it, every register access is timed through a metering bus and \
         subtracted (that is the model's work behind it), and the timer's own cost, calibrated \
         at setup against a bus that does nothing, is subtracted too. The model's time never \
         enters the figure, so its large run-to-run noise does not either.\n\n\
         `total − model alone` is a second estimate of the driver's share; it is noisier (the \
         difference of two large figures) and leaves out the bare descriptor stores the replay \
         also does. Both count, as the driver's, the cache misses it takes because the model \
         ran on the same core in between (a real NIC runs on its own silicon). Time in ns for \
         the driver is its cycles over the TSC rate above.\n\n",
    );

    // Targets.
    let mut v = Verdicts { lines: Vec::new() };
    let fwd32 = Row::of(r, "fwd-batch", "32");
    let fwd1 = Row::of(r, "fwd-batch", "1");
    v.add(
        "fwd driver-side, batch 32 (inline), cycles/packet",
        fig_ci(fwd32.driver),
        "≤ 40",
        fwd32.driver.map(|d| d.median <= 40.0),
    );
    v.add(
        "fwd total − model alone, batch 32, cycles/packet",
        fig_ci(fwd32.diff()),
        "≤ 40",
        fwd32.diff().map(|d| d.median <= 40.0),
    );
    for (what, typed, raw) in [
        ("write", "typed_write", "raw_write"),
        ("read", "typed_read", "raw_read"),
    ] {
        let (t, w) = (
            r.get("registers/cycles", typed, ""),
            r.get("registers/cycles", raw, ""),
        );
        if let (Some(t), Some(w)) = (t, w) {
            let ratio = t.median / w.median;
            let (lo, hi) = (t.low / w.high, t.high / w.low);
            v.add(
                &format!("typed / raw register {what} (cycles)"),
                format!("{ratio:.2} [{lo:.2}, {hi:.2}]"),
                "1.00 within noise",
                Some((lo..=hi).contains(&1.0) || (ratio - 1.0).abs() <= 0.05),
            );
        }
    }
    for (what, one, many) in [
        ("driver (inline)", fwd1.driver, fwd32.driver),
        ("total", fwd1.total, fwd32.total),
    ] {
        if let (Some(a), Some(b)) = (one, many) {
            let ratio = a.median / b.median;
            v.add(
                &format!("fwd {what}: batch 1 / batch 32"),
                format!("{ratio:.2}×"),
                "≥ 3×",
                Some(ratio >= 3.0),
            );
        }
    }
    let rings = ["64", "128", "256", "512", "1024", "2048", "4096"];
    for (what, pick) in [
        (
            "driver (inline)",
            (|row: &Row| row.driver) as fn(&Row) -> Option<Figure>,
        ),
        ("total", |row: &Row| row.total),
    ] {
        let values: Vec<f64> = rings
            .iter()
            .filter_map(|ring| pick(&Row::of(r, "fwd-ring", ring)).map(|f| f.median))
            .collect();
        if values.len() == rings.len() {
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(0.0, f64::max);
            let spread = (max / min - 1.0) * 100.0;
            v.add(
                &format!("fwd {what}, batch 32: spread across rings 64..4096 (max/min − 1)"),
                format!("{spread:.1}% ({min:.0}..{max:.0})"),
                "≤ 10%",
                Some(spread <= 10.0),
            );
        }
    }
    let _ = writeln!(out, "## Targets (issue 7)\n");
    let _ = writeln!(
        out,
        "| target | measured | goal | met |\n|---|---:|---:|---|"
    );
    for l in &v.lines {
        let _ = writeln!(out, "{l}");
    }
    out.push('\n');

    // Paths at batch 32.
    let _ = writeln!(
        out,
        "## rx, tx, fwd at batch 32, ring 512 (cycles/packet; ns/packet)\n"
    );
    let rows: Vec<(String, Row)> = [
        ("rx", "rx", "32"),
        ("tx", "tx", "32"),
        ("fwd", "fwd-batch", "32"),
    ]
    .iter()
    .map(|&(label, group, value)| (label.to_string(), Row::of(r, group, value)))
    .filter(|(_, row)| !row.is_empty())
    .collect();
    driver_table(&mut out, r, ghz, "path", &rows);

    let _ = writeln!(
        out,
        "## fwd by batch size, ring 512 (cycles/packet; ns/packet)\n"
    );
    let rows: Vec<(String, Row)> = [1, 2, 4, 8, 16, 32, 64, 128, 256]
        .iter()
        .map(|b| (b.to_string(), Row::of(r, "fwd-batch", &b.to_string())))
        .filter(|(_, row)| !row.is_empty())
        .collect();
    driver_table(&mut out, r, ghz, "batch", &rows);
    if let Some(png) = png {
        let _ = writeln!(out, "![fwd cycles/packet against batch size]({png})\n");
        let _ = write!(
            out,
            "`{png}`: cycles per packet (log scale) against the batch size (log scale, 1 to 256), \
             like Figure 6 of the ixy paper. Lines: "
        );
        let legend: Vec<String> = SERIES
            .iter()
            .map(|(_, name, c)| format!("{name} ({})", colour_name(*c)))
            .collect();
        let _ = writeln!(
            out,
            "{}; the dashed line is the target for the driver's share (40 cycles).",
            legend.join(", ")
        );
        if !text_drawn {
            let _ = writeln!(
                out,
                "No TrueType font was found (install fonts-dejavu-core or set RIXY_BENCH_FONT), \
                 so the plot has no text: the x ticks are 1, 2, 4, ... 256 and the horizontal \
                 grid lines are at 10, 20, 50, 100, 200, 500, 1000, 2000, 5000 cycles."
            );
        }
        out.push('\n');
    }

    let _ = writeln!(
        out,
        "## fwd by ring size, batch 32 (cycles/packet; ns/packet)\n"
    );
    let rows: Vec<(String, Row)> = rings
        .iter()
        .map(|ring| (ring.to_string(), Row::of(r, "fwd-ring", ring)))
        .filter(|(_, row)| !row.is_empty())
        .collect();
    driver_table(&mut out, r, ghz, "ring", &rows);

    if let Some(ins) = instructions {
        instructions_section(&mut out, r, ins);
    }

    let _ = writeln!(out, "## mempool (per packet)\n");
    let _ = writeln!(out, "| benchmark | cycles | ns |\n|---|---:|---:|");
    for f in [
        "alloc_free_single",
        "alloc_free_bulk_32",
        "alloc_free_bulk_256",
    ] {
        let c = r.get("mempool/cycles", f, "");
        let t = r.get("mempool/time", f, "");
        if c.is_some() || t.is_some() {
            let _ = writeln!(out, "| {f} | {} | {} |", fig_ci(c), fig(t));
        }
    }
    out.push('\n');

    let _ = writeln!(out, "## registers (per access)\n");
    let _ = writeln!(out, "| benchmark | cycles | ns |\n|---|---:|---:|");
    for f in ["typed_write", "raw_write", "typed_read", "raw_read"] {
        let c = r.get("registers/cycles", f, "");
        let t = r.get("registers/time", f, "");
        if c.is_some() || t.is_some() {
            let _ = writeln!(out, "| {f} | {} | {} |", fig_ci(c), fig(t));
        }
    }
    out.push('\n');
    out
}

fn colour_name(c: RGBColor) -> &'static str {
    match (c.0, c.1, c.2) {
        (31, 119, 180) => "blue",
        (127, 127, 127) => "grey",
        (214, 39, 40) => "red",
        (255, 127, 14) => "orange",
        _ => "?",
    }
}

/// Text drawn with a TrueType font onto the plot, pixel by pixel.
struct Text {
    font: FontVec,
}

impl Text {
    fn find() -> Option<Text> {
        let chosen = std::env::var_os("RIXY_BENCH_FONT").map(PathBuf::from);
        let candidates = chosen.into_iter().chain(FONTS.iter().map(PathBuf::from));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path)
                && let Ok(font) = FontVec::try_from_vec(bytes)
            {
                return Some(Text { font });
            }
        }
        None
    }

    fn width(&self, s: &str, size: f32) -> f32 {
        let scaled = self.font.as_scaled(PxScale::from(size));
        s.chars()
            .map(|c| scaled.h_advance(self.font.glyph_id(c)))
            .sum()
    }

    /// Draws `s` with its left end at `x` and its baseline at `y`, in black on white.
    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, plotters::coord::Shift>,
        s: &str,
        x: f32,
        y: f32,
        size: f32,
    ) {
        let scale = PxScale::from(size);
        let scaled = self.font.as_scaled(scale);
        let mut pen = x;
        for c in s.chars() {
            let id = self.font.glyph_id(c);
            let glyph = id.with_scale_and_position(scale, point(pen, y));
            pen += scaled.h_advance(id);
            if let Some(outline) = self.font.outline_glyph(glyph) {
                let b = outline.px_bounds();
                outline.draw(|gx, gy, coverage| {
                    if coverage > 0.05 {
                        let v = (255.0 * (1.0 - coverage.min(1.0))) as u8;
                        let _ = area.draw_pixel(
                            (b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32),
                            &RGBColor(v, v, v),
                        );
                    }
                });
            }
        }
    }
}

/// One line of the plot: legend, colour, points (batch size, cycles per packet).
type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// Draws the batch-size plot; returns whether text was drawn.
fn plot(r: &Results, path: &Path) -> Result<bool, String> {
    let batches = [1u32, 2, 4, 8, 16, 32, 64, 128, 256];
    let mut series: Vec<Series<'_>> = Vec::new();
    for &(id, name, colour) in SERIES {
        let points: Vec<(f64, f64)> = batches
            .iter()
            .filter_map(|&b| {
                let row = Row::of(r, "fwd-batch", &b.to_string());
                let f = if id == "diff" {
                    row.diff()
                } else {
                    r.get("fwd-batch/cycles", id, &b.to_string())
                }?;
                (f.median > 0.0).then_some((f64::from(b), f.median))
            })
            .collect();
        if !points.is_empty() {
            series.push((name, colour, points));
        }
    }
    if series.is_empty() {
        return Err("no fwd-batch results to plot".into());
    }
    let ys = series.iter().flat_map(|s| s.2.iter().map(|p| p.1));
    let ymax = ys.clone().fold(1.0f64, f64::max) * 1.5;
    // Low enough to show the 40-cycle target line.
    let ymin = (ys.fold(f64::INFINITY, f64::min) / 1.5).clamp(1.0, 30.0);
    let text = Text::find();
    let (w, h) = (960u32, 600u32);
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| format!("plot: {e:?}");
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .margin_top(50)
        .margin_right(30)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d((0.8f64..320f64).log_scale(), (ymin..ymax).log_scale())
        .map_err(e)?;
    let grid = RGBColor(220, 220, 220);
    let ygrid: Vec<f64> = [1.0, 2.0, 5.0]
        .iter()
        .flat_map(|m| (0..6).map(move |p| m * 10f64.powi(p)))
        .filter(|y| (ymin..=ymax).contains(y))
        .collect();
    for &b in &batches {
        let x = f64::from(b);
        chart
            .draw_series(LineSeries::new([(x, ymin), (x, ymax)], grid))
            .map_err(e)?;
    }
    for &y in &ygrid {
        chart
            .draw_series(LineSeries::new([(0.8, y), (320.0, y)], grid))
            .map_err(e)?;
    }
    let frame = [
        (0.8, ymin),
        (320.0, ymin),
        (320.0, ymax),
        (0.8, ymax),
        (0.8, ymin),
    ];
    chart
        .draw_series(LineSeries::new(frame, BLACK))
        .map_err(e)?;
    // Issue 7's target for the driver's share at batch 32.
    let target = 40.0;
    if (ymin..=ymax).contains(&target) {
        chart
            .draw_series(DashedLineSeries::new(
                [(0.8, target), (320.0, target)],
                8,
                6,
                BLACK.stroke_width(1),
            ))
            .map_err(e)?;
    }
    for (_, colour, points) in &series {
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(e)?;
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))
            .map_err(e)?;
    }
    // Legend swatches, top right.
    let (lx, ly) = (w as i32 - 330, 60);
    for (i, (_, colour, _)) in series.iter().enumerate() {
        let y = ly + 22 * i as i32;
        root.draw(&PathElement::new(
            vec![(lx, y), (lx + 30, y)],
            colour.stroke_width(3),
        ))
        .map_err(e)?;
    }
    let drawn = if let Some(t) = &text {
        for &b in &batches {
            let (x, y) = chart.backend_coord(&(f64::from(b), ymin));
            let s = b.to_string();
            t.draw(
                &root,
                &s,
                x as f32 - t.width(&s, 16.0) / 2.0,
                y as f32 + 22.0,
                16.0,
            );
        }
        for &v in &ygrid {
            let (x, y) = chart.backend_coord(&(0.8, v));
            let s = format!("{v}");
            t.draw(
                &root,
                &s,
                x as f32 - t.width(&s, 16.0) - 8.0,
                y as f32 + 5.0,
                16.0,
            );
        }
        let title = "rixy fwd on the simulated 82599: cycles per packet against batch size";
        t.draw(&root, title, 80.0, 30.0, 20.0);
        let xl = "batch size (packets)";
        t.draw(
            &root,
            xl,
            (w as f32 - t.width(xl, 16.0)) / 2.0,
            h as f32 - 12.0,
            16.0,
        );
        t.draw(&root, "cycles/packet", 8.0, 45.0, 16.0);
        if (ymin..=ymax).contains(&target) {
            let (x, y) = chart.backend_coord(&(0.9, target));
            t.draw(
                &root,
                "target: driver 40",
                x as f32 + 4.0,
                y as f32 - 5.0,
                14.0,
            );
        }
        for (i, (name, _, _)) in series.iter().enumerate() {
            t.draw(
                &root,
                name,
                (lx + 38) as f32,
                (ly + 22 * i as i32 + 5) as f32,
                15.0,
            );
        }
        true
    } else {
        false
    };
    drop(chart);
    root.present().map_err(e)?;
    Ok(drawn)
}

fn run() -> Result<PathBuf, String> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let mut args = std::env::args_os().skip(1);
    let criterion = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("criterion"));
    let out = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("rixy-bench"));
    let instructions_dir = criterion
        .parent()
        .map_or_else(|| PathBuf::from("instructions"), |p| p.join("instructions"));
    let instructions = Instructions::load(&instructions_dir)?;
    let results = if criterion.is_dir() {
        Results::load(&criterion)?
    } else if instructions.is_some() {
        Results::default()
    } else {
        return Err(format!(
            "{} is not a directory: run `cargo bench` first, or name criterion's directory",
            criterion.display()
        ));
    };
    if results.0.is_empty() && instructions.is_none() {
        return Err(format!(
            "no benchmark results under {} and no {}: run `cargo bench` first",
            criterion.display(),
            instructions_dir.join("summary.json").display()
        ));
    }
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let png_name = "fwd-batch.png";
    let (png, text) = match plot(&results, &out.join(png_name)) {
        Ok(text) => (Some(png_name), text),
        Err(e) => {
            eprintln!("bench-report: no plot: {e}");
            (None, false)
        }
    };
    let md = out.join("report.md");
    std::fs::write(&md, report(&results, instructions.as_ref(), png, text))
        .map_err(|e| format!("{}: {e}", md.display()))?;
    Ok(md)
}

fn main() -> ExitCode {
    match run() {
        Ok(md) => {
            println!("{}", md.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-report: {e}");
            ExitCode::FAILURE
        }
    }
}
