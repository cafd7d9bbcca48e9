//! Frames on the simulated wire, the frame buffer pool, the Ethernet CRC and the test packet.

use crate::MacAddress;
use crate::frame::{self, FrameSpec};

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
pub const TEST_FRAME_LEN: usize = frame::MIN_FRAME_LEN;

/// Source MAC address of the test frames.
pub const TEST_SRC_MAC: [u8; 6] = [0x10, 0x10, 0x10, 0x10, 0x10, 0x10];

/// Writes ixy's pktgen frame into `out`, as `rixy-pktgen` sends it ([`FrameSpec`]'s default
/// frame, to `dst`): IPv4 10.0.0.1 → 10.0.0.2, UDP 42 → 1337, payload "ixy", and the
/// sequence number at [`frame::SEQ_OFFSET`], its last four bytes.
pub(crate) fn test_frame(out: &mut Vec<u8>, dst: [u8; 6], seq: u32) {
    let spec = FrameSpec {
        dst_mac: MacAddress(dst),
        src_mac: MacAddress(TEST_SRC_MAC),
        ..FrameSpec::default()
    };
    out.clear();
    out.resize(TEST_FRAME_LEN, 0);
    // A 60-byte buffer for a 60-byte frame: `write` has nothing to refuse.
    let _ = spec.write(out, seq);
}

/// The sequence number of a test frame, if it is long enough to carry one.
pub fn test_frame_seq(frame: &[u8]) -> Option<u32> {
    frame::seq(frame)
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
        assert_eq!(frame::ipv4_checksum(&v[14..34]), 0);
        assert_eq!(test_frame_seq(&v), Some(0x0102_0304));
    }
}
