//! Instructions and simulated cache misses per packet, counted by valgrind's callgrind: figures
//! that do not move from run to run, to steer by where cycles on a shared machine swing 2×.
//!
//! ```text
//! cargo bench --bench instructions [-- [--test] [--packets N] [FILTER]]
//! ```
//!
//! Needs valgrind (Debian: `apt-get install valgrind`) on the `PATH`. For each case below the
//! bench runs itself under `valgrind --tool=callgrind --cache-sim=yes` (one process per case),
//! reads callgrind's output and prints a table. It writes, under `target/instructions/`:
//!
//! - `<case>.callgrind.out`: callgrind's profile of the counted code, for
//!   `callgrind_annotate target/instructions/fwd-b32-r512-driver.callgrind.out` (where the
//!   instructions go; `--auto=yes` annotates the source lines) or KCachegrind;
//! - `summary.json`, read by `ci/bench-report` into report.md beside the cycles, and
//!   `summary.md`, the same table with each case's top places (source file and function, as
//!   `callgrind_annotate` groups them).
//!
//! `--test` (as in `cargo bench -- --test`, which ci/test runs, and as when cargo runs it
//! without `--bench`, in `cargo test --benches`) counts a few packets per case only and writes
//! no summary; without valgrind it then runs each case natively once instead, as a smoke test.
//! `--packets N` sets the packets per case (default 16384, a multiple of every ring and batch
//! below, so every case ends where its rings started). FILTER keeps the cases whose name holds it.
//!
//! ## What is counted
//!
//! The worlds are those of the cycle benchmarks (`common/sim.rs`): link partners that never make
//! the driver wait. Callgrind starts with collection off (`--collect-atstart=no`) and toggles it
//! when a function named in `--toggle-collect` is entered and left:
//!
//! - **driver**: [`measured_batch`] runs the driver's part of one iteration (one batch of rx, tx or
//!   fwd, exactly what the cycle benchmarks time as "driver (inline)"); the model's step between
//!   batches runs outside it, uncounted. The driver's bus is a [`Gated`] model bus: each register
//!   access calls a `model_side_*` function, which switches collection off again for the model's
//!   work behind the access. What is left is the driver's own instructions, plus per register
//!   access the call into the model (a flag test, the arguments, the call: about 7
//!   instructions, where hardware takes one load or store; the table gives the accesses per
//!   packet, counted on the model's side). The bench checks from the profile that no function
//!   of the model (`rixy::sim::`) was counted, and that the functions' own counts add up to the
//!   totals.
//! - **model**: [`measured_model`] runs one iteration of [`Replay`]: the model alone with the
//!   least a driver must do, the "model alone" of the cycle benchmarks.
//!
//! The cache simulator runs all the time, counting only while collection is on: the driver's
//! misses include those the model's work in between caused (as on the real core in the cycle
//! benchmarks; a real NIC runs on its own silicon). Its caches are fixed, not read from the host,
//! so the figures are the same on every machine: L1i and L1d 32 KiB 8-way, LL 8 MiB 16-way,
//! 64-byte lines (a Xeon's per-core L1s and a slice of its L3). Warm-up (the rings filled twice)
//! runs under the simulator before counting starts, so the caches are warm.
//!
//! The driver's counts are exact from run to run. The model's hash maps are seeded at random
//! (std's `RandomState`), so its counts may differ in the last digits.

mod common;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use common::sim::{Driver, Kind, Replay, Setup};
use rixy::memory::DmaDomain;
use rixy::regs::{Bus, DmaMaster};

/// Packets per case, unless `--packets` says otherwise: 4 times the largest ring below, so
/// every ring wraps a whole number of times.
const PACKETS: u64 = 16384;
/// Packets per case with `--test`.
const TEST_PACKETS: u64 = 512;

/// The simulated caches (callgrind's `--I1`, `--D1`, `--LL`: bytes, ways, line bytes).
const CACHES: [(&str, &str); 3] = [
    ("--I1", "32768,8,64"),
    ("--D1", "32768,8,64"),
    ("--LL", "8388608,16,64"),
];

/// Whose instructions a case counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Driver,
    Model,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Driver => "driver",
            Part::Model => "model",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Case {
    setup: Setup,
    part: Part,
}

impl Case {
    fn path(&self) -> &'static str {
        match self.setup.kind {
            Kind::Rx => "rx",
            Kind::Tx => "tx",
            Kind::Fwd => "fwd",
        }
    }

    /// `fwd-b32-r512-driver`.
    fn name(&self) -> String {
        format!(
            "{}-b{}-r{}-{}",
            self.path(),
            self.setup.batch,
            self.setup.ring,
            self.part.name()
        )
    }
}

/// The cases: rx, tx and fwd at batch 32, ring 512, and fwd at batch 1, each for the driver
/// and the model alone; then the driver's fwd over the cycle benchmarks' sweeps (batch 1..256 at
/// ring 512, ring 64..4096 at batch 32), where the rings' and buffers' footprint shows in the
/// cache misses.
fn cases() -> Vec<Case> {
    let setup = |kind, batch, ring| Setup { kind, batch, ring };
    let mut all = Vec::new();
    for s in [
        setup(Kind::Rx, 32, 512),
        setup(Kind::Tx, 32, 512),
        setup(Kind::Fwd, 32, 512),
        setup(Kind::Fwd, 1, 512),
    ] {
        for part in [Part::Driver, Part::Model] {
            all.push(Case { setup: s, part });
        }
    }
    let driver = |s| Case {
        setup: s,
        part: Part::Driver,
    };
    for batch in [2, 4, 8, 16, 64, 128, 256] {
        all.push(driver(setup(Kind::Fwd, batch, 512)));
    }
    for ring in [64, 128, 256, 1024, 2048, 4096] {
        all.push(driver(setup(Kind::Fwd, 32, ring)));
    }
    all
}

// ---------------------------------------------------------------------------------------------
// The counted code (run in the child, under callgrind).

/// A bus that, while armed, routes every access through a `model_side_*` function, whose
/// entry and exit toggle callgrind's collection (`--toggle-collect`): the model's work behind
/// the access is not counted as the driver's. Unarmed (while the driver opens and warms up,
/// outside any counted region) it calls the inner bus directly, so no toggle fires there.
struct Gated<I> {
    inner: I,
    armed: Rc<Cell<bool>>,
}

/// Register accesses made while armed, counted on the model's side of the gate (so not
/// counted as the driver's instructions). The child prints it for the parent.
static REGISTER_ACCESSES: AtomicU64 = AtomicU64::new(0);

/// The line the child prints with [`REGISTER_ACCESSES`].
const ACCESSES_LINE: &str = "register accesses: ";

macro_rules! gated {
    ($($read:ident, $write:ident, $side_read:ident, $side_write:ident, $t:ty;)*) => {
        impl<I: Bus> Bus for Gated<I> {
            fn len(&self) -> usize {
                self.inner.len()
            }
            $(
                #[inline(always)]
                unsafe fn $read(&self, offset: usize) -> $t {
                    if self.armed.get() {
                        // SAFETY: the caller upholds the access's contract, the inner bus's too.
                        unsafe { $side_read(&self.inner, offset) }
                    } else {
                        // SAFETY: as above.
                        unsafe { self.inner.$read(offset) }
                    }
                }
                #[inline(always)]
                unsafe fn $write(&self, offset: usize, value: $t) {
                    if self.armed.get() {
                        // SAFETY: as above.
                        unsafe { $side_write(&self.inner, offset, value) }
                    } else {
                        // SAFETY: as above.
                        unsafe { self.inner.$write(offset, value) }
                    }
                }
            )*
        }
        $(
            /// The model's side of a register read: not counted (see [`Gated`]).
            ///
            /// # Safety
            /// As the inner bus's access.
            #[inline(never)]
            unsafe fn $side_read<I: Bus>(bus: &I, offset: usize) -> $t {
                REGISTER_ACCESSES.fetch_add(1, Ordering::Relaxed);
                // SAFETY: passed on from the caller.
                unsafe { bus.$read(offset) }
            }
            /// The model's side of a register write: not counted (see [`Gated`]).
            ///
            /// # Safety
            /// As the inner bus's access.
            #[inline(never)]
            unsafe fn $side_write<I: Bus>(bus: &I, offset: usize, value: $t) {
                REGISTER_ACCESSES.fetch_add(1, Ordering::Relaxed);
                // SAFETY: passed on from the caller.
                unsafe { bus.$write(offset, value) }
            }
        )*
    };
}

gated! {
    read8, write8, model_side_read8, model_side_write8, u8;
    read16, write16, model_side_read16, model_side_write16, u16;
    read32, write32, model_side_read32, model_side_write32, u32;
    read64, write64, model_side_read64, model_side_write64, u64;
}

impl<I: DmaMaster> DmaMaster for Gated<I> {
    fn dma_domain(&self) -> DmaDomain {
        self.inner.dma_domain()
    }
}

/// The driver's part of one iteration, counted (`--toggle-collect`).
#[inline(never)]
fn measured_batch<B: Bus + DmaMaster>(driver: &mut Driver<B>) {
    driver.batch();
}

/// One iteration of the model alone, counted (`--toggle-collect`).
#[inline(never)]
fn measured_model(replay: &mut Replay) {
    replay.iteration();
}

/// Runs `case` for `packets` packets. Under callgrind (as the parent starts it) only the
/// measured functions are counted; natively it is a smoke test of the case.
fn run_case(case: Case, packets: u64) {
    let iterations = packets / case.setup.batch as u64;
    match case.part {
        Part::Driver => {
            let armed = Rc::new(Cell::new(false));
            let mut driver = Driver::new(case.setup, |p| Gated {
                inner: p.bar(),
                armed: armed.clone(),
            });
            armed.set(true);
            for _ in 0..iterations {
                driver.step();
                measured_batch(&mut driver);
            }
            armed.set(false);
            driver.check();
            println!(
                "{ACCESSES_LINE}{}",
                REGISTER_ACCESSES.load(Ordering::Relaxed)
            );
        }
        Part::Model => {
            let mut replay = Replay::new(case.setup);
            for _ in 0..iterations {
                measured_model(&mut replay);
            }
            replay.check();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The parent: runs each case under callgrind and reads the profile.

/// Callgrind's events with `--cache-sim=yes`, in its order.
const EVENTS: [&str; 9] = [
    "Ir", "Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw",
];

/// What one callgrind profile says: the totals, each function's own (exclusive) cost, and the
/// same split further by the source file its code came from (code inlined from elsewhere
/// counts under its own file, as `callgrind_annotate` shows it).
struct Profile {
    totals: [u64; 9],
    functions: BTreeMap<String, [u64; 9]>,
    /// (source file, function) → own cost.
    places: BTreeMap<(String, String), [u64; 9]>,
}

impl Profile {
    /// Reads callgrind's output format (valgrind's docs, "Callgrind Format Specification"): the
    /// `events:` line; `fl=` (a function's file), `fi=`/`fe=` (the file of inlined code that
    /// follows) and `fn=` lines; cost lines (a position, then the events in order, trailing zeros
    /// left out); and the `totals:` or `summary:` line. Names may be compressed (`(id) name`
    /// defines, `(id)` refers; files share one table, functions another). A cost line right
    /// after a `calls=` line is a call's inclusive cost, the callee's own, and is not added.
    /// The functions' own costs must add up to the totals.
    fn parse(text: &str) -> Result<Profile, String> {
        let mut order: Option<Vec<usize>> = None;
        let mut fn_names: BTreeMap<String, String> = BTreeMap::new();
        let mut file_names: BTreeMap<String, String> = BTreeMap::new();
        let mut functions: BTreeMap<String, [u64; 9]> = BTreeMap::new();
        let mut places: BTreeMap<(String, String), [u64; 9]> = BTreeMap::new();
        let mut current: Option<String> = None;
        let (mut fn_file, mut file) = (String::new(), String::new());
        let mut after_calls = false;
        let mut totals = None;
        let costs = |order: &[usize], fields: &mut dyn Iterator<Item = &str>| {
            let mut c = [0u64; 9];
            for (i, f) in fields.enumerate() {
                let v: u64 = f
                    .parse()
                    .map_err(|_| format!("cost {f:?} is not a number"))?;
                if let Some(&slot) = order.get(i) {
                    c[slot] = v;
                }
            }
            Ok::<_, String>(c)
        };
        let add = |to: &mut [u64; 9], c: &[u64; 9]| to.iter_mut().zip(c).for_each(|(a, b)| *a += b);
        for line in text.lines() {
            let (key, value) = line.split_once('=').unwrap_or(("", ""));
            match key {
                "fl" => {
                    fn_file = compressed_name(&mut file_names, value);
                    file = fn_file.clone();
                    continue;
                }
                "fi" | "fe" => {
                    file = compressed_name(&mut file_names, value);
                    continue;
                }
                "fn" => {
                    current = Some(compressed_name(&mut fn_names, value));
                    file = fn_file.clone();
                    continue;
                }
                // These define compressed names too.
                "cfi" | "cfl" => {
                    compressed_name(&mut file_names, value);
                    continue;
                }
                "cfn" => {
                    compressed_name(&mut fn_names, value);
                    continue;
                }
                "calls" => {
                    after_calls = true;
                    continue;
                }
                _ => {}
            }
            if let Some(list) = line.strip_prefix("events:") {
                let o = list
                    .split_whitespace()
                    .map(|e| EVENTS.iter().position(|&k| k == e).unwrap_or(usize::MAX))
                    .collect();
                order = Some(o);
            } else if let Some(rest) = line
                .strip_prefix("totals:")
                .or_else(|| line.strip_prefix("summary:"))
            {
                let o = order
                    .as_deref()
                    .ok_or("no events: line before the totals")?;
                totals = Some(costs(o, &mut rest.split_whitespace())?);
            } else if line.starts_with(|c: char| c.is_ascii_digit() || "+-*".contains(c)) {
                let mut fields = line.split_whitespace();
                fields.next(); // the position
                if after_calls {
                    after_calls = false;
                    continue;
                }
                let o = order.as_deref().ok_or("no events: line before the costs")?;
                let c = costs(o, &mut fields)?;
                let name = current.clone().ok_or("a cost line outside any fn= block")?;
                add(
                    places.entry((file.clone(), name.clone())).or_insert([0; 9]),
                    &c,
                );
                add(functions.entry(name).or_insert([0; 9]), &c);
            }
        }
        let order = order.ok_or("no events: line")?;
        if !order.contains(&0) || !order.contains(&4) {
            return Err("the profile has no Ir or no cache events (--cache-sim=yes?)".into());
        }
        let totals = totals.ok_or("no totals: or summary: line")?;
        let own: u64 = functions.values().map(|c| c[0]).sum();
        if own != totals[0] {
            return Err(format!(
                "the functions' own instructions add up to {own}, the totals say {}: \
                 the profile was misread",
                totals[0]
            ));
        }
        Ok(Profile {
            totals,
            functions,
            places,
        })
    }
}

/// Resolves callgrind's name compression: `(id) name` defines id, `(id)` refers to it.
fn compressed_name(names: &mut BTreeMap<String, String>, spec: &str) -> String {
    let spec = spec.trim();
    if let Some(rest) = spec.strip_prefix('(')
        && let Some((id, name)) = rest.split_once(')')
    {
        let name = name.trim();
        if name.is_empty() {
            return names.get(id).cloned().unwrap_or_else(|| format!("({id})"));
        }
        names.insert(id.to_string(), name.to_string());
        return name.to_string();
    }
    spec.to_string()
}

/// A source path as a reader finds it: rixy's relative to the crate, the standard library's and
/// registry crates' without the toolchain's or registry's directories.
fn short_path(path: &str) -> String {
    if let Some(rest) = path.strip_prefix("/rustc/")
        && let Some((_, lib)) = rest.split_once("/library/")
    {
        return format!("std: {lib}");
    }
    if let Some(ours) = path.strip_prefix(concat!(env!("CARGO_MANIFEST_DIR"), "/")) {
        return ours.to_string();
    }
    if let Some((_, rest)) = path.split_once("/registry/src/")
        && let Some((_, krate)) = rest.split_once('/')
    {
        return krate.to_string();
    }
    path.to_string()
}

/// One case's figures.
struct Counted {
    case: Case,
    packets: u64,
    /// The driver's register accesses (none counted for the model alone).
    register_accesses: Option<u64>,
    totals: [u64; 9],
    /// Where most instructions were spent, most first: (source file, function, instructions),
    /// as `callgrind_annotate` groups them.
    top: Vec<(String, String, u64)>,
}

impl Counted {
    fn per_packet(&self, events: &[usize]) -> f64 {
        events.iter().map(|&e| self.totals[e]).sum::<u64>() as f64 / self.packets as f64
    }
    fn instructions(&self) -> f64 {
        self.per_packet(&[0])
    }
    fn accesses(&self) -> f64 {
        self.per_packet(&[1, 2])
    }
    fn i1_misses(&self) -> f64 {
        self.per_packet(&[3])
    }
    fn d1_misses(&self) -> f64 {
        self.per_packet(&[4, 5])
    }
    fn ll_misses(&self) -> f64 {
        self.per_packet(&[6, 7, 8])
    }
    fn register_accesses(&self) -> Option<f64> {
        self.register_accesses
            .map(|n| n as f64 / self.packets as f64)
    }
}

/// Where the bench writes: `target/instructions`, found from the bench's own path
/// (`target/release/deps/instructions-…`).
fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.parent()?.parent()?.to_path_buf())
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("instructions")
}

/// valgrind's version, or `None` when it cannot be run.
fn valgrind_version() -> Option<String> {
    let out = Command::new("valgrind").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs `case` in a child under callgrind and reads its profile.
fn count(case: Case, packets: u64, dir: &Path) -> Result<Counted, String> {
    let exe = std::env::current_exe().map_err(|e| format!("the bench's own path: {e}"))?;
    let file = dir.join(format!("{}.callgrind.out", case.name()));
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--tool=callgrind",
        "--cache-sim=yes",
        "--collect-atstart=no",
        "--toggle-collect=instructions::measured_*",
        "--toggle-collect=instructions::model_side_*",
        "-q",
    ]);
    for (flag, value) in CACHES {
        cmd.arg(format!("{flag}={value}"));
    }
    cmd.arg(format!("--callgrind-out-file={}", file.display()))
        .arg(&exe)
        .args(["--child", &case.name(), "--packets", &packets.to_string()]);
    let out = cmd
        .output()
        .map_err(|e| format!("{}: valgrind did not start: {e}", case.name()))?;
    if !out.status.success() {
        return Err(format!(
            "{}: valgrind {}:\n{}",
            case.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let profile = Profile::parse(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    if profile.totals[0] == 0 {
        return Err(format!(
            "{}: callgrind counted nothing: the measured functions were not entered \
             (inlined? renamed?), see {}",
            case.name(),
            file.display()
        ));
    }
    if case.part == Part::Driver {
        let leaked: Vec<&String> = profile
            .functions
            .iter()
            .filter(|(name, c)| {
                c[0] > 0 && (name.starts_with("rixy::sim::") || name.starts_with("<rixy::sim::"))
            })
            .map(|(name, _)| name)
            .take(4)
            .collect();
        if !leaked.is_empty() {
            return Err(format!(
                "{}: the model's instructions were counted as the driver's ({leaked:?}): \
                 a register access bypassed the gate, see {}",
                case.name(),
                file.display()
            ));
        }
    }
    let mut top: Vec<(String, String, u64)> = profile
        .places
        .iter()
        .map(|((file, name), c)| (short_path(file), name.clone(), c[0]))
        .filter(|&(_, _, ir)| ir > 0)
        .collect();
    top.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
    top.truncate(15);
    let register_accesses = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(ACCESSES_LINE)?.trim().parse().ok());
    if case.part == Part::Driver && register_accesses.is_none() {
        return Err(format!(
            "{}: the child did not say how many register accesses it made",
            case.name()
        ));
    }
    Ok(Counted {
        case,
        packets,
        register_accesses,
        totals: profile.totals,
        top,
    })
}

fn table(rows: &[Counted]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| case | instructions | memory reads + writes | L1i misses | L1d misses | LL misses | register accesses |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {} |",
            r.case.name(),
            r.instructions(),
            r.accesses(),
            r.i1_misses(),
            r.d1_misses(),
            r.ll_misses(),
            r.register_accesses()
                .map_or("–".to_string(), |a| format!("{a:.3}")),
        );
    }
    out
}

fn summary_md(rows: &[Counted], packets: u64, valgrind: &str) -> String {
    let mut out = String::new();
    let caches: Vec<String> = CACHES.iter().map(|(f, v)| format!("{f}={v}")).collect();
    let _ = writeln!(
        out,
        "# Instructions and simulated cache misses per packet\n\n\
         {valgrind} callgrind, {packets} packets per case, caches {}. Figures per packet.\n",
        caches.join(" ")
    );
    out.push_str(&table(rows));
    for r in rows {
        let _ = writeln!(
            out,
            "\n## {}: where the instructions go\n\n| instructions | source file | function |\n|---:|---|---|",
            r.case.name()
        );
        for (file, name, ir) in &r.top {
            let _ = writeln!(
                out,
                "| {:.1} | `{file}` | `{}` |",
                *ir as f64 / r.packets as f64,
                name.replace('|', "\\|")
            );
        }
    }
    out
}

fn summary_json(rows: &[Counted], packets: u64, valgrind: &str) -> serde_json::Value {
    let cases: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let totals: serde_json::Map<String, serde_json::Value> = EVENTS
                .iter()
                .zip(r.totals)
                .map(|(e, v)| (e.to_string(), v.into()))
                .collect();
            let top: Vec<serde_json::Value> = r
                .top
                .iter()
                .map(|(file, name, ir)| {
                    serde_json::json!({ "file": file, "function": name, "Ir": ir })
                })
                .collect();
            serde_json::json!({
                "name": r.case.name(),
                "path": r.case.path(),
                "batch": r.case.setup.batch,
                "ring": r.case.setup.ring,
                "part": r.case.part.name(),
                "packets": r.packets,
                "totals": totals,
                "per_packet": {
                    "instructions": r.instructions(),
                    "memory_accesses": r.accesses(),
                    "l1i_misses": r.i1_misses(),
                    "l1d_misses": r.d1_misses(),
                    "ll_misses": r.ll_misses(),
                    "register_accesses": r.register_accesses(),
                },
                "top": top,
            })
        })
        .collect();
    let caches: serde_json::Map<String, serde_json::Value> = CACHES
        .iter()
        .map(|(f, v)| (f.trim_start_matches("--").to_string(), (*v).into()))
        .collect();
    serde_json::json!({
        "tool": valgrind,
        "packets": packets,
        "caches": caches,
        "cases": cases,
    })
}

struct Args {
    bench: bool,
    test: bool,
    packets: Option<u64>,
    child: Option<String>,
    filter: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        bench: false,
        test: false,
        packets: None,
        child: None,
        filter: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            // `cargo bench` passes --bench; without it (`cargo test --benches`) the bench runs
            // in test mode, as criterion's do.
            "--bench" => a.bench = true,
            "--test" => a.test = true,
            "--packets" => {
                let v = it.next().ok_or("--packets needs a number")?;
                let n: u64 = v
                    .parse()
                    .map_err(|_| format!("--packets {v:?}: not a number"))?;
                if n == 0 || !n.is_multiple_of(256) {
                    return Err(format!(
                        "--packets {n}: give a positive multiple of 256 (whole batches in every case)"
                    ));
                }
                a.packets = Some(n);
            }
            "--child" => a.child = Some(it.next().ok_or("--child needs a case name")?),
            flag if flag.starts_with('-') => {
                return Err(format!(
                    "unknown option {flag:?}: this bench takes --test, --packets N and a filter"
                ));
            }
            filter => a.filter = Some(filter.to_string()),
        }
    }
    a.test |= !a.bench;
    Ok(a)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("instructions: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args = args()?;
    let packets = args
        .packets
        .unwrap_or(if args.test { TEST_PACKETS } else { PACKETS });
    let all = cases();
    if let Some(name) = &args.child {
        let case = all
            .iter()
            .find(|c| &c.name() == name)
            .ok_or_else(|| format!("no case {name:?}"))?;
        run_case(*case, packets);
        return Ok(());
    }
    let selected: Vec<Case> = all
        .into_iter()
        .filter(|c| args.filter.as_ref().is_none_or(|f| c.name().contains(f)))
        .collect();
    if selected.is_empty() {
        return Err(format!(
            "no case matches {:?}: case names look like fwd-b32-r512-driver",
            args.filter.unwrap_or_default()
        ));
    }
    let Some(valgrind) = valgrind_version() else {
        if args.test {
            for case in &selected {
                run_case(*case, packets);
                println!(
                    "{}: ran natively (no valgrind, nothing counted)",
                    case.name()
                );
            }
            println!(
                "instructions: valgrind not found, so nothing was counted: \
                 install it (Debian: apt-get install valgrind) to count"
            );
            return Ok(());
        }
        return Err(
            "valgrind not found on the PATH: install it (Debian: apt-get install \
             valgrind); this bench counts instructions under callgrind"
                .into(),
        );
    };
    // A quick run's profiles go apart, and it writes no summary: ci/bench-report reads the
    // summary, which must be a full run's.
    let dir = if args.test {
        out_dir().join("test")
    } else {
        out_dir()
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut rows = Vec::new();
    for case in selected {
        let start = Instant::now();
        let counted = count(case, packets, &dir)?;
        println!(
            "{:<22} {:>9.1} instructions/packet  {:>6.2} L1d  {:>6.2} LL misses/packet  ({:.1} s)",
            case.name(),
            counted.instructions(),
            counted.d1_misses(),
            counted.ll_misses(),
            start.elapsed().as_secs_f64()
        );
        rows.push(counted);
    }
    println!("\n{}", table(&rows));
    if args.test {
        return Ok(());
    }
    let md = dir.join("summary.md");
    std::fs::write(&md, summary_md(&rows, packets, &valgrind))
        .map_err(|e| format!("{}: {e}", md.display()))?;
    let json = dir.join("summary.json");
    let text = serde_json::to_string_pretty(&summary_json(&rows, packets, &valgrind))
        .map_err(|e| e.to_string())?;
    std::fs::write(&json, text).map_err(|e| format!("{}: {e}", json.display()))?;
    println!(
        "instructions: wrote {} and {}; profiles beside them (callgrind_annotate FILE)",
        md.display(),
        json.display()
    );
    Ok(())
}
