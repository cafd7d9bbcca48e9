//! A writer for classic pcap files, the format tcpdump, tshark and Wireshark read.
//!
//! The file is a 24-byte global header followed by one 16-byte record header and the frame
//! bytes per packet (<https://wiki.wireshark.org/Development/LibpcapFileFormat>):
//!
//! ```text
//! global header   u32 magic 0xa1b2c3d4 (microsecond timestamps), u16 version 2, u16 version 4,
//!                 i32 timezone 0, u32 timestamp accuracy 0, u32 snaplen 65535,
//!                 u32 link type 1 (LINKTYPE_ETHERNET)
//! record header   u32 seconds, u32 microseconds, u32 captured length, u32 original length
//! ```
//!
//! rixy writes every field little-endian; readers tell the byte order from the magic number.
//! Frames are stored from the destination MAC on, without the FCS, as the NIC hands them over.

use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The magic number of a pcap file with microsecond timestamps.
pub const MAGIC: u32 = 0xa1b2_c3d4;
/// Major version of the format.
pub const VERSION_MAJOR: u16 = 2;
/// Minor version of the format.
pub const VERSION_MINOR: u16 = 4;
/// The longest record the writer stores; longer frames are cut (and keep their original length).
pub const SNAPLEN: u32 = 65_535;
/// The link type of Ethernet frames.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Bytes of the global header.
pub const GLOBAL_HEADER_LEN: usize = 24;
/// Bytes of each record header.
pub const RECORD_HEADER_LEN: usize = 16;

/// Writes a pcap file to any [`Write`]: wrap files and pipes in a [`io::BufWriter`].
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    packets: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header to `out`.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut header = [0u8; GLOBAL_HEADER_LEN];
        header[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        header[4..6].copy_from_slice(&VERSION_MAJOR.to_le_bytes());
        header[6..8].copy_from_slice(&VERSION_MINOR.to_le_bytes());
        // 8..12 timezone offset and 12..16 timestamp accuracy: 0, as every writer sets them.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&header)?;
        Ok(Self { out, packets: 0 })
    }

    /// Appends one frame received at `time` (since the Unix epoch).
    pub fn write_packet(&mut self, time: Duration, frame: &[u8]) -> io::Result<()> {
        let original = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let captured = original.min(SNAPLEN);
        let mut header = [0u8; RECORD_HEADER_LEN];
        // The seconds field is 32 bits wide, as the classic format defines it (good until 2106).
        header[0..4].copy_from_slice(&(time.as_secs() as u32).to_le_bytes());
        header[4..8].copy_from_slice(&time.subsec_micros().to_le_bytes());
        header[8..12].copy_from_slice(&captured.to_le_bytes());
        header[12..16].copy_from_slice(&original.to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(&frame[..captured as usize])?;
        self.packets += 1;
        Ok(())
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Flushes what is buffered to the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The current time as the pcap writer wants it: since the Unix epoch (zero if the clock is set
/// before 1970).
pub fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_records_are_laid_out_as_libpcap_does() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_packet(Duration::new(1_700_000_000, 123_456_789), &[1, 2, 3])
            .unwrap();
        assert_eq!(w.packets(), 1);
        let bytes = w.into_inner().unwrap();
        assert_eq!(
            bytes[..24],
            [
                0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0,
                0, 0
            ]
        );
        let record = &bytes[24..];
        assert_eq!(record[0..4], 1_700_000_000u32.to_le_bytes());
        assert_eq!(record[4..8], 123_456u32.to_le_bytes());
        assert_eq!(record[8..12], 3u32.to_le_bytes());
        assert_eq!(record[12..16], 3u32.to_le_bytes());
        assert_eq!(record[16..], [1, 2, 3]);
    }

    #[test]
    fn long_frames_are_cut_at_the_snaplen() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_packet(Duration::ZERO, &vec![7; 70_000]).unwrap();
        let bytes = w.into_inner().unwrap();
        assert_eq!(bytes[24 + 8..24 + 12], 65_535u32.to_le_bytes());
        assert_eq!(bytes[24 + 12..24 + 16], 70_000u32.to_le_bytes());
        assert_eq!(bytes.len(), 24 + 16 + 65_535);
    }
}
