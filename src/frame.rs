//! The test frame: a UDP/IPv4 packet in an Ethernet frame carrying a 32-bit sequence number, as
//! ixy's pktgen sends it.
//!
//! The simulated traffic source ([`crate::sim`]) sends it, `rixy-pktgen` builds it with
//! [`FrameSpec`], `rixy-fwd` [`touch`]es it, and the tests read it back with [`parse`] and
//! [`seq`]. It is part of the library, not of the apps, so it is there without the `apps`
//! feature too.
//!
//! ## Layout
//!
//! Offsets are from the first byte of the frame (the destination MAC); the frame has no FCS
//! (the NIC appends it). A frame is [`MIN_FRAME_LEN`] to [`MAX_FRAME_LEN`] bytes long; longer
//! frames carry more zero bytes after the sequence number.
//!
//! ```text
//! offset  size  field
//!      0     6  destination MAC (pktgen: ff:ff:ff:ff:ff:ff unless --dst-mac)
//!      6     6  source MAC (pktgen: the device's own unless --src-mac)
//!     12     2  EtherType 0x0800 (IPv4)
//!     14    20  IPv4 header: version 4, IHL 5, total length = frame length - 14, TTL 64,
//!               protocol 17 (UDP), header checksum (RFC 791), 10.0.0.1 -> 10.0.0.2
//!     34     8  UDP header: port 42 -> 1337, length = frame length - 34, checksum 0 (none)
//!     42     3  payload "ixy", then zeros
//!     56     4  sequence number, u32 little-endian (SEQ_OFFSET)
//!     60   ...  zeros up to the frame length
//! ```
//!
//! At 60 bytes this is byte for byte the frame of ixy's pktgen (which writes the sequence number
//! in the last four bytes, in the x86 byte order) and of rixy's simulated traffic source; the
//! sequence number stays at offset 56 in longer frames, so a checker never needs to know the
//! size a generator was given. The UDP checksum is 0, which IPv4 allows (RFC 768: "all zero
//! transmitted checksum value means that the transmitter generated no checksum"), so a
//! generator rewrites only the sequence number per packet.
//!
//! ## Flows
//!
//! A generator that spreads its frames over `N` flows (`rixy-pktgen --flows N`,
//! [`crate::sim::SourceConfig::flows`]) varies the UDP source port only: frame `k` (counting
//! from 0, so with sequence number `k` while that fits 32 bits) belongs to flow `k mod N`,
//! whose source port is 42 + `k mod N` ([`FrameSpec::flow_port`]; written with
//! [`write_src_port`], read back with [`ParsedFrame::flow`]). The IPv4 header, and so its
//! checksum, is the same for every flow, and the UDP checksum stays 0, so varying the flow
//! costs a generator one 2-byte store per packet. The 82599's RSS hashes the UDP ports
//! (datasheet 7.1.2.8), so the flows spread over its receive queues. With one flow every
//! frame is the frame above.

use crate::{Error, MacAddress};

/// The shortest test frame: the Ethernet minimum of 64 bytes less the 4-byte FCS.
pub const MIN_FRAME_LEN: usize = 60;

/// The longest test frame: 1500 bytes of IPv4 after a 14-byte Ethernet header.
pub const MAX_FRAME_LEN: usize = 1514;

/// Where the sequence number sits (4 bytes, little-endian).
pub const SEQ_OFFSET: usize = 56;

/// Where the forwarder's touched byte sits: a zero byte of the test frame's payload, as in ixy's
/// forwarders, so forwarding changes neither the headers nor the sequence number.
pub const TOUCH_OFFSET: usize = 48;

/// Where the UDP source port sits (2 bytes, big-endian): the field that tells flows apart.
pub const SRC_PORT_OFFSET: usize = ETH_HEADER_LEN + IPV4_HEADER_LEN;

/// The test frame's UDP source port, and flow 0's.
pub const BASE_SRC_PORT: u16 = 42;

/// The most flows frames can be spread over: source ports 42 to 65534.
pub const MAX_FLOWS: u32 = 65535 - BASE_SRC_PORT as u32;

/// Ethernet header length.
pub const ETH_HEADER_LEN: usize = 14;
/// IPv4 header length (no options).
pub const IPV4_HEADER_LEN: usize = 20;
/// UDP header length.
pub const UDP_HEADER_LEN: usize = 8;
/// Offset of the UDP payload.
pub const PAYLOAD_OFFSET: usize = ETH_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN;

/// EtherType of IPv4.
const ETHERTYPE_IPV4: u16 = 0x0800;
/// IPv4 protocol number of UDP.
const IPPROTO_UDP: u8 = 17;
/// The payload's first bytes.
const PAYLOAD_TAG: &[u8] = b"ixy";

/// What a test frame says: its addresses, ports and length. The default is ixy's pktgen frame
/// to the broadcast address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameSpec {
    /// Destination MAC address.
    pub dst_mac: MacAddress,
    /// Source MAC address.
    pub src_mac: MacAddress,
    /// Source IPv4 address.
    pub src_ip: [u8; 4],
    /// Destination IPv4 address.
    pub dst_ip: [u8; 4],
    /// Source UDP port.
    pub src_port: u16,
    /// Destination UDP port.
    pub dst_port: u16,
    /// Frame length without FCS: [`MIN_FRAME_LEN`]..=[`MAX_FRAME_LEN`].
    pub len: usize,
}

impl Default for FrameSpec {
    fn default() -> Self {
        Self {
            dst_mac: MacAddress([0xff; 6]),
            src_mac: MacAddress([0x10; 6]),
            src_ip: [10, 0, 0, 1],
            dst_ip: [10, 0, 0, 2],
            src_port: BASE_SRC_PORT,
            dst_port: 1337,
            len: MIN_FRAME_LEN,
        }
    }
}

impl FrameSpec {
    /// Checks the length.
    pub fn validate(&self) -> crate::Result<()> {
        if (MIN_FRAME_LEN..=MAX_FRAME_LEN).contains(&self.len) {
            Ok(())
        } else {
            Err(Error::FrameSize { size: self.len })
        }
    }

    /// Writes the frame with sequence number `seq` into `frame`, which must be exactly
    /// [`FrameSpec::len`] bytes long (an error otherwise, and nothing is written).
    pub fn write(&self, frame: &mut [u8], seq: u32) -> crate::Result<()> {
        self.validate()?;
        if frame.len() != self.len {
            return Err(Error::FrameSize { size: frame.len() });
        }
        frame.fill(0);
        frame[0..6].copy_from_slice(&self.dst_mac.0);
        frame[6..12].copy_from_slice(&self.src_mac.0);
        frame[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());

        // The lengths fit in u16: len <= MAX_FRAME_LEN was checked above.
        let ip_len = (self.len - ETH_HEADER_LEN) as u16;
        let ip = &mut frame[ETH_HEADER_LEN..ETH_HEADER_LEN + IPV4_HEADER_LEN];
        ip[0] = 0x45; // version 4, header length 5 words
        ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
        ip[8] = 64; // TTL
        ip[9] = IPPROTO_UDP;
        ip[12..16].copy_from_slice(&self.src_ip);
        ip[16..20].copy_from_slice(&self.dst_ip);
        let checksum = ipv4_checksum(ip);
        ip[10..12].copy_from_slice(&checksum.to_be_bytes());

        let udp_len = ip_len - IPV4_HEADER_LEN as u16;
        let udp = &mut frame[ETH_HEADER_LEN + IPV4_HEADER_LEN..PAYLOAD_OFFSET];
        udp[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        udp[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
        // udp[6..8]: checksum 0, none.

        frame[PAYLOAD_OFFSET..PAYLOAD_OFFSET + PAYLOAD_TAG.len()].copy_from_slice(PAYLOAD_TAG);
        write_seq(frame, seq);
        Ok(())
    }

    /// The UDP source port of flow `flow`: [`FrameSpec::src_port`] + `flow`, or `None` when
    /// that passes 65534 (so the default spec has [`MAX_FLOWS`] flows, ports 42 to 65534).
    pub fn flow_port(&self, flow: u32) -> Option<u16> {
        let port = u32::from(self.src_port).checked_add(flow)?;
        u16::try_from(port).ok().filter(|&p| p < u16::MAX)
    }

    /// Checks that frames of this spec can be spread over `flows` flows: 1 up to as many as
    /// there are source ports from [`FrameSpec::src_port`] to 65534.
    pub fn check_flows(&self, flows: u32) -> crate::Result<()> {
        if flows >= 1 && self.flow_port(flows - 1).is_some() {
            Ok(())
        } else {
            Err(Error::InvalidConfig {
                problem: format!(
                    "{flows} flows: give 1 to {} (UDP source ports {} up to 65534)",
                    u16::MAX - self.src_port,
                    self.src_port
                ),
            })
        }
    }

    /// Writes frame `k` of `flows` flows into `frame`: [`FrameSpec::write`] with sequence
    /// number `k` and the source port of flow `k mod flows` ([`FrameSpec::flow_port`]). With
    /// one flow this is [`FrameSpec::write`]. An error for a flow count
    /// [`FrameSpec::check_flows`] refuses, and nothing is written.
    pub fn write_flow(&self, frame: &mut [u8], k: u32, flows: u32) -> crate::Result<()> {
        self.check_flows(flows)?;
        let spec = FrameSpec {
            // check_flows made sure every flow below `flows` has a port.
            src_port: self.flow_port(k % flows).unwrap_or(self.src_port),
            ..*self
        };
        spec.write(frame, k)
    }

    /// The frame with sequence number `seq`, as a new vector.
    pub fn to_vec(&self, seq: u32) -> crate::Result<Vec<u8>> {
        self.validate()?;
        let mut frame = vec![0; self.len];
        self.write(&mut frame, seq)?;
        Ok(frame)
    }
}

/// Overwrites the sequence number of a test frame; returns false, writing nothing, if the frame
/// is too short to carry one.
#[inline]
pub fn write_seq(frame: &mut [u8], seq: u32) -> bool {
    match frame.get_mut(SEQ_OFFSET..SEQ_OFFSET + 4) {
        Some(bytes) => {
            bytes.copy_from_slice(&seq.to_le_bytes());
            true
        }
        None => false,
    }
}

/// Overwrites the UDP source port of a test frame (at [`SRC_PORT_OFFSET`]), which moves it to
/// another flow and leaves the IPv4 checksum valid; returns false, writing nothing, if the frame
/// is too short to carry one.
#[inline]
pub fn write_src_port(frame: &mut [u8], port: u16) -> bool {
    match frame.get_mut(SRC_PORT_OFFSET..SRC_PORT_OFFSET + 2) {
        Some(bytes) => {
            bytes.copy_from_slice(&port.to_be_bytes());
            true
        }
        None => false,
    }
}

/// The sequence number at [`SEQ_OFFSET`], if the frame is long enough to carry one. This reads
/// the bytes only; [`parse`] also checks that the frame is a test frame.
#[inline]
pub fn seq(frame: &[u8]) -> Option<u32> {
    let bytes = frame.get(SEQ_OFFSET..SEQ_OFFSET + 4)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// Reads and writes one byte of a received frame ([`TOUCH_OFFSET`], or the last byte of a
/// shorter one) as ixy's forwarders do, so that forwarding really fetches the packet data. The
/// byte is incremented; in a test frame it is a payload byte no checker looks at.
#[inline]
pub fn touch(frame: &mut [u8]) {
    let index = TOUCH_OFFSET.min(frame.len().wrapping_sub(1));
    if let Some(byte) = frame.get_mut(index) {
        *byte = byte.wrapping_add(1);
    }
}

/// The Internet checksum (RFC 1071) of an IPv4 header whose checksum field is zero; over a
/// header with its checksum in place the result is 0.
pub fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|pair| {
            u32::from(u16::from_be_bytes([
                pair[0],
                pair.get(1).copied().unwrap_or(0),
            ]))
        })
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What [`parse`] found in a test frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedFrame {
    /// Destination MAC address.
    pub dst_mac: MacAddress,
    /// Source MAC address.
    pub src_mac: MacAddress,
    /// Source UDP port.
    pub src_port: u16,
    /// Destination UDP port.
    pub dst_port: u16,
    /// The sequence number.
    pub seq: u32,
}

impl ParsedFrame {
    /// The flow of a frame of the default spec's generators: its source port less
    /// [`BASE_SRC_PORT`], or `None` for a source port below it.
    pub fn flow(&self) -> Option<u32> {
        self.src_port.checked_sub(BASE_SRC_PORT).map(u32::from)
    }
}

/// Why a frame is not a test frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameProblem {
    /// Shorter than [`MIN_FRAME_LEN`].
    #[error("{0} bytes is shorter than a test frame ({MIN_FRAME_LEN})")]
    TooShort(usize),
    /// Not IPv4.
    #[error("EtherType {0:#06x} is not IPv4")]
    NotIpv4(u16),
    /// An IPv4 header with options or of another version.
    #[error("IPv4 version/IHL byte {0:#04x} is not 0x45")]
    BadIpv4Header(u8),
    /// IPv4 header checksum wrong.
    #[error("bad IPv4 header checksum")]
    BadChecksum,
    /// The IPv4 total length does not match the frame.
    #[error("IPv4 total length {ip_len} does not fit a {frame_len}-byte frame")]
    BadLength {
        /// From the header.
        ip_len: usize,
        /// The frame's length.
        frame_len: usize,
    },
    /// Not UDP.
    #[error("IP protocol {0} is not UDP")]
    NotUdp(u8),
}

/// Checks that `frame` is a test frame (Ethernet, IPv4 without options and with a good header
/// checksum, UDP, long enough for a sequence number) and returns what it says. Frames longer
/// than the IPv4 total length (Ethernet padding) are accepted.
pub fn parse(frame: &[u8]) -> Result<ParsedFrame, FrameProblem> {
    if frame.len() < MIN_FRAME_LEN {
        return Err(FrameProblem::TooShort(frame.len()));
    }
    let mac = |range: std::ops::Range<usize>| {
        let mut out = [0; 6];
        out.copy_from_slice(&frame[range]);
        MacAddress(out)
    };
    let be16 = |at: usize| u16::from_be_bytes([frame[at], frame[at + 1]]);
    let ethertype = be16(12);
    if ethertype != ETHERTYPE_IPV4 {
        return Err(FrameProblem::NotIpv4(ethertype));
    }
    let ip = &frame[ETH_HEADER_LEN..ETH_HEADER_LEN + IPV4_HEADER_LEN];
    if ip[0] != 0x45 {
        return Err(FrameProblem::BadIpv4Header(ip[0]));
    }
    if ipv4_checksum(ip) != 0 {
        return Err(FrameProblem::BadChecksum);
    }
    let ip_len = usize::from(be16(ETH_HEADER_LEN + 2));
    if ip_len + ETH_HEADER_LEN > frame.len() || ip_len < IPV4_HEADER_LEN + UDP_HEADER_LEN {
        return Err(FrameProblem::BadLength {
            ip_len,
            frame_len: frame.len(),
        });
    }
    if ip[9] != IPPROTO_UDP {
        return Err(FrameProblem::NotUdp(ip[9]));
    }
    let udp = ETH_HEADER_LEN + IPV4_HEADER_LEN;
    Ok(ParsedFrame {
        dst_mac: mac(0..6),
        src_mac: mac(6..12),
        src_port: be16(udp),
        dst_port: be16(udp + 2),
        seq: u32::from_le_bytes([
            frame[SEQ_OFFSET],
            frame[SEQ_OFFSET + 1],
            frame[SEQ_OFFSET + 2],
            frame[SEQ_OFFSET + 3],
        ]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ixy's pktgen frame (`pkt_data` in ixy-pktgen.c) except for the destination MAC, which is
    /// broadcast here.
    #[test]
    fn default_frame_matches_ixy_layout() {
        let frame = FrameSpec::default().to_vec(0x0403_0201).unwrap();
        assert_eq!(frame.len(), 60);
        #[rustfmt::skip]
        let expected: [u8; 60] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst MAC
            0x10, 0x10, 0x10, 0x10, 0x10, 0x10, // src MAC
            0x08, 0x00, // IPv4
            0x45, 0x00, 0x00, 46, // version/IHL, TOS, total length 46
            0x00, 0x00, 0x00, 0x00, // id, flags, fragment offset
            0x40, 0x11, 0x66, 0xbd, // TTL 64, UDP, checksum
            10, 0, 0, 1, 10, 0, 0, 2, // 10.0.0.1 -> 10.0.0.2
            0x00, 42, 0x05, 0x39, // ports 42 -> 1337
            0x00, 26, 0x00, 0x00, // UDP length 26, no checksum
            b'i', b'x', b'y', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // payload
            0x01, 0x02, 0x03, 0x04, // sequence number, little-endian
        ];
        assert_eq!(frame[..], expected[..]);
        assert_eq!(ipv4_checksum(&frame[14..34]), 0);
    }

    #[test]
    fn every_size_parses_back() {
        for len in [60, 61, 64, 128, 1000, 1514] {
            let spec = FrameSpec {
                len,
                dst_mac: MacAddress([2, 0, 0, 0, 0, 1]),
                src_mac: MacAddress([2, 0, 0, 0, 0, 2]),
                ..FrameSpec::default()
            };
            let frame = spec.to_vec(len as u32 * 7).unwrap();
            assert_eq!(frame.len(), len);
            let parsed = parse(&frame).unwrap();
            assert_eq!(parsed.seq, len as u32 * 7);
            assert_eq!(parsed.dst_mac, spec.dst_mac);
            assert_eq!(parsed.src_mac, spec.src_mac);
            assert_eq!((parsed.src_port, parsed.dst_port), (42, 1337));
            assert_eq!(
                usize::from(u16::from_be_bytes([frame[16], frame[17]])),
                len - 14
            );
            assert_eq!(
                usize::from(u16::from_be_bytes([frame[38], frame[39]])),
                len - 34
            );
        }
    }

    #[test]
    fn sizes_outside_ethernet_are_refused() {
        for len in [0, 59, 1515] {
            let spec = FrameSpec {
                len,
                ..FrameSpec::default()
            };
            assert!(matches!(spec.to_vec(0), Err(Error::FrameSize { size }) if size == len));
        }
        let mut short = [0u8; 59];
        assert!(FrameSpec::default().write(&mut short, 0).is_err());
        assert_eq!(short, [0; 59]);
    }

    #[test]
    fn sequence_numbers_rewrite_in_place() {
        let mut frame = FrameSpec::default().to_vec(1).unwrap();
        let before = frame.clone();
        assert!(write_seq(&mut frame, 0xdead_beef));
        assert_eq!(seq(&frame), Some(0xdead_beef));
        assert_eq!(frame[..SEQ_OFFSET], before[..SEQ_OFFSET]);
        assert_eq!(parse(&frame).unwrap().seq, 0xdead_beef);
        assert!(!write_seq(&mut [0; 59], 1));
        assert_eq!(seq(&[0; 59]), None);
    }

    #[test]
    fn touching_keeps_the_frame_a_test_frame() {
        let mut frame = FrameSpec::default().to_vec(9).unwrap();
        touch(&mut frame);
        assert_eq!(frame[TOUCH_OFFSET], 1);
        assert_eq!(parse(&frame).unwrap().seq, 9);
        let mut tiny = [5u8; 3];
        touch(&mut tiny);
        assert_eq!(tiny, [5, 5, 6]);
        touch(&mut []);
    }

    #[test]
    fn parse_names_the_problem() {
        let good = FrameSpec::default().to_vec(3).unwrap();
        assert_eq!(parse(&good[..59]), Err(FrameProblem::TooShort(59)));
        let mut f = good.clone();
        f[12] = 0x86;
        f[13] = 0xdd;
        assert_eq!(parse(&f), Err(FrameProblem::NotIpv4(0x86dd)));
        let mut f = good.clone();
        f[24] ^= 1;
        assert_eq!(parse(&f), Err(FrameProblem::BadChecksum));
        let mut f = good.clone();
        f[23] = 6; // TCP; fix the checksum so only the protocol is wrong
        f[24..26].fill(0);
        let c = ipv4_checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        assert_eq!(parse(&f), Err(FrameProblem::NotUdp(6)));
    }

    #[test]
    fn flows_vary_the_source_port_only() {
        let spec = FrameSpec::default();
        let old = spec.to_vec(77).unwrap();
        // One flow: byte for byte the frame of `write`, whatever k is.
        for k in [0, 1, 77, u32::MAX] {
            let mut one = vec![0; 60];
            spec.write_flow(&mut one, k, 1).unwrap();
            assert_eq!(one, spec.to_vec(k).unwrap());
        }
        for flows in [2, 8, 1000, MAX_FLOWS] {
            for k in [0u32, 1, 7, 77, 999, 65_492, 1_000_003] {
                let mut f = vec![0; 60];
                spec.write_flow(&mut f, k, flows).unwrap();
                let parsed = parse(&f).unwrap(); // checks the IPv4 checksum
                assert_eq!(parsed.flow(), Some(k % flows), "k {k} of {flows}");
                assert_eq!(u32::from(parsed.src_port), 42 + k % flows);
                assert_eq!((parsed.seq, parsed.dst_port), (k, 1337));
                // Only the source port and the sequence number differ from `old`.
                let differ: Vec<usize> = (0..60).filter(|&i| f[i] != old[i]).collect();
                assert!(
                    differ.iter().all(|i| [34, 35, 56, 57, 58, 59].contains(i)),
                    "{differ:?}"
                );
            }
        }
        // Rewriting the port in place gives the frame write_flow builds.
        let mut f = old.clone();
        assert!(write_src_port(&mut f, spec.flow_port(5).unwrap()));
        let mut built = vec![0; 60];
        spec.write_flow(&mut built, 77, 8).unwrap(); // 77 mod 8 = 5
        assert_eq!(f, built);
        assert!(!write_src_port(&mut [0; 35], 1));
    }

    #[test]
    fn flow_counts_without_source_ports_are_refused() {
        let spec = FrameSpec::default();
        assert_eq!(MAX_FLOWS, 65_493);
        assert_eq!(spec.flow_port(MAX_FLOWS - 1), Some(65_534));
        assert_eq!(spec.flow_port(MAX_FLOWS), None);
        assert_eq!(spec.flow_port(u32::MAX), None);
        assert!(spec.check_flows(MAX_FLOWS).is_ok());
        for bad in [0, MAX_FLOWS + 1, u32::MAX] {
            let err = spec.check_flows(bad).unwrap_err();
            assert!(err.to_string().contains("give 1 to 65493"), "{bad}: {err}");
            let mut f = [7u8; 60];
            assert!(spec.write_flow(&mut f, 3, bad).is_err());
            assert_eq!(f, [7; 60], "nothing written for {bad} flows");
        }
        let high = FrameSpec {
            src_port: 65_530,
            ..spec
        };
        assert!(high.check_flows(5).is_ok());
        assert!(high.check_flows(6).is_err());
        let low = parse(
            &FrameSpec {
                src_port: 7,
                ..spec
            }
            .to_vec(0)
            .unwrap(),
        )
        .unwrap();
        assert_eq!(low.flow(), None);
    }
}
