//! Which frames a port takes and where they go: the L2 filter (DS 7.1.1.1) and the queue
//! selection by RSS (DS 7.1.2.8), with the Toeplitz hash.

use super::model::PortModel;
use crate::regs::ixgbe::{FCTRL, MCSTCTRL, MRQC, RETA, RegisterId};

/// The kind of a frame the filter passed, as the statistics count it.
pub(crate) const KIND_UNICAST: u8 = 0;
/// A multicast frame.
pub(crate) const KIND_MULTICAST: u8 = 1;
/// A broadcast frame.
pub(crate) const KIND_BROADCAST: u8 = 2;

impl PortModel {
    /// The L2 filter (DS 7.1.1.1): the frame's kind if it passes.
    pub(crate) fn filter(&self, data: &[u8], fctrl: u32) -> Option<u8> {
        let dst: [u8; 6] = data.get(..6)?.try_into().ok()?;
        if dst == [0xFF; 6] {
            (FCTRL::BAM.is_set(fctrl) || FCTRL::MPE.is_set(fctrl)).then_some(KIND_BROADCAST)
        } else if dst[0] & 1 != 0 {
            (FCTRL::MPE.is_set(fctrl) || self.mta_hit(&dst)).then_some(KIND_MULTICAST)
        } else {
            (FCTRL::UPE.is_set(fctrl) || self.rar.contains(&dst)).then_some(KIND_UNICAST)
        }
    }

    /// Whether multicast address `dst` hits the MTA (MCSTCTRL.MFE and MO pick its 12 bits).
    fn mta_hit(&self, dst: &[u8; 6]) -> bool {
        let mc = self.get(RegisterId::MCSTCTRL, 0);
        if !MCSTCTRL::MFE.is_set(mc) {
            return false;
        }
        let (a, b) = (u16::from(dst[4]), u16::from(dst[5]));
        let v = match MCSTCTRL::MO.read(mc) {
            0 => (a >> 4) | (b << 4),
            1 => (a >> 3) | (b << 5),
            2 => (a >> 2) | (b << 6),
            _ => a | (b << 8),
        } & 0xFFF;
        let word = self.get(RegisterId::MTA, usize::from(v >> 5));
        word & (1 << (v & 31)) != 0
    }

    /// Queue 0, or the RSS choice when MRQC selects RSS (DS 7.1.2.8).
    pub(crate) fn select_queue(&self, data: &[u8]) -> usize {
        let mrqc = self.get(RegisterId::MRQC, 0);
        if MRQC::MRQE.read(mrqc) != 1 {
            return 0;
        }
        let Some((hash, _)) = self.rss_hash(data, mrqc) else {
            return 0;
        };
        let e = (hash & 0x7F) as usize;
        let reta = self.get(RegisterId::RETA, e / 4);
        (match e % 4 {
            0 => RETA::ENTRY0.read(reta),
            1 => RETA::ENTRY1.read(reta),
            2 => RETA::ENTRY2.read(reta),
            _ => RETA::ENTRY3.read(reta),
        }) as usize
    }

    /// The RSS hash and type of an IPv4 frame, per the hash types MRQC enables.
    pub(crate) fn rss_hash(&self, data: &[u8], mrqc: u32) -> Option<(u32, u32)> {
        if data.get(12..14)? != [0x08, 0x00] {
            return None;
        }
        let ip = data.get(14..)?;
        let ihl = usize::from(ip.first()? & 0x0F) * 4;
        let proto = *ip.get(9)?;
        let mut input = [0u8; 12];
        input[..8].copy_from_slice(ip.get(12..20)?);
        let ports = ip.get(ihl..ihl + 4);
        let (len, ty) = match (proto, ports) {
            (17, Some(p)) if MRQC::UDP_IPV4.is_set(mrqc) => {
                input[8..12].copy_from_slice(p);
                (12, 7)
            }
            (6, Some(p)) if MRQC::TCP_IPV4.is_set(mrqc) => {
                input[8..12].copy_from_slice(p);
                (12, 1)
            }
            _ if MRQC::IPV4.is_set(mrqc) => (8, 2),
            _ => return None,
        };
        let mut key = [0u8; 40];
        for (i, k) in key.chunks_mut(4).enumerate() {
            k.copy_from_slice(&self.get(RegisterId::RSSRK, i).to_le_bytes());
        }
        Some((toeplitz(&key, &input[..len]), ty))
    }
}

/// The PACKET_TYPE field (bits 16:4 of write-back dword 0, so field bit 0 = IPv4, 4 = TCP,
/// 5 = UDP) for what the model recognises.
pub(crate) fn packet_type(data: &[u8]) -> u32 {
    if data.get(12..14) != Some(&[0x08, 0x00]) || data.len() < 34 {
        return 0;
    }
    match data[23] {
        6 => 1 | 1 << 4,
        17 => 1 | 1 << 5,
        _ => 1,
    }
}

/// The Toeplitz hash of RSS (Microsoft's RSS specification) with a 40-byte key.
pub(crate) fn toeplitz(key: &[u8; 40], input: &[u8]) -> u32 {
    let mut window = u64::from_be_bytes(key[..8].try_into().expect("8 bytes"));
    let mut result = 0u32;
    for (i, &byte) in input.iter().enumerate() {
        for b in 0..8 {
            if byte & (0x80 >> b) != 0 {
                result ^= (window >> 32) as u32;
            }
            window <<= 1;
        }
        window |= u64::from(key.get(i + 8).copied().unwrap_or(0));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toeplitz_matches_microsoft_vectors() {
        let key: [u8; 40] = [
            0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
            0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
            0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
        ];
        // The IPv4 rows of the datasheet's RSS verification suite (7.1.2.8.3): source,
        // destination, the hash over the addresses, and over addresses and ports.
        type Row = ([u8; 4], u16, [u8; 4], u16, u32, u32);
        let suite: [Row; 5] = [
            (
                [66, 9, 149, 187],
                2794,
                [161, 142, 100, 80],
                1766,
                0x323e_8fc2,
                0x51cc_c178,
            ),
            (
                [199, 92, 111, 2],
                14230,
                [65, 69, 140, 83],
                4739,
                0xd718_262a,
                0xc626_b0ea,
            ),
            (
                [24, 19, 198, 95],
                12898,
                [12, 22, 207, 184],
                38024,
                0xd2d0_a5de,
                0x5c2b_394a,
            ),
            (
                [38, 27, 205, 30],
                48228,
                [209, 142, 163, 6],
                2217,
                0x8298_9176,
                0xafc7_327f,
            ),
            (
                [153, 39, 163, 191],
                44251,
                [202, 188, 127, 2],
                1303,
                0x5d18_09c5,
                0x10e8_28a2,
            ),
        ];
        for (src, sport, dst, dport, two_tuple, four_tuple) in suite {
            let mut input = Vec::new();
            input.extend_from_slice(&src);
            input.extend_from_slice(&dst);
            assert_eq!(toeplitz(&key, &input), two_tuple, "{src:?} -> {dst:?}");
            input.extend_from_slice(&sport.to_be_bytes());
            input.extend_from_slice(&dport.to_be_bytes());
            assert_eq!(
                toeplitz(&key, &input),
                four_tuple,
                "{src:?} -> {dst:?} with ports"
            );
        }
    }
}
