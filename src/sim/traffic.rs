//! Traffic: sources that send test frames into a port's receive side at a pace, and sinks that
//! count (and keep) what a port transmits.

use super::frame::{self, FCS_LEN, Frame, FramePool, TEST_FRAME_LEN, WIRE_OVERHEAD};
use super::port::Port;
use super::queues::QUEUES;
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
#[derive(Clone, Copy, Debug)]
pub struct SourceConfig {
    /// Sending rate.
    pub pace: Pace,
    /// Stop after this many frames.
    pub count: Option<u64>,
    /// Destination MAC (default: the port's own address).
    pub dst_mac: Option<[u8; 6]>,
    /// First sequence number.
    pub first_seq: u32,
    /// Flows the frames are spread over, cycled frame by frame: the frame with sequence number
    /// `s` belongs to flow `s mod flows` and has UDP source port 42 + `s mod flows`
    /// ([`crate::frame`]'s "Flows"), so RSS has something to spread. 1 by default (every frame
    /// the same flow); 0 counts as 1 and more than [`crate::frame::MAX_FLOWS`] as that many.
    /// Paced by the port's free descriptors, a source with several flows stops before the first
    /// frame whose receive queue is full, as a paused link does.
    pub flows: u32,
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            pace: Pace::default(),
            count: None,
            dst_mac: None,
            first_seq: 0,
            flows: 1,
        }
    }
}

/// A source plugged into a port.
pub(crate) struct Source {
    /// The port it sends into.
    pub(crate) port: usize,
    cfg: SourceConfig,
    dst: [u8; 6],
    seq: u32,
    /// Flows, 1 to MAX_FLOWS.
    flows: u32,
    /// The flow of the next frame: `seq mod flows`, kept without a division per frame.
    flow: u32,
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
    /// One bit per UDP source port seen (65,536 bits once the first UDP frame arrived).
    src_ports: Vec<u64>,
}

/// The UDP source port of an IPv4 frame without IP options that carries UDP.
#[inline]
fn udp_src_port(data: &[u8]) -> Option<u16> {
    let at = crate::frame::SRC_PORT_OFFSET;
    let header = data.get(..at + 2)?;
    (header[12..14] == [0x08, 0x00] && header[14] == 0x45 && header[23] == 17)
        .then(|| u16::from_be_bytes([header[at], header[at + 1]]))
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
        if let Some(port) = udp_src_port(&frame.data) {
            if self.src_ports.is_empty() {
                self.src_ports = vec![0; 1 << 10];
            }
            self.src_ports[usize::from(port >> 6)] |= 1 << (port & 63);
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
    queue_room(port, q)
}

/// Free descriptors of RX queue `q`, less every frame already on its way to any queue.
fn queue_room(port: &PortSlot, q: usize) -> u64 {
    let room = port.dev.rx_room(q);
    let queued = port.rx_in.len() + port.dev.fifo.len();
    room.saturating_sub(queued) as u64
}

/// The next frame of a source: its sequence number and its flow's source port.
fn next_frame(src: &mut Source, pool: &mut FramePool) -> Vec<u8> {
    let mut data = pool.get();
    frame::test_frame(&mut data, src.dst, src.seq);
    if src.flows > 1 {
        // flow < MAX_FLOWS: the port is at most 65534.
        crate::frame::write_src_port(&mut data, crate::frame::BASE_SRC_PORT + src.flow as u16);
    }
    data
}

/// Moves a source on to its next frame.
fn advance(src: &mut Source) {
    src.seq = src.seq.wrapping_add(1);
    src.flow += 1;
    if src.flow == src.flows {
        src.flow = 0;
    }
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
    if src.flows > 1 && src.cfg.pace != Pace::LineRate {
        return generate_flows_paced(src, port, quantum_ns, pool);
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
        let data = next_frame(src, pool);
        advance(src);
        port.rx_in.push_back(Frame { data, fcs_ok: true });
    }
    src.sent += n;
    n
}

/// [`generate`] for a source with several flows paced by the port's free descriptors: the
/// frames of one quantum go to several receive queues, so each frame is checked against the
/// room of its own queue, and the source stops before the first that would not fit.
fn generate_flows_paced(
    src: &mut Source,
    port: &mut PortSlot,
    quantum_ns: u64,
    pool: &mut FramePool,
) -> u64 {
    let mut n = match src.cfg.pace {
        Pace::AsFastAsDescriptors => u64::MAX,
        _ => line_rate_frames(src, quantum_ns),
    };
    if let Some(count) = src.cfg.count {
        n = n.min(count.saturating_sub(src.sent));
    }
    // Room left per queue in this quantum; u64::MAX until the queue's first frame.
    let mut room = [u64::MAX; QUEUES];
    let mut sent = 0;
    while sent < n {
        let data = next_frame(src, pool);
        let q = port.dev.select_queue(&data).min(QUEUES - 1);
        if room[q] == u64::MAX {
            room[q] = queue_room(port, q);
        }
        if room[q] == 0 {
            pool.put(data);
            // A paused link does not save up what it could not send.
            src.credit_bits = 0;
            break;
        }
        room[q] -= 1;
        advance(src);
        port.rx_in.push_back(Frame { data, fcs_ok: true });
        sent += 1;
    }
    src.sent += sent;
    if src.cfg.count.is_some_and(|count| src.sent >= count) {
        src.stopped = true;
    }
    sent
}

impl World {
    /// Plugs a traffic source into `p`'s receive side.
    pub fn attach_source(&self, p: &Port, src: SourceConfig) -> SourceHandle {
        let mut w = self.shared.lock();
        w.sources.push(Source {
            port: p.index,
            dst: src.dst_mac.unwrap_or(p.mac),
            seq: src.first_seq,
            flows: src.flows.clamp(1, crate::frame::MAX_FLOWS),
            flow: src.first_seq % src.flows.clamp(1, crate::frame::MAX_FLOWS),
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
        let mut w = self.shared.lock();
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
        self.shared.lock().sources[self.index].sent
    }

    /// The sequence number of the next frame.
    pub fn next_seq(&self) -> u32 {
        self.shared.lock().sources[self.index].seq
    }

    /// Stops the source for good.
    pub fn stop(&self) {
        self.shared.lock().sources[self.index].stopped = true;
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
        self.shared.lock().sinks[self.index].frames
    }

    /// Bytes received (destination MAC to payload, without FCS).
    pub fn bytes(&self) -> u64 {
        self.shared.lock().sinks[self.index].bytes
    }

    /// Frames received with a wrong (or missing) FCS.
    pub fn bad_fcs(&self) -> u64 {
        self.shared.lock().sinks[self.index].bad_fcs
    }

    /// How many different UDP source ports the IPv4/UDP frames received carried: the flows of
    /// a generator that varies them ([`crate::frame`]'s "Flows").
    pub fn udp_src_ports(&self) -> u32 {
        let w = self.shared.lock();
        w.sinks[self.index]
            .src_ports
            .iter()
            .map(|bits| bits.count_ones())
            .sum()
    }

    /// The frames kept (the first `keep`).
    pub fn kept(&self) -> Vec<Vec<u8>> {
        self.shared.lock().sinks[self.index].kept.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::PortConfig;
    use crate::sim::world::WorldInner;

    /// The source ports of the frames `flows` puts on the wire in one quantum at line rate.
    fn ports_sent(flows: u32, first_seq: u32) -> Vec<(u32, u16)> {
        let world = World::new();
        let port = world.add_port(PortConfig::default());
        world.attach_source(
            &port,
            SourceConfig {
                flows,
                first_seq,
                ..SourceConfig::default()
            },
        );
        let mut w = world.shared.lock();
        let WorldInner {
            ports,
            sources,
            pool,
            ..
        } = &mut *w;
        // 10 µs at 10 Gbit/s: 148 frames of 60 bytes (84 bytes on the line each).
        let n = generate(&mut sources[0], &mut ports[0], 10_000, pool);
        assert_eq!(n, 148);
        ports[0]
            .rx_in
            .iter()
            .map(|f| {
                let parsed = crate::frame::parse(&f.data).expect("a test frame");
                (parsed.seq, parsed.src_port)
            })
            .collect()
    }

    #[test]
    fn a_source_cycles_its_flows_frame_by_frame() {
        for (flows, first_seq) in [(2, 0), (5, 0), (7, 1000), (1, 0), (148, 3)] {
            let sent = ports_sent(flows, first_seq);
            for (i, &(seq, port)) in sent.iter().enumerate() {
                assert_eq!(seq, first_seq + i as u32);
                assert_eq!(u32::from(port), 42 + seq % flows, "{flows} flows");
            }
        }
        // Out of range counts are clamped, as documented.
        assert!(ports_sent(0, 0).iter().all(|&(_, port)| port == 42));
        let most = ports_sent(u32::MAX, crate::frame::MAX_FLOWS - 2);
        let ports: Vec<u16> = most.iter().take(4).map(|&(_, p)| p).collect();
        assert_eq!(ports, [65_533, 65_534, 42, 43]);
    }

    #[test]
    fn a_sink_counts_udp_source_ports() {
        let mut sink = Sink::default();
        let spec = crate::frame::FrameSpec::default();
        for k in 0..40 {
            let mut data = vec![0; 60];
            spec.write_flow(&mut data, k, 6).unwrap();
            sink.record(&Frame { data, fcs_ok: true });
        }
        // Not UDP: another EtherType, another protocol, too short.
        let mut arp = spec.to_vec(0).unwrap();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        arp[34] = 9;
        let mut tcp = spec.to_vec(0).unwrap();
        tcp[23] = 6;
        tcp[34] = 10;
        for data in [arp, tcp, vec![0x45; 20]] {
            sink.record(&Frame { data, fcs_ok: true });
        }
        assert_eq!(sink.frames, 43);
        let seen: u32 = sink.src_ports.iter().map(|b| b.count_ones()).sum();
        assert_eq!(seen, 6);
        assert_eq!(udp_src_port(&spec.to_vec(1).unwrap()), Some(42));
    }
}
