//! Receive side scaling through the ixgbe driver against the 82599 model: with several receive
//! queues the driver programs MRQC, the hash key (RSSRK) and the redirection table (RETA), and
//! every flow lands on the queue that the Toeplitz hash and the table name (datasheet 7.1.2.8).
//!
//! The expected queue is worked out here, by this file's own Toeplitz hash (checked against
//! the datasheet's verification suite below), from the key and table the test chose: never by
//! asking the model or the driver.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rixy::frame::{self, FrameSpec};
use rixy::ixgbe::Ixgbe;
use rixy::sim::{Pace, Port, PortConfig, Severity, SimBar, SourceConfig, World};
use rixy::{Config, Error, MacAddress, Packet};

/// The key of the datasheet's RSS verification suite (82599 datasheet 7.1.2.8.3, the table
/// Microsoft publishes as "Verifying the RSS Hash Calculation").
const VERIFICATION_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// An IPv4 address and a port.
type Endpoint = ([u8; 4], u16);

/// The suite's IPv4 rows: source, destination, the hash over the addresses only, and the hash
/// over addresses and ports.
const VERIFICATION_IPV4: [(Endpoint, Endpoint, u32, u32); 5] = [
    (
        ([66, 9, 149, 187], 2794),
        ([161, 142, 100, 80], 1766),
        0x323e_8fc2,
        0x51cc_c178,
    ),
    (
        ([199, 92, 111, 2], 14230),
        ([65, 69, 140, 83], 4739),
        0xd718_262a,
        0xc626_b0ea,
    ),
    (
        ([24, 19, 198, 95], 12898),
        ([12, 22, 207, 184], 38024),
        0xd2d0_a5de,
        0x5c2b_394a,
    ),
    (
        ([38, 27, 205, 30], 48228),
        ([209, 142, 163, 6], 2217),
        0x8298_9176,
        0xafc7_327f,
    ),
    (
        ([153, 39, 163, 191], 44251),
        ([202, 188, 127, 2], 1303),
        0x5d18_09c5,
        0x10e8_28a2,
    ),
];

/// The Toeplitz hash of the RSS specification, written out bit by bit as the specification
/// states it: for every set bit of the input, from the first byte's top bit on, XOR in the 32
/// key bits that start at that bit position.
fn toeplitz(key: &[u8; 40], input: &[u8]) -> u32 {
    let key_bit = |i: usize| -> u32 {
        key.get(i / 8)
            .map_or(0, |byte| u32::from(byte >> (7 - i % 8) & 1))
    };
    let mut hash = 0u32;
    for (i, byte) in input.iter().enumerate() {
        for b in 0..8 {
            if byte & (0x80 >> b) != 0 {
                let start = i * 8 + b;
                let window = (0..32).fold(0u32, |w, k| w << 1 | key_bit(start + k));
                hash ^= window;
            }
        }
    }
    hash
}

fn hash_input(src: Endpoint, dst: Endpoint, with_ports: bool) -> Vec<u8> {
    let mut input = Vec::with_capacity(12);
    input.extend_from_slice(&src.0);
    input.extend_from_slice(&dst.0);
    if with_ports {
        input.extend_from_slice(&src.1.to_be_bytes());
        input.extend_from_slice(&dst.1.to_be_bytes());
    }
    input
}

#[test]
fn the_tests_toeplitz_matches_the_datasheet_verification_suite() {
    for (src, dst, two_tuple, four_tuple) in VERIFICATION_IPV4 {
        assert_eq!(
            toeplitz(&VERIFICATION_KEY, &hash_input(src, dst, false)),
            two_tuple,
            "{src:?} -> {dst:?}"
        );
        assert_eq!(
            toeplitz(&VERIFICATION_KEY, &hash_input(src, dst, true)),
            four_tuple,
            "{src:?} -> {dst:?} with ports"
        );
    }
}

/// IP protocol numbers the frames carry.
const UDP: u8 = 17;
const TCP: u8 = 6;
/// A protocol without ports the 82599 knows: hashed over the addresses only.
const GRE: u8 = 47;

/// One flow: what the frames of it carry in the fields RSS hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Flow {
    proto: u8,
    src: Endpoint,
    dst: Endpoint,
}

impl Flow {
    /// The queue the driver's RSS setup must pick: the hash over what MRQC enables for the
    /// protocol (ports for TCP and UDP, 7.1.2.8.1), then the table entry its 7 low bits select.
    fn expected_queue(&self, key: &[u8; 40], table: &[u16]) -> u16 {
        let with_ports = self.proto == TCP || self.proto == UDP;
        let hash = toeplitz(key, &hash_input(self.src, self.dst, with_ports));
        table[(hash & 0x7f) as usize]
    }

    /// Frame `seq` of this flow to `dst_mac`: a 60-byte IPv4 frame whose sequence number is at
    /// the usual place of rixy's test frames.
    fn frame(&self, dst_mac: MacAddress, seq: u32) -> Vec<u8> {
        let spec = FrameSpec {
            dst_mac,
            src_ip: self.src.0,
            dst_ip: self.dst.0,
            src_port: self.src.1,
            dst_port: self.dst.1,
            ..FrameSpec::default()
        };
        let mut f = spec.to_vec(seq).expect("a valid frame");
        if self.proto != UDP {
            // The same header with another protocol number (and its checksum again). The
            // bytes after the IP header still start with the two ports, where TCP has them.
            let ip = &mut f[frame::ETH_HEADER_LEN..frame::ETH_HEADER_LEN + frame::IPV4_HEADER_LEN];
            ip[9] = self.proto;
            ip[10..12].fill(0);
            let sum = frame::ipv4_checksum(ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
        }
        f
    }

    /// The flow of a received frame, read back from its bytes.
    fn of_frame(f: &[u8]) -> Flow {
        let ip = &f[frame::ETH_HEADER_LEN..];
        let l4 = &ip[frame::IPV4_HEADER_LEN..];
        let with_ports = ip[9] == TCP || ip[9] == UDP;
        let port = |at: usize| {
            if with_ports {
                u16::from_be_bytes([l4[at], l4[at + 1]])
            } else {
                0
            }
        };
        Flow {
            proto: ip[9],
            src: (ip[12..16].try_into().unwrap(), port(0)),
            dst: (ip[16..20].try_into().unwrap(), port(2)),
        }
    }
}

/// `n` UDP flows that differ in the source port only, as a generator varying it makes.
fn udp_flows(n: u16) -> Vec<Flow> {
    (0..n)
        .map(|i| Flow {
            proto: UDP,
            src: ([10, 0, 0, 1], 1024 + i),
            dst: ([10, 0, 0, 2], 4791),
        })
        .collect()
}

/// TCP flows and port-less flows (addresses only), a few of each.
fn other_flows() -> Vec<Flow> {
    let tcp = (0..24u16).map(|i| Flow {
        proto: TCP,
        src: ([192, 168, 1, 10], 40000 + 7 * i),
        dst: ([192, 168, 1, 20], 443),
    });
    let gre = (0..24u8).map(|i| Flow {
        proto: GRE,
        src: ([172, 16, i, 1], 0),
        dst: ([172, 16, 0, 254], 0),
    });
    tcp.chain(gre).collect()
}

/// Frames put on the wire between two receive polls: fewer than a ring holds, even if every
/// one of them went to the same queue.
const CHUNK: usize = 32;

fn open(port: &Port, rx_queues: u16) -> rixy::Result<Ixgbe<SimBar>> {
    let config = Config {
        rx_queues,
        rx_ring_size: 64,
        tx_ring_size: 64,
        link_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    Ixgbe::new(
        format!("sim:{}", port.index()),
        port.bar(),
        &port.dma(),
        &config,
    )
}

#[track_caller]
fn assert_no_reports(port: &Port) {
    let found = port.reports_at_least(Severity::Pedantic);
    assert!(
        found.is_empty(),
        "the model reported:\n{}",
        found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Sends `rounds` frames of every flow (interleaved, sequence numbers counting frames), lets
/// the driver receive them on every queue, and returns for each queue the flows and sequence
/// numbers it received, in order.
fn send_and_receive(
    world: &World,
    port: &Port,
    dev: &mut Ixgbe<SimBar>,
    flows: &[Flow],
    rounds: u32,
) -> BTreeMap<u16, Vec<(Flow, u32)>> {
    let mac = MacAddress(port.mac());
    let mut got: BTreeMap<u16, Vec<(Flow, u32)>> = BTreeMap::new();
    let mut seq = 0u32;
    let mut batch: Vec<Packet> = Vec::new();
    let mut drain = |dev: &mut Ixgbe<SimBar>, got: &mut BTreeMap<u16, Vec<(Flow, u32)>>| {
        for q in 0..dev.rx_queues() {
            while dev.rx_batch(q, &mut batch, CHUNK).unwrap() > 0 {
                for p in batch.drain(..) {
                    let flow = Flow::of_frame(&p);
                    let seq = frame::seq(&p).unwrap();
                    got.entry(q).or_default().push((flow, seq));
                }
            }
        }
    };
    for _ in 0..rounds {
        // One frame of every flow per round.
        for chunk in flows.chunks(CHUNK) {
            for flow in chunk {
                port.inject_frame(&flow.frame(mac, seq), true);
                seq += 1;
            }
            world.step();
            drain(dev, &mut got);
        }
    }
    world.run_until_idle(100);
    drain(dev, &mut got);
    got
}

/// Checks what [`send_and_receive`] returned against the queue the key and table name for
/// each flow: every frame arrived once, on that queue, in the order sent.
#[track_caller]
fn assert_spread_as_the_table_says(
    got: &BTreeMap<u16, Vec<(Flow, u32)>>,
    flows: &[Flow],
    rounds: u32,
    key: &[u8; 40],
    table: &[u16],
) {
    let mut queue_of: BTreeMap<Flow, BTreeSet<u16>> = BTreeMap::new();
    let mut seqs = BTreeSet::new();
    let mut total = 0usize;
    for (&q, frames) in got {
        for w in frames.windows(2) {
            assert!(w[0].1 < w[1].1, "queue {q}: out of order: {w:?}");
        }
        for &(flow, seq) in frames {
            queue_of.entry(flow).or_default().insert(q);
            assert!(seqs.insert(seq), "frame {seq} received twice");
            total += 1;
        }
    }
    assert_eq!(
        total,
        flows.len() * rounds as usize,
        "frames lost or invented"
    );
    for flow in flows {
        let queues = &queue_of[flow];
        let want = flow.expected_queue(key, table);
        assert_eq!(
            queues,
            &BTreeSet::from([want]),
            "{flow:?} should land on queue {want} only"
        );
    }
}

/// The table the driver programs by default: entry i names queue i mod the queue count.
fn round_robin(queues: u16) -> Vec<u16> {
    (0..128).map(|i| i % queues).collect()
}

#[test]
fn with_four_queues_every_flow_lands_on_the_queue_its_hash_names() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let mut dev = open(&port, 4).unwrap();
    let mut flows = udp_flows(64);
    flows.extend(other_flows());
    let rounds = 4;
    let got = send_and_receive(&world, &port, &mut dev, &flows, rounds);
    // Every queue receives: a queue count is not just accepted, it is used.
    let per_queue: Vec<usize> = (0..4).map(|q| got.get(&q).map_or(0, Vec::len)).collect();
    assert!(
        per_queue.iter().all(|&n| n > 0),
        "frames per queue: {per_queue:?}"
    );
    assert_spread_as_the_table_says(&got, &flows, rounds, &VERIFICATION_KEY, &round_robin(4));
    let stats = dev.stats();
    assert_eq!(stats.rx_packets, (flows.len() * rounds as usize) as u64);
    assert_eq!(stats.rx_dropped + stats.rx_errors, 0, "{stats:?}");
    assert_no_reports(&port);
}

/// The suite's flows, with ports (TCP) and without (a protocol without ports).
fn verification_flows() -> Vec<(Flow, u32)> {
    VERIFICATION_IPV4
        .iter()
        .flat_map(|&(src, dst, two_tuple, four_tuple)| {
            [
                (
                    Flow {
                        proto: TCP,
                        src,
                        dst,
                    },
                    four_tuple,
                ),
                (
                    Flow {
                        proto: GRE,
                        src: (src.0, 0),
                        dst: (dst.0, 0),
                    },
                    two_tuple,
                ),
            ]
        })
        .collect()
}

#[test]
fn sixteen_queues_all_receive_and_the_datasheet_flows_land_where_its_hashes_say() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let mut dev = open(&port, 16).unwrap();
    assert_eq!(dev.rss_key(), Some(VERIFICATION_KEY));
    assert_eq!(dev.rss_table().map(Vec::from), Some(round_robin(16)));
    let table = round_robin(16);
    let suite = verification_flows();
    let mut flows = udp_flows(256);
    flows.extend(suite.iter().map(|&(f, _)| f));
    let rounds = 2;
    let got = send_and_receive(&world, &port, &mut dev, &flows, rounds);
    let per_queue: Vec<usize> = (0..16).map(|q| got.get(&q).map_or(0, Vec::len)).collect();
    assert!(
        per_queue.iter().all(|&n| n > 0),
        "frames per queue: {per_queue:?}"
    );
    assert_spread_as_the_table_says(&got, &flows, rounds, &VERIFICATION_KEY, &table);
    // The suite's flows land on the queue its published hash values name: a check that does
    // not rest on any Toeplitz code.
    for (flow, published) in suite {
        let want = table[(published & 0x7f) as usize];
        let queues: BTreeSet<u16> = got
            .iter()
            .filter(|(_, frames)| frames.iter().any(|(f, _)| *f == flow))
            .map(|(&q, _)| q)
            .collect();
        assert_eq!(queues, BTreeSet::from([want]), "{flow:?}");
    }
    assert_no_reports(&port);
}

#[test]
fn more_receive_queues_than_rss_can_name_are_refused() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let err = open(&port, 17).err().expect("17 receive queues opened");
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("at most 16 receive queues"), "{message}");
}

/// A key whose bytes repeat with a period of two: a flow and its reverse hash alike.
const SYMMETRIC_KEY: [u8; 40] = {
    let mut key = [0u8; 40];
    let mut i = 0;
    while i < 40 {
        key[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    key
};

#[test]
fn a_key_and_table_set_while_running_steer_the_next_frames() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let mut dev = open(&port, 4).unwrap();
    // An uneven table: queue 3 gets half the entries, the others a sixth each.
    let table: [u16; 128] =
        std::array::from_fn(|i| if i % 2 == 1 { 3 } else { (i / 2 % 3) as u16 });
    dev.set_rss_key(&SYMMETRIC_KEY).unwrap();
    dev.set_rss_table(&table).unwrap();
    assert_eq!(dev.rss_key(), Some(SYMMETRIC_KEY));
    assert_eq!(dev.rss_table(), Some(table));
    // Each flow and its reverse.
    let mut flows = udp_flows(48);
    flows.extend(other_flows());
    let reversed: Vec<Flow> = flows
        .iter()
        .map(|f| Flow {
            src: f.dst,
            dst: f.src,
            ..*f
        })
        .collect();
    flows.extend(reversed);
    let rounds = 3;
    let got = send_and_receive(&world, &port, &mut dev, &flows, rounds);
    assert_spread_as_the_table_says(&got, &flows, rounds, &SYMMETRIC_KEY, &table);
    let queue_of = |flow: &Flow| -> u16 {
        *got.iter()
            .find(|(_, frames)| frames.iter().any(|(f, _)| f == flow))
            .expect("the flow arrived")
            .0
    };
    for flow in &flows {
        let reverse = Flow {
            src: flow.dst,
            dst: flow.src,
            ..*flow
        };
        assert_eq!(
            queue_of(flow),
            queue_of(&reverse),
            "{flow:?} and its reverse"
        );
    }
    assert!(got.len() == 4, "every queue received: {:?}", got.keys());
    assert_no_reports(&port);
}

#[test]
fn a_table_naming_a_queue_that_is_not_enabled_is_refused_and_changes_nothing() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let mut dev = open(&port, 4).unwrap();
    let mut table: [u16; 128] = std::array::from_fn(|i| (i % 2) as u16);
    table[77] = 4;
    let err = dev.set_rss_table(&table).unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    let message = err.to_string();
    for part in ["entry 77", "receive queue 4", "4 receive queues (0 to 3)"] {
        assert!(message.contains(part), "{part:?} missing: {message}");
    }
    // Nothing was written: the default table still spreads frames over all four queues.
    assert_eq!(dev.rss_table().map(Vec::from), Some(round_robin(4)));
    let flows = udp_flows(64);
    let got = send_and_receive(&world, &port, &mut dev, &flows, 2);
    assert_spread_as_the_table_says(&got, &flows, 2, &VERIFICATION_KEY, &round_robin(4));
    assert_no_reports(&port);
}

#[test]
fn with_one_receive_queue_rss_stays_off_and_cannot_be_set() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let mut dev = open(&port, 1).unwrap();
    assert_eq!(dev.rss_key(), None);
    assert_eq!(dev.rss_table(), None);
    for err in [
        dev.set_rss_key(&SYMMETRIC_KEY).unwrap_err(),
        dev.set_rss_table(&[0; 128]).unwrap_err(),
    ] {
        let message = err.to_string();
        assert!(
            message.contains("opened with 1") && message.contains("2 to 16 receive queues"),
            "{message}"
        );
    }
    let flows = udp_flows(32);
    let got = send_and_receive(&world, &port, &mut dev, &flows, 2);
    assert_spread_as_the_table_says(&got, &flows, 2, &VERIFICATION_KEY, &[0; 128]);
    assert_no_reports(&port);
}

/// Receives on every queue of `dev` until the world is idle and `want` frames arrived (or the
/// steps run out), returning for each queue the flows and sequence numbers it received.
fn receive_from_source(
    world: &World,
    dev: &mut Ixgbe<SimBar>,
    want: usize,
) -> BTreeMap<u16, Vec<(Flow, u32)>> {
    let mut got: BTreeMap<u16, Vec<(Flow, u32)>> = BTreeMap::new();
    let mut batch: Vec<Packet> = Vec::new();
    let mut total = 0;
    for _ in 0..10_000 {
        world.step();
        for q in 0..dev.rx_queues() {
            while dev.rx_batch(q, &mut batch, CHUNK).unwrap() > 0 {
                for p in batch.drain(..) {
                    let parsed = frame::parse(&p).expect("a test frame");
                    got.entry(q)
                        .or_default()
                        .push((Flow::of_frame(&p), parsed.seq));
                    total += 1;
                }
            }
        }
        if total >= want && world.run_until_idle(10) < 10 {
            break;
        }
    }
    got
}

#[test]
fn a_source_with_eight_flows_spreads_over_four_queues() {
    for pace in [Pace::AsFastAsDescriptors, Pace::LineRateWithFlowControl] {
        let world = World::new();
        let port = world.add_port(PortConfig::default());
        let mut dev = open(&port, 4).unwrap();
        let flows = 8u32;
        let count = 400u64;
        let source = world.attach_source(
            &port,
            SourceConfig {
                pace,
                count: Some(count),
                flows,
                ..SourceConfig::default()
            },
        );
        let got = receive_from_source(&world, &mut dev, count as usize);
        assert_eq!(source.sent(), count, "{pace:?}");
        // The flows, worked out here: source ports 42 to 49, the rest as the test frame.
        let expected: Vec<Flow> = (0..flows as u16)
            .map(|i| Flow {
                proto: UDP,
                src: ([10, 0, 0, 1], 42 + i),
                dst: ([10, 0, 0, 2], 1337),
            })
            .collect();
        assert_spread_as_the_table_says(
            &got,
            &expected,
            (count / u64::from(flows)) as u32,
            &VERIFICATION_KEY,
            &round_robin(4),
        );
        // The source cycles the flows: frame s is flow s mod 8.
        for (flow, seq) in got.values().flatten() {
            assert_eq!(u32::from(flow.src.1) - 42, seq % flows, "{pace:?}");
        }
        let per_queue: Vec<usize> = (0..4).map(|q| got.get(&q).map_or(0, Vec::len)).collect();
        assert!(
            per_queue.iter().all(|&n| n > 0),
            "{pace:?}: frames per queue: {per_queue:?}"
        );
        let stats = dev.stats();
        assert_eq!(stats.rx_packets, count, "{pace:?}");
        assert_eq!(stats.rx_dropped + stats.rx_errors, 0, "{pace:?}: {stats:?}");
        assert_no_reports(&port);
    }
}

#[test]
fn a_full_queue_pauses_a_multi_flow_source_and_nothing_is_lost() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let mut dev = open(&port, 4).unwrap();
    let flows = 8u32;
    let count = 800u64;
    let source = world.attach_source(
        &port,
        SourceConfig {
            pace: Pace::AsFastAsDescriptors,
            count: Some(count),
            flows,
            ..SourceConfig::default()
        },
    );
    let expected: Vec<Flow> = (0..flows as u16)
        .map(|i| Flow {
            proto: UDP,
            src: ([10, 0, 0, 1], 42 + i),
            dst: ([10, 0, 0, 2], 1337),
        })
        .collect();
    // One queue, not flow 0's, is not served for a while: its ring fills, and the source must
    // wait for it rather than send what it cannot take (the driver sets SRRCTL.DROP_EN, so a
    // frame for a queue without descriptors is dropped), while the other queues keep draining.
    let starved = (expected[0].expected_queue(&VERIFICATION_KEY, &round_robin(4)) + 1) % 4;
    let mut got: BTreeMap<u16, Vec<(Flow, u32)>> = BTreeMap::new();
    let mut batch: Vec<Packet> = Vec::new();
    for _ in 0..50 {
        world.step();
        for q in (0..4).filter(|&q| q != starved) {
            while dev.rx_batch(q, &mut batch, CHUNK).unwrap() > 0 {
                for p in batch.drain(..) {
                    let seq = frame::seq(&p).unwrap();
                    got.entry(q).or_default().push((Flow::of_frame(&p), seq));
                }
            }
        }
    }
    assert!(
        source.sent() < count,
        "the source did not wait for queue {starved}"
    );
    let so_far = got.values().map(Vec::len).sum::<usize>();
    for (q, frames) in receive_from_source(&world, &mut dev, count as usize - so_far) {
        got.entry(q).or_default().extend(frames);
    }
    assert_eq!(source.sent(), count);
    assert_spread_as_the_table_says(
        &got,
        &expected,
        (count / u64::from(flows)) as u32,
        &VERIFICATION_KEY,
        &round_robin(4),
    );
    let stats = dev.stats();
    assert_eq!(stats.rx_packets, count);
    assert_eq!(stats.rx_dropped + stats.rx_errors, 0, "{stats:?}");
    assert_no_reports(&port);
}
