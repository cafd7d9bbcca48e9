//! What the model's checker reports: one [`Report`] per protocol violation it sees.

use std::fmt;

/// How bad a protocol violation is.
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
    /// Short stable name of the rule, e.g. `"tail-overrun"`; every rule is in
    /// [`RULES`](super::rules::RULES).
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

/// The reports of one rule, as a summary shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSummary {
    /// The rule.
    pub rule: &'static str,
    /// The worst severity among its reports (a rule such as `head-written` has two).
    pub worst: Severity,
    /// How many reports it has.
    pub count: usize,
    /// Its first report.
    pub first: Report,
}

/// Groups `reports` by rule: the worst rules first, and among equally bad ones the rule seen
/// first comes first.
pub fn by_rule(reports: &[Report]) -> Vec<RuleSummary> {
    let mut rules: Vec<RuleSummary> = Vec::new();
    for r in reports {
        match rules.iter_mut().find(|s| s.rule == r.rule) {
            Some(s) => {
                s.count += 1;
                s.worst = s.worst.min(r.severity);
            }
            None => rules.push(RuleSummary {
                rule: r.rule,
                worst: r.severity,
                count: 1,
                first: r.clone(),
            }),
        }
    }
    // A stable sort keeps the order of first appearance within a severity.
    rules.sort_by_key(|s| s.worst);
    rules
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(rule: &'static str, severity: Severity, access_index: u64) -> Report {
        Report {
            severity,
            rule,
            register: None,
            value: None,
            section: "7",
            access_index,
            ring: None,
            detail: String::new(),
        }
    }

    #[test]
    fn reports_group_by_rule_worst_first() {
        let reports = [
            report("head-written", Severity::Pedantic, 1),
            report("undefined-offset", Severity::Warn, 2),
            report("head-written", Severity::Warn, 3),
            report("tail-overrun", Severity::Error, 4),
            report("undefined-offset", Severity::Warn, 5),
            report("tail-overrun", Severity::Error, 6),
        ];
        let got: Vec<(&str, Severity, usize, u64)> = by_rule(&reports)
            .iter()
            .map(|s| (s.rule, s.worst, s.count, s.first.access_index))
            .collect();
        assert_eq!(
            got,
            [
                ("tail-overrun", Severity::Error, 2, 4),
                ("head-written", Severity::Warn, 2, 1),
                ("undefined-offset", Severity::Warn, 2, 2),
            ]
        );
        assert!(by_rule(&[]).is_empty());
    }
}
