//! The ixgbe driver against the 82599 model with faults injected at random: random sequences of
//! receive and transmit batches, traffic bursts, steps of time, freed packets and faults (link
//! flaps, spontaneous resets, surprise removal, bad receive write-backs) on two linked ports.
//!
//! After every operation:
//! - nothing panicked (driver or model);
//! - every error is a `rixy::Error` the faults so far explain: `DeviceRemoved` only after a
//!   removal, `DeviceReset` only after a reset, nothing else ever; once reported, it stays;
//!   its message is one line that names the device;
//! - no buffer leaked, counted three ways that do not depend on each other: the packets the test
//!   holds (its own collections), the free buffers of every pool (the pools' counters) and the
//!   buffers the driver's rings hold (the driver's slots); no buffer is held twice;
//! - every packet handed out is a whole 60-byte frame, unless the model lied about a length
//!   within the buffer (which no driver can tell).
//!
//! At the end of a case the faults clear (links up, no more bad write-backs, one frame to end a
//! chain a missing EOP left open) and each port must either run again (frames sent to it and
//! from it arrive, each exactly once) or say why not: a removed port reports `DeviceRemoved`; a
//! reset port reports `DeviceReset`, after which a driver opened again on it runs. A port that
//! reports `DeviceReset` during a case is opened again at once, as an application would. Then
//! the model must have no ERROR report that a fault does not excuse (from a reset until the
//! next driver, from a removal on), and dropped drivers give every buffer back to its pool.
//!
//! Time: the default 256 cases (up to 120 operations each) take about 15 s in a debug build on
//! a 2-core machine (`cargo test --test driver_fuzz`). A longer run is one command, with the
//! number of cases in `RIXY_FUZZ_CASES`:
//!
//! ```text
//! RIXY_FUZZ_CASES=5000 cargo test --release --test driver_fuzz
//! ```

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use proptest::prelude::*;
use rixy::frame::{self, FrameSpec};
use rixy::sim::{BadWriteBack, Port, PortConfig, Severity, World};
use rixy::{Config, Device, Error, MacAddress, Mempool, Packet};

const RING: usize = 64;
/// SRRCTL.BSIZEPACKET for the default 4096-byte buffers (4032 bytes after the headroom, in
/// 1 KiB steps): the longest write-back length the driver believes.
const NIC_BUFFER: u16 = 3072;
/// Cases when `RIXY_FUZZ_CASES` does not say.
const DEFAULT_CASES: u32 = 256;
/// Batches a health check may take to come round after the device stopped delivering: the
/// rest of a ring's worth of frames it wrote before, then 64 empty batches at most.
const REPORT_WITHIN: usize = RING + 2 * 64;
/// Sequence numbers of the frames the end-of-case check sends: apart from the test's others.
const MARK: u32 = 0x4000_0000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    A,
    B,
}

#[derive(Clone, Debug)]
enum Op {
    /// Receive up to n packets and keep them.
    Rx(Side, usize),
    /// Queue n new packets for sending and send what the ring takes.
    Tx(Side, usize),
    /// n frames arrive from outside at once.
    Burst(Side, usize),
    /// Drop n of the packets the test holds.
    Free(usize),
    /// Time passes.
    Step(usize),
    /// The link goes down or comes back.
    Link(Side, bool),
    /// The next n frames received are written back wrongly.
    BadWriteBacks(Side, BadWriteBack, usize),
    /// The device resets itself.
    Reset(Side),
    /// The device falls off the bus.
    Remove(Side),
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::A), Just(Side::B)]
}

fn bad_write_back() -> impl Strategy<Value = BadWriteBack> {
    prop_oneof![
        (NIC_BUFFER + 1..=u16::MAX).prop_map(BadWriteBack::Length),
        (0..=NIC_BUFFER).prop_map(BadWriteBack::Length),
        Just(BadWriteBack::NoEop),
        (2u8..=8).prop_map(BadWriteBack::Split),
        Just(BadWriteBack::MacError),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    // Weighted so that about two cases in three have no removal (which ends a port for good)
    // and most have a reset or two.
    prop_oneof![
        24 => (side(), 1usize..RING).prop_map(|(s, n)| Op::Rx(s, n)),
        18 => (side(), 0usize..100).prop_map(|(s, n)| Op::Tx(s, n)),
        15 => (side(), 0usize..100).prop_map(|(s, n)| Op::Burst(s, n)),
        9 => (0usize..100).prop_map(Op::Free),
        15 => (1usize..5).prop_map(Op::Step),
        6 => (side(), any::<bool>()).prop_map(|(s, up)| Op::Link(s, up)),
        9 => (side(), bad_write_back(), 1usize..10).prop_map(|(s, f, n)| Op::BadWriteBacks(s, f, n)),
        2 => side().prop_map(Op::Reset),
        1 => side().prop_map(Op::Remove),
    ]
}

fn config() -> Config {
    Config {
        rx_ring_size: RING,
        tx_ring_size: RING,
        link_timeout: Duration::from_millis(20),
        ..Config::default()
    }
}

/// The test frame to `mac` with sequence number `seq`.
fn frame_to(mac: MacAddress, seq: u32) -> Vec<u8> {
    FrameSpec {
        dst_mac: mac,
        ..FrameSpec::default()
    }
    .to_vec(seq)
    .unwrap()
}

/// What a fault made a port say: the errors a batch may return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Said {
    Removed,
    Reset,
}

/// One port, its driver and what the test knows about it.
struct PortState {
    name: &'static str,
    port: Port,
    dev: Option<Device>,
    /// The receive pools of every driver this port had (the old ones stay to be counted).
    rx_pools: Vec<Mempool>,
    /// Packets waiting to be sent (the ring had no room).
    pending: VecDeque<Packet>,
    removed: bool,
    /// A reset the driver has not reported yet.
    reset: bool,
    /// The error the driver reported, which every batch after it repeats.
    said: Option<Said>,
    /// Access indices (from, to) in which the model's reports are excused: from a reset to the
    /// next driver (the old one does not know yet), and from a removal on.
    excused: Vec<(u64, u64)>,
    /// The start of a window still open.
    excused_from: Option<u64>,
    /// Bad write-backs injected whose length is within the buffer (and not 60): the packets
    /// of another length the driver may hand out.
    believable_lies: usize,
}

impl PortState {
    fn open(name: &'static str, world: &World, port: Port) -> Self {
        let dev = Device::on_sim_port(name, world, &port, &config()).expect("init");
        let pool = dev.rx_pool(0).unwrap().clone();
        PortState {
            name,
            port,
            dev: Some(dev),
            rx_pools: vec![pool],
            pending: VecDeque::new(),
            removed: false,
            reset: false,
            said: None,
            excused: Vec::new(),
            excused_from: None,
            believable_lies: 0,
        }
    }

    /// From now until the next driver, what the model reports is the fault's doing.
    fn excuse(&mut self) {
        self.excused_from.get_or_insert(self.port.access_count());
    }

    fn dev(&mut self) -> &mut Device {
        self.dev.as_mut().expect("a driver")
    }

    /// Checks the outcome of a batch: an error only as the faults explain it, the same one once
    /// reported.
    fn judge(&mut self, outcome: rixy::Result<usize>) -> Result<usize, TestCaseError> {
        let e = match outcome {
            Ok(n) => {
                prop_assert!(
                    self.said.is_none(),
                    "{}: a batch worked after {:?}",
                    self.name,
                    self.said
                );
                return Ok(n);
            }
            Err(e) => e,
        };
        let message = e.to_string();
        prop_assert!(
            message.starts_with(&format!("{}: ", self.name)) && !message.contains('\n'),
            "{message}"
        );
        let said = match e {
            Error::DeviceRemoved { .. } if self.removed => Said::Removed,
            // A reset followed by a removal may be seen as either.
            Error::DeviceReset { .. } if self.reset || (self.removed && self.said.is_none()) => {
                Said::Reset
            }
            other => {
                return Err(TestCaseError::fail(format!(
                    "{}: unexplained error (removed {}, reset {}, said {:?}): {other}",
                    self.name, self.removed, self.reset, self.said
                )));
            }
        };
        if let Some(before) = self.said {
            prop_assert_eq!(before, said, "{}: the error changed", self.name);
        }
        self.said = Some(said);
        Ok(0)
    }

    /// Drops the driver (every buffer it held goes back to its pool) and, unless the port is
    /// gone, opens a new one.
    fn reopen(&mut self, world: &World) {
        self.dev = None;
        self.pending.clear();
        // Let the reset the dropped driver started finish before the new one starts.
        world.step();
        if self.removed {
            return;
        }
        if let Some(from) = self.excused_from.take() {
            self.excused.push((from, self.port.access_count()));
        }
        let dev = Device::on_sim_port(self.name, world, &self.port, &config()).expect("reopen");
        self.rx_pools.push(dev.rx_pool(0).unwrap().clone());
        self.dev = Some(dev);
        self.reset = false;
        self.said = None;
    }
}

/// Every buffer of every pool: free + held by the test + held by the drivers' rings.
fn accounted(tx_pool: &Mempool, sides: &[&PortState], held: &[Packet]) -> Result<(), String> {
    let pools: Vec<&Mempool> = std::iter::once(tx_pool)
        .chain(sides.iter().flat_map(|s| s.rx_pools.iter()))
        .collect();
    let capacity: usize = pools.iter().map(|p| p.capacity()).sum();
    let free: usize = pools.iter().map(|p| p.free_count()).sum();
    let test = held.len() + sides.iter().map(|s| s.pending.len()).sum::<usize>();
    let rings: usize = sides
        .iter()
        .filter_map(|s| s.dev.as_ref())
        .map(Device::buffers_held)
        .sum();
    if free + test + rings == capacity {
        Ok(())
    } else {
        Err(format!(
            "free {free} + test {test} + rings {rings} != capacity {capacity}"
        ))
    }
}

/// No packet is held twice (a buffer handed out twice would be).
fn distinct(held: &[Packet]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for p in held {
        if !seen.insert((p.pool().id(), p.pool_index())) {
            return Err(format!(
                "buffer {} of pool {} held twice",
                p.pool_index(),
                p.pool().id()
            ));
        }
    }
    Ok(())
}

struct Case {
    world: World,
    sides: [PortState; 2],
    tx_pool: Mempool,
    held: Vec<Packet>,
    seq: u32,
}

impl Case {
    fn new() -> Self {
        let world = World::new();
        let port = |w: &World| {
            w.add_port(PortConfig {
                gprc_counts_drops: false,
                ..PortConfig::default()
            })
        };
        let (a, b) = (port(&world), port(&world));
        world.connect(&a, &b);
        let a = PortState::open("a", &world, a);
        let b = PortState::open("b", &world, b);
        let tx_pool = a.dev.as_ref().unwrap().mempool(4 * RING, 2048).unwrap();
        Case {
            world,
            sides: [a, b],
            tx_pool,
            held: Vec::new(),
            seq: 0,
        }
    }

    fn side(&mut self, s: Side) -> &mut PortState {
        &mut self.sides[s as usize]
    }

    fn run(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Rx(s, n) => {
                self.rx(s, n)?;
            }
            Op::Tx(s, n) => {
                let other = MacAddress(self.sides[1 - s as usize].port.mac());
                for _ in 0..n {
                    let Some(mut p) = self.tx_pool.alloc() else {
                        break;
                    };
                    let spec = FrameSpec {
                        dst_mac: other,
                        ..FrameSpec::default()
                    };
                    p.set_len(spec.len).unwrap();
                    spec.write(&mut p, self.seq).unwrap();
                    self.seq += 1;
                    self.side(s).pending.push_back(p);
                }
                self.tx(s)?;
            }
            Op::Burst(s, n) => self.side(s).port.inject_burst(n),
            Op::Free(n) => {
                let keep = self.held.len().saturating_sub(n);
                self.held.truncate(keep);
            }
            Op::Step(k) => {
                for _ in 0..k {
                    self.world.step();
                }
            }
            Op::Link(s, up) => self.side(s).port.set_link(up),
            Op::BadWriteBacks(s, fault, n) => {
                let side = self.side(s);
                side.port.bad_write_backs(fault, n);
                if let BadWriteBack::Length(len) = fault
                    && len <= NIC_BUFFER
                    && len != 60
                {
                    side.believable_lies += n;
                }
            }
            Op::Reset(s) => {
                let side = self.side(s);
                side.excuse();
                side.port.spontaneous_reset();
                side.reset = true;
            }
            Op::Remove(s) => {
                let side = self.side(s);
                side.excuse();
                side.port.surprise_removal();
                side.removed = true;
            }
        }
        self.world.step();
        self.check()
    }

    fn rx(&mut self, s: Side, n: usize) -> Result<usize, TestCaseError> {
        let Case {
            sides, held, world, ..
        } = self;
        let side = &mut sides[s as usize];
        let before = held.len();
        let outcome = side.dev().rx_batch(0, held, n);
        let got = side.judge(outcome)?;
        prop_assert_eq!(held.len() - before, got, "rx_batch miscounted");
        prop_assert!(got <= n);
        // Every frame on these wires is 60 bytes; only a length the model lied about within
        // the buffer (which the driver cannot tell from a true one) gives another.
        for p in &held[before..] {
            if p.len() != 60 {
                prop_assert!(
                    side.believable_lies > 0,
                    "{}: a packet of {} bytes, not a whole frame",
                    side.name,
                    p.len()
                );
                side.believable_lies -= 1;
            }
        }
        if side.said == Some(Said::Reset) && !side.removed {
            side.reopen(world);
        }
        Ok(got)
    }

    fn tx(&mut self, s: Side) -> Result<usize, TestCaseError> {
        let Case { sides, world, .. } = self;
        let side = &mut sides[s as usize];
        let before = side.pending.len();
        let mut pending = std::mem::take(&mut side.pending);
        let outcome = side.dev().tx_batch(0, &mut pending);
        side.pending = pending;
        let taken = side.judge(outcome)?;
        prop_assert_eq!(before - side.pending.len(), taken, "tx_batch miscounted");
        if side.said == Some(Said::Reset) && !side.removed {
            side.reopen(world);
        }
        Ok(taken)
    }

    fn check(&self) -> Result<(), TestCaseError> {
        let sides = [&self.sides[0], &self.sides[1]];
        accounted(&self.tx_pool, &sides, &self.held).map_err(TestCaseError::fail)?;
        distinct(&self.held).map_err(TestCaseError::fail)?;
        Ok(())
    }

    /// The faults clear; each port must run again or say why not.
    fn finish(&mut self) -> Result<(), TestCaseError> {
        for s in [Side::A, Side::B] {
            let side = self.side(s);
            side.port.clear_bad_write_backs();
            side.port.set_link(true);
        }
        self.drain()?;
        for s in [Side::A, Side::B] {
            let side = self.side(s);
            if side.removed {
                prop_assert!(
                    side.said == Some(Said::Removed),
                    "{}: removed, and no batch said so within {REPORT_WITHIN}",
                    side.name
                );
            }
            prop_assert!(
                side.removed || !side.reset,
                "{}: reset, and no batch said so",
                side.name
            );
            // A frame written back without EOP takes the next frame with it (the driver cannot
            // tell where one ends): one frame that may be lost ends any such chain.
            let mac = MacAddress(side.port.mac());
            side.port.inject_frame(&frame_to(mac, MARK - 1), true);
        }
        self.drain()?;
        // Traffic flows into and out of every port that is there.
        for s in [Side::A, Side::B] {
            if !self.side(s).removed {
                let mac = MacAddress(self.side(s).port.mac());
                let frames: Vec<Vec<u8>> = (0..8).map(|i| frame_to(mac, MARK + i)).collect();
                for f in &frames {
                    self.side(s).port.inject_frame(f, true);
                }
                self.receive_marked(s, MARK..MARK + 8)?;
            }
        }
        if !self.sides[0].removed && !self.sides[1].removed {
            let b_mac = MacAddress(self.sides[1].port.mac());
            for i in 0..8 {
                let mut p = self.tx_pool.alloc().expect("the test holds nothing now");
                let f = frame_to(b_mac, MARK + 100 + i);
                p.set_len(f.len()).unwrap();
                p.copy_from_slice(&f);
                self.sides[0].pending.push_back(p);
            }
            self.tx(Side::A)?;
            prop_assert!(self.sides[0].pending.is_empty(), "a's ring was full");
            self.receive_marked(Side::B, MARK + 100..MARK + 108)?;
        }
        Ok(())
    }

    /// Receives and sends on both ports until nothing moves any more and every port that lost
    /// its device has said so (a reset port is opened again as soon as it says so).
    fn drain(&mut self) -> Result<(), TestCaseError> {
        for _ in 0..REPORT_WITHIN {
            let mut moved = 0;
            for s in [Side::A, Side::B] {
                if self.side(s).said.is_none() {
                    moved += self.rx(s, RING - 1)?;
                    self.held.clear();
                }
                if self.side(s).said.is_none() {
                    moved += self.tx(s)?;
                }
            }
            moved += usize::from(self.world.run_until_idle(10) > 1);
            let silent = self
                .sides
                .iter()
                .any(|side| (side.removed || side.reset) && side.said.is_none());
            if moved == 0 && !silent {
                break;
            }
        }
        self.check()
    }

    /// Receives on `s` until every frame of `want` has arrived, exactly once.
    fn receive_marked(&mut self, s: Side, want: std::ops::Range<u32>) -> Result<(), TestCaseError> {
        let mut seen = Vec::new();
        for _ in 0..20 {
            self.world.step();
            self.held.clear();
            self.rx(s, RING - 1)?;
            seen.extend(
                self.held
                    .iter()
                    .filter_map(|p| frame::seq(p))
                    .filter(|q| want.contains(q)),
            );
            if seen.len() >= want.len() {
                break;
            }
        }
        self.held.clear();
        seen.sort_unstable();
        let expected: Vec<u32> = want.clone().collect();
        prop_assert_eq!(
            &seen,
            &expected,
            "{}: after the faults cleared, not every frame arrived once",
            self.side(s).name
        );
        Ok(())
    }

    /// Drops every driver: each pool then has all its buffers back.
    fn close(mut self) -> Result<(), TestCaseError> {
        self.held.clear();
        for side in &mut self.sides {
            side.pending.clear();
            side.dev = None;
        }
        let pools =
            std::iter::once(&self.tx_pool).chain(self.sides.iter().flat_map(|s| s.rx_pools.iter()));
        for pool in pools {
            prop_assert_eq!(
                pool.free_count(),
                pool.capacity(),
                "a buffer did not come back"
            );
        }
        Ok(())
    }

    /// Model reports at ERROR severity that no fault excuses: a driver did something wrong
    /// while its device worked (or after it was opened again).
    fn model_errors(&self) -> Vec<String> {
        self.sides
            .iter()
            .flat_map(|s| {
                let open = s.excused_from.map(|from| (from, u64::MAX));
                let windows: Vec<(u64, u64)> = s.excused.iter().copied().chain(open).collect();
                s.port
                    .reports_at_least(Severity::Error)
                    .into_iter()
                    .filter(move |r| {
                        !windows
                            .iter()
                            .any(|&(from, to)| (from..=to).contains(&r.access_index))
                    })
            })
            .map(|r| r.to_string())
            .collect()
    }
}

fn cases() -> u32 {
    std::env::var("RIXY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn the_driver_survives_injected_faults_and_runs_again_or_says_why_not(
        ops in prop::collection::vec(op(), 1..120)
    ) {
        let mut case = Case::new();
        for op in &ops {
            case.run(op)?;
        }
        case.finish()?;
        let errors = case.model_errors();
        prop_assert!(errors.is_empty(), "{}", errors.join("\n"));
        case.close()?;
    }
}
