//! Traffic: sources that send test frames into a port's receive side at a pace, and sinks that
//! count (and keep) what a port transmits.

use super::frame::{self, FCS_LEN, Frame, FramePool, TEST_FRAME_LEN, WIRE_OVERHEAD};
use super::port::Port;
use super::world::{PortSlot, Shared, World};

/// How fast a traffic source sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pace {
    /// 10 Gbit/s on virtual time (14.88 Mpps of 60-byte frames).
    #[default]
    LineRate,
    /// As many frames per step as the port has free RX descriptors: nothing is dropped.
    AsFastAsDescriptors,
    /// 10 Gbit/s, but paused while the port has no free RX descriptors, as a link partner
    /// honouring 802.3x flow control would: nothing is dropped, and a paused link does not save
    /// up what it could not send.
    LineRateWithFlowControl,
}

/// A traffic source: sequence-numbered 60-byte UDP frames like ixy's pktgen.
#[derive(Clone, Copy, Debug, Default)]
pub struct SourceConfig {
    /// Sending rate.
    pub pace: Pace,
    /// Stop after this many frames.
    pub count: Option<u64>,
    /// Destination MAC (default: the port's own address).
    pub dst_mac: Option<[u8; 6]>,
    /// First sequence number.
    pub first_seq: u32,
}

/// A source plugged into a port.
pub(crate) struct Source {
    /// The port it sends into.
    pub(crate) port: usize,
    cfg: SourceConfig,
    dst: [u8; 6],
    seq: u32,
    sent: u64,
    /// Line time earned and not yet spent on a frame.
    credit_bits: u64,
    stopped: bool,
}

/// A sink on a port's transmit side.
#[derive(Default)]
pub(crate) struct Sink {
    /// The port whose frames it counts.
    pub(crate) port: usize,
    keep: usize,
    frames: u64,
    bytes: u64,
    bad_fcs: u64,
    kept: Vec<Vec<u8>>,
}

impl Sink {
    /// Counts a frame the port transmitted, keeping a copy while it keeps fewer than it may.
    pub(crate) fn record(&mut self, frame: &Frame) {
        self.frames += 1;
        self.bytes += frame.data.len() as u64;
        if !frame.fcs_ok {
            self.bad_fcs += 1;
        }
        if self.kept.len() < self.keep {
            self.kept.push(frame.data.clone());
        }
    }
}

/// Frames a 10 Gbit/s link carries in one more quantum, with what is left over kept for the next.
fn line_rate_frames(src: &mut Source, quantum_ns: u64) -> u64 {
    // 10 Gbit/s = 10 bits per ns.
    src.credit_bits += quantum_ns * 10;
    let cost = ((TEST_FRAME_LEN + FCS_LEN + WIRE_OVERHEAD) * 8) as u64;
    let n = src.credit_bits / cost;
    src.credit_bits -= n * cost;
    n
}

/// Frames the port can take into its RX ring now, counting the ones already on their way.
fn rx_room(src: &Source, port: &mut PortSlot, pool: &mut FramePool) -> u64 {
    let mut probe = pool.get();
    frame::test_frame(&mut probe, src.dst, src.seq);
    let q = port.dev.select_queue(&probe);
    pool.put(probe);
    let room = port.dev.rx_room(q);
    let queued = port.rx_in.len() + port.dev.fifo.len();
    room.saturating_sub(queued) as u64
}

/// Makes the frames a source sends in one quantum.
pub(crate) fn generate(
    src: &mut Source,
    port: &mut PortSlot,
    quantum_ns: u64,
    pool: &mut FramePool,
) -> u64 {
    if src.stopped {
        return 0;
    }
    let mut n = match src.cfg.pace {
        Pace::LineRate => line_rate_frames(src, quantum_ns),
        Pace::AsFastAsDescriptors => rx_room(src, port, pool),
        Pace::LineRateWithFlowControl => {
            let room = rx_room(src, port, pool);
            let n = line_rate_frames(src, quantum_ns);
            if n > room {
                src.credit_bits = 0;
            }
            n.min(room)
        }
    };
    if let Some(count) = src.cfg.count {
        n = n.min(count.saturating_sub(src.sent));
        if src.sent + n >= count {
            src.stopped = true;
        }
    }
    for _ in 0..n {
        let mut data = pool.get();
        frame::test_frame(&mut data, src.dst, src.seq);
        src.seq = src.seq.wrapping_add(1);
        port.rx_in.push_back(Frame { data, fcs_ok: true });
    }
    src.sent += n;
    n
}

impl World {
    /// Plugs a traffic source into `p`'s receive side.
    pub fn attach_source(&self, p: &Port, src: SourceConfig) -> SourceHandle {
        let mut w = self.shared.inner.borrow_mut();
        w.sources.push(Source {
            port: p.index,
            dst: src.dst_mac.unwrap_or(p.mac),
            seq: src.first_seq,
            cfg: src,
            sent: 0,
            credit_bits: 0,
            stopped: false,
        });
        SourceHandle {
            shared: self.shared.clone(),
            index: w.sources.len() - 1,
        }
    }

    /// Counts every frame `p` transmits, keeping the first `keep` of them.
    pub fn attach_sink(&self, p: &Port, keep: usize) -> SinkHandle {
        let mut w = self.shared.inner.borrow_mut();
        w.sinks.push(Sink {
            port: p.index,
            keep,
            ..Sink::default()
        });
        SinkHandle {
            shared: self.shared.clone(),
            index: w.sinks.len() - 1,
        }
    }
}

/// A handle on one traffic source.
pub struct SourceHandle {
    pub(crate) shared: Shared,
    pub(crate) index: usize,
}

impl SourceHandle {
    /// Frames sent so far.
    pub fn sent(&self) -> u64 {
        self.shared.inner.borrow().sources[self.index].sent
    }

    /// The sequence number of the next frame.
    pub fn next_seq(&self) -> u32 {
        self.shared.inner.borrow().sources[self.index].seq
    }

    /// Stops the source for good.
    pub fn stop(&self) {
        self.shared.inner.borrow_mut().sources[self.index].stopped = true;
    }
}

/// A handle on one traffic sink.
pub struct SinkHandle {
    pub(crate) shared: Shared,
    pub(crate) index: usize,
}

impl SinkHandle {
    /// Frames received.
    pub fn frames(&self) -> u64 {
        self.shared.inner.borrow().sinks[self.index].frames
    }

    /// Bytes received (destination MAC to payload, without FCS).
    pub fn bytes(&self) -> u64 {
        self.shared.inner.borrow().sinks[self.index].bytes
    }

    /// Frames received with a wrong (or missing) FCS.
    pub fn bad_fcs(&self) -> u64 {
        self.shared.inner.borrow().sinks[self.index].bad_fcs
    }

    /// The frames kept (the first `keep`).
    pub fn kept(&self) -> Vec<Vec<u8>> {
        self.shared.inner.borrow().sinks[self.index].kept.clone()
    }
}
