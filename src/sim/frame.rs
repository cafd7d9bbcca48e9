//! Frames on the simulated wire, the frame buffer pool, the Ethernet CRC and the test packet.

/// A frame on the wire: destination MAC to the end of the payload, without preamble or FCS. The
/// FCS is implied: `fcs_ok` says whether the 4 bytes that follow on the wire are right.
#[derive(Clone, Debug, Default)]
pub(crate) struct Frame {
    pub(crate) data: Vec<u8>,
    pub(crate) fcs_ok: bool,
}

impl Frame {
    /// Bytes on the wire from destination address through FCS.
    pub(crate) fn wire_len(&self) -> usize {
        self.data.len() + FCS_LEN
    }
}

/// Bytes of the Ethernet FCS.
pub(crate) const FCS_LEN: usize = 4;
/// Preamble, start of frame delimiter and inter-frame gap: what a frame costs on the line beyond
/// its own bytes.
pub(crate) const WIRE_OVERHEAD: usize = 20;

/// Recycles frame buffers so that steady traffic does not allocate per frame.
#[derive(Debug, Default)]
pub(crate) struct FramePool {
    free: Vec<Vec<u8>>,
}

impl FramePool {
    pub(crate) fn get(&mut self) -> Vec<u8> {
        let mut v = self.free.pop().unwrap_or_else(|| Vec::with_capacity(2048));
        v.clear();
        v
    }

    pub(crate) fn put(&mut self, v: Vec<u8>) {
        if self.free.len() < 65_536 {
            self.free.push(v);
        }
    }
}

const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC_TABLE: [u32; 256] = crc_table();

/// The Ethernet FCS (CRC-32, IEEE 802.3) of `data`; it goes on the wire little-endian.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

/// Length of the test frames, as ixy's pktgen sends them (without FCS).
pub const TEST_FRAME_LEN: usize = 60;

/// Source MAC address of the test frames.
pub const TEST_SRC_MAC: [u8; 6] = [0x10, 0x10, 0x10, 0x10, 0x10, 0x10];

/// Writes ixy's pktgen frame into `out`: Ethernet to `dst` from [`TEST_SRC_MAC`], IPv4
/// 10.0.0.1 → 10.0.0.2, UDP 42 → 1337, payload "ixy", and the sequence number in the last four
/// bytes (little-endian, as ixy writes it).
pub(crate) fn test_frame(out: &mut Vec<u8>, dst: [u8; 6], seq: u32) {
    out.clear();
    out.extend_from_slice(&dst);
    out.extend_from_slice(&TEST_SRC_MAC);
    out.extend_from_slice(&[0x08, 0x00]); // IPv4
    let ip_len = (TEST_FRAME_LEN - 14) as u16;
    let mut ip = [
        0x45, 0x00, 0, 0, // version/IHL, TOS, total length
        0x00, 0x00, 0x00, 0x00, // id, flags/fragment
        0x40, 0x11, 0x00, 0x00, // TTL 64, UDP, checksum
        10, 0, 0, 1, // source
        10, 0, 0, 2, // destination
    ];
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    let csum = ip_checksum(&ip);
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    out.extend_from_slice(&ip);
    let udp_len = ip_len - 20;
    out.extend_from_slice(&42u16.to_be_bytes());
    out.extend_from_slice(&1337u16.to_be_bytes());
    out.extend_from_slice(&udp_len.to_be_bytes());
    out.extend_from_slice(&[0, 0]); // no UDP checksum
    out.extend_from_slice(b"ixy");
    out.resize(TEST_FRAME_LEN - 4, 0);
    out.extend_from_slice(&seq.to_le_bytes());
}

fn ip_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// The sequence number of a test frame (its last four bytes, little-endian), if it is long
/// enough to carry one.
pub fn test_frame_seq(frame: &[u8]) -> Option<u32> {
    let tail = frame.get(frame.len().checked_sub(4)?..)?;
    Some(u32::from_le_bytes(tail.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_check_string() {
        // The standard CRC-32 check value.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn test_frame_shape() {
        let mut v = Vec::new();
        test_frame(&mut v, [2; 6], 0x0102_0304);
        assert_eq!(v.len(), TEST_FRAME_LEN);
        assert_eq!(&v[0..6], &[2; 6]);
        assert_eq!(&v[12..14], &[8, 0]);
        assert_eq!(ip_checksum(&v[14..34]), 0);
        assert_eq!(test_frame_seq(&v), Some(0x0102_0304));
    }
}
