//! What the model's checker reports: one [`Report`] per protocol violation it sees.

use std::fmt;

/// How bad a protocol violation is (research notes §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Would misbehave on hardware.
    Error,
    /// Violates the datasheet and may work.
    Warn,
    /// Harmless in practice, but not what the datasheet asks for.
    Pedantic,
    /// Worth knowing (a deviation from the datasheet's recommended values or flow).
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "ERROR",
            Severity::Warn => "WARN",
            Severity::Pedantic => "PEDANTIC",
            Severity::Info => "INFO",
        })
    }
}

/// Receive or transmit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// A receive queue.
    Rx,
    /// A transmit queue.
    Tx,
}

/// The state of a descriptor ring when a report was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingState {
    /// Receive or transmit.
    pub direction: Direction,
    /// Queue number.
    pub queue: u16,
    /// Head (the device's position).
    pub head: u32,
    /// Tail (the driver's position).
    pub tail: u32,
    /// Descriptors in the ring (0 while the length is not yet valid).
    pub len: u32,
}

/// One protocol violation seen by the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// How bad it is.
    pub severity: Severity,
    /// Short stable name of the rule, e.g. `"tail-overrun"`; see [`crate::sim`] for the list.
    pub rule: &'static str,
    /// The register or descriptor involved, in the datasheet's name.
    pub register: Option<&'static str>,
    /// The value written, read or found.
    pub value: Option<u64>,
    /// The datasheet section the rule comes from.
    pub section: &'static str,
    /// Index of the register access (counted per port from 1) at or after which it was seen.
    pub access_index: u64,
    /// The ring involved, if any.
    pub ring: Option<RingState>,
    /// What happened, in words.
    pub detail: String,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}] (DS {})", self.severity, self.rule, self.section)?;
        if let Some(r) = self.register {
            write!(f, " {r}")?;
        }
        if let Some(v) = self.value {
            write!(f, " = {v:#x}")?;
        }
        if let Some(ring) = self.ring {
            write!(
                f,
                " ({:?} queue {}: head {} tail {} of {})",
                ring.direction, ring.queue, ring.head, ring.tail, ring.len
            )?;
        }
        write!(f, " at access #{}: {}", self.access_index, self.detail)
    }
}

/// Most reports one port keeps; later ones are only counted (see [`Reports::dropped`]).
pub(crate) const MAX_REPORTS: usize = 10_000;

/// The reports of one port.
#[derive(Debug, Default)]
pub(crate) struct Reports {
    pub(crate) list: Vec<Report>,
    pub(crate) dropped: u64,
}

impl Reports {
    pub(crate) fn push(&mut self, report: Report) {
        log::debug!("sim: {report}");
        if self.list.len() < MAX_REPORTS {
            self.list.push(report);
        } else {
            self.dropped += 1;
        }
    }
}
