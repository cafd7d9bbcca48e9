//! The checker's rules, one table: every rule the model reports once, with its name, severity,
//! datasheet section and what it catches. Reports take their severity and section from here, and
//! this documentation is generated from the same table ([`RULES`] shows it whole; each rule's
//! constant below carries its own line).
//!
//! A rule whose description ends in "(once)" or "(once per ...)" reports only the first time
//! (per queue, register, offset or cause), until the next device reset: a violation repeated
//! per packet or per access would drown the others.

use super::report::{Direction, RingState, Severity};
use crate::regs::ixgbe::RegisterId;

/// Where in the datasheet a rule comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cite {
    /// This section, wherever the rule fires.
    Section(&'static str),
    /// The first section for a receive queue, the second for a transmit queue (the ring in the
    /// report says which).
    Queue {
        /// The receive queue's section.
        rx: &'static str,
        /// The transmit queue's section.
        tx: &'static str,
    },
    /// The section of the register involved, as its datasheet file gives it.
    Register,
    /// One of these sections: the step of the data path that failed says which.
    OneOf(&'static [&'static str]),
}

/// One rule of the checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The stable name reports carry ([`Report::rule`](super::Report::rule)).
    pub name: &'static str,
    /// How bad a violation is.
    pub severity: Severity,
    /// The severity of the rule's harmless form, if it has one (`head-written` with the value the
    /// head already has).
    pub harmless: Option<Severity>,
    /// The datasheet section.
    pub cite: Cite,
    /// What the rule catches, in one line.
    pub what: &'static str,
}

/// A severity as a report prints it.
macro_rules! severity_text {
    (Error) => {
        "ERROR"
    };
    (Warn) => {
        "WARN"
    };
    (Pedantic) => {
        "PEDANTIC"
    };
    (Info) => {
        "INFO"
    };
}

/// A rule's severity: the severity, or `Severity or Harmless` for a rule with a harmless form.
macro_rules! severity {
    ($sev:ident) => {
        (Severity::$sev, None::<Severity>)
    };
    ($sev:ident or $harmless:ident) => {
        (Severity::$sev, Some(Severity::$harmless))
    };
}

/// The severity column of the documentation.
macro_rules! severity_doc {
    ($sev:ident) => {
        severity_text!($sev)
    };
    ($sev:ident or $harmless:ident) => {
        concat!(
            severity_text!($sev),
            " (",
            severity_text!($harmless),
            " when harmless)"
        )
    };
}

/// A rule's [`Cite`] from its notation in the table.
macro_rules! cite {
    ($section:literal) => {
        Cite::Section($section)
    };
    (rx $rx:literal tx $tx:literal) => {
        Cite::Queue { rx: $rx, tx: $tx }
    };
    (register) => {
        Cite::Register
    };
    ([$($section:literal),+]) => {
        Cite::OneOf(&[$($section),+])
    };
}

/// The section column of the documentation.
macro_rules! cite_doc {
    ($section:literal) => {
        $section
    };
    (rx $rx:literal tx $tx:literal) => {
        concat!($rx, " (RX), ", $tx, " (TX)")
    };
    (register) => {
        "the register's section"
    };
    ([$first:literal $(, $section:literal)*]) => {
        concat!($first $(, ", ", $section)*, " (by the step)")
    };
}

/// Declares the rules: a constant per rule, documented with its line of the table, and
/// [`RULES`], documented with the whole table.
macro_rules! rules {
    ($(
        $id:ident = $name:literal, [$($sev:tt)+], [$($cite:tt)+], $what:literal;
    )+) => {
        $(
            #[doc = concat!(
                "`", $name, "`: ", severity_doc!($($sev)+), "; datasheet ",
                cite_doc!($($cite)+), ". ", $what, "."
            )]
            pub const $id: Rule = Rule {
                name: $name,
                severity: severity!($($sev)+).0,
                harmless: severity!($($sev)+).1,
                cite: cite!($($cite)+),
                what: $what,
            };
        )+

        /// Every rule of the checker:
        ///
        #[doc = concat!(
            "| rule | severity | datasheet | what it catches |\n",
            "|---|---|---|---|\n",
            $(
                "| `", $name, "` | ", severity_doc!($($sev)+), " | ", cite_doc!($($cite)+),
                " | ", $what, " |\n",
            )+
        )]
        pub static RULES: &[Rule] = &[$($id),+];

        /// Each rule's constant name with its rule name, for the tests.
        #[cfg(test)]
        static IDENTS: &[(&str, &str)] = &[$((stringify!($id), $name)),+];
    };
}

rules! {
    // Register accesses (DS 8.1 and each register's section).
    ACCESS_MISALIGNED = "access-misaligned", [Error], ["8.1"],
        "an access at an offset that is not a multiple of 4; dropped, a read gives all ones";
    ACCESS_WIDTH = "access-width", [Error], ["8.1"],
        "an 8-, 16- or 64-bit access: registers take 32-bit ones (a 64-bit one is done as two)";
    ACCESS_OUTSIDE_BAR = "access-outside-bar", [Error], ["8.1"],
        "an access beyond the end of the BAR; dropped, a read gives all ones";
    UNDEFINED_OFFSET = "undefined-offset", [Warn], ["8.1"],
        "an access where no register is (once per offset); it reads 0, a write is ignored";
    READ_WRITE_ONLY = "read-write-only", [Warn], [register],
        "a read of a write-only register (once per register); it reads 0";
    WRITE_READ_ONLY = "write-read-only", [Warn], [register],
        "a write that would change a read-only register or a statistics counter; ignored";
    WRITE_RO_BITS = "write-ro-bits", [Warn], [register],
        "a write that would change read-only bits (EEC.ARD, EE_PRES etc., RDRXCTL.DMAIDONE)";
    RESERVED_BITS_WRITTEN = "reserved-bits-written", [Warn], [register],
        "1s written to reserved bits (EIMC bit 31, DTXMXSZRQ 31:12, TXDCTL's reserved bits)";
    STAT_HIGH_WITHOUT_LOW = "stat-high-without-low", [Pedantic], [register],
        "the high half of a 36-bit counter read before its low half (once per counter)";

    // Reset and the init order (DS 4.6.3).
    ACCESS_WITHIN_1MS_OF_RESET = "access-within-1ms-of-reset", [Pedantic], ["8.2.3.1.1"],
        "a register access less than 1 ms after CTRL.RST was set";
    WRITE_DURING_RESET = "write-during-reset", [Warn], ["4.6.3.2"],
        "a write other than to CTRL while the reset is in progress; dropped";
    WRITE_BEFORE_RESET_SETTLED = "write-before-reset-settled", [Warn], ["4.6.3.2"],
        "the first write after a reset less than 10 ms after the reset completed";
    CONFIG_BEFORE_INIT_DONE = "config-before-init-done", [Warn], ["4.6.3"],
        "RX or TX configured before EEC.ARD and RDRXCTL.DMAIDONE were read as 1 (once)";
    NO_EIMC_AFTER_RESET = "no-eimc-after-reset", [Info], ["4.6.3.1"],
        "a receive queue enabled without interrupts masked through EIMC since the reset (once)";
    PACKET_BUFFER_SIZE = "packet-buffer-size", [Info], ["4.6.11.3.4"],
        "packet buffer 0 (RXPBSIZE, TXPBSIZE) set to other than its reset size (once each)";
    TX_ARBITER_ENABLED = "tx-arbiter-enabled", [Info], ["4.6.8"],
        "TXPBSIZE or DTXMXSZRQ programmed while the TX arbiter runs, RTTDCS.ARBDIS = 0 (once)";
    AUTOC_WITHOUT_SEMAPHORE = "autoc-without-semaphore", [Info], ["8.2.3.22.19"],
        "AUTOC restarts auto-negotiation without holding SW_FW_SYNC.SW_MAC_CSR_SM (once)";

    // Receive enable (DS 4.6.7).
    CRC_STRIP_MISMATCH = "crc-strip-mismatch", [Error], ["4.6.7"],
        "RXCTRL.RXEN set while HLREG0.RXCRCSTRP and RDRXCTL.CRCSTRIP differ";
    NS_DIS_NOT_SET = "ns-dis-not-set", [Warn], ["4.6.7"],
        "RXCTRL.RXEN set while CTRL_EXT.NS_DIS = 0";
    RDRXCTL_RSC_BITS = "rdrxctl-rsc-bits", [Warn], ["8.2.3.8.8"],
        "RXCTRL.RXEN set while RDRXCTL.RSCFRSTSIZE is not 0, or RSCACKC or FCOE_WRFIX is not 1";
    DCA_RXCTRL_BIT12 = "dca-rxctrl-bit12", [Warn], ["4.6.7"],
        "a queue receives while bit 12 of its DCA_RXCTRL is still 1 (once per queue)";
    RXEN_BEFORE_QUEUES = "rxen-before-queues", [Warn], ["4.6.7"],
        "RXCTRL.RXEN set before any receive queue was enabled";
    SECRX_HANDSHAKE_SKIPPED = "secrx-handshake-skipped", [Info], ["4.6.7"],
        "RXCTRL.RXEN set without SECRXCTRL.RX_DIS around it (once)";

    // Interrupts and receive filters.
    EIMS_ZERO = "eims-zero", [Info], ["8.2.3.5.3"],
        "EIMS written with 0, which changes nothing: masking goes through EIMC";
    INTERRUPT_WITHOUT_IVAR = "interrupt-without-ivar", [Warn], ["8.2.3.5.16"],
        "a cause enabled in EIMS with no vector: a queue cause no valid IVAR entry maps to (once per cause), or in MSI-X mode another cause IVAR_MISC maps nowhere (once)";
    IVAR_VECTOR_OUT_OF_RANGE = "ivar-vector-out-of-range", [Error], ["8.2.3.5.16"],
        "a valid IVAR entry naming a vector beyond the port's MSI-X table";
    IVAR_VECTOR_NOT_MODELLED = "ivar-vector-not-modelled", [Info], ["8.2.3.5.16"],
        "a queue mapped to vector 16 or above, whose causes (EICS_EX etc.) the model does not have (once per vector)";
    MSIX_VECTOR_NOT_ENABLED = "msix-vector-not-enabled", [Error], ["7.3.4"],
        "an interrupt for an MSI-X vector the host has not set up (no eventfd): it is not delivered (once per vector)";
    MSIX_MODE_OFF = "msix-mode-off", [Warn], ["8.2.3.5.18"],
        "an interrupt while the host set up several MSI-X vectors but GPIE.MSIX_MODE = 0: all go to vector 0 (once)";
    EITR_OUT_OF_RANGE = "eitr-out-of-range", [Warn], ["8.2.3.5.12"],
        "EITR written with 1s outside the interval (bits 11:3, 2 µs units) and its control bits: microseconds written unshifted, or above 1022 µs";
    FILTER_CHANGED_WHILE_RXEN = "filter-changed-while-rxen", [Warn], ["8.2.3.7.1"],
        "FCTRL, VLNCTRL, MCSTCTRL, MTA, RAL or RAH changed while RXCTRL.RXEN = 1";
    RAH0_AV_CLEARED = "rah0-av-cleared", [Warn], ["8.2.3.7.9"],
        "the port's own address (RAH 0) loses AV while FCTRL.UPE = 0: frames to it are dropped";

    // Queue setup, checked when a queue's ENABLE latches.
    RING_REGISTER_WRITTEN_WHILE_ENABLED = "ring-register-written-while-enabled",
        [Error], [register],
        "a ring's base, length or SRRCTL changed while its queue is enabled (the old value stays)";
    RING_BASE_INVALID = "ring-base-invalid", [Error], [rx "8.2.3.8.1" tx "8.2.3.9.5"],
        "a queue enabled with a ring base of 0 or not 128-byte aligned; the queue stops";
    RING_LENGTH_INVALID = "ring-length-invalid", [Error], ["7.2.3.3"],
        "a queue enabled with a ring length 0, not a multiple of 128 or beyond its field; it stops";
    RING_OUTSIDE_DMA_MEMORY = "ring-outside-dma-memory", [Error], [rx "8.2.3.8.1" tx "8.2.3.9.5"],
        "a queue enabled with a ring that is not inside one live DMA region; the queue stops";
    SRRCTL_BSIZEPACKET = "srrctl-bsizepacket", [Error], ["8.2.3.8.7"],
        "a receive queue enabled with SRRCTL.BSIZEPACKET 0 or above 16 KB; the queue stops";
    SRRCTL_DESCTYPE = "srrctl-desctype", [Error], ["7.1.10"],
        "a receive queue enabled with a descriptor type other than legacy or advanced one-buffer";
    TXDCTL_THRESHOLDS = "txdctl-thresholds", [Warn], ["8.2.3.9.10"],
        "a transmit queue enabled with PTHRESH + WTHRESH above 40, or PTHRESH without HTHRESH";
    TX_ENABLE_WITHOUT_TE = "tx-enable-without-te", [Error], ["4.6.8"],
        "TXDCTL.ENABLE set while DMATXCTL.TE = 0; the queue does not start";
    HEAD_OUT_OF_RANGE = "head-out-of-range", [Error], [rx "4.6.7" tx "4.6.8"],
        "a queue enabled with its head not below the ring size; the queue stops";

    // The tail and ring protocol (DS 7.1.9, 7.2.3).
    HEAD_WRITTEN = "head-written", [Warn or Pedantic], [rx "8.2.3.8.4" tx "8.2.3.9.8"],
        "RDH or TDH written while the queue is enabled; ignored, harmless if it is the same value";
    TAIL_BEFORE_ENABLE = "tail-before-enable", [Error], [rx "4.6.7" tx "4.6.8"],
        "a non-zero tail written before ENABLE was read as 1 (strict mode ignores it)";
    TAIL_OUT_OF_RANGE = "tail-out-of-range", [Error], [rx "4.6.7" tx "4.6.8"],
        "a tail not below the ring size: ignored on a running queue, stops the queue at enable";
    TAIL_OVERRUN = "tail-overrun", [Error], ["7.1.9"],
        "a tail moved backwards or past the head, handing over more than the ring size minus one";
    HW_DESCRIPTOR_MODIFIED = "hw-descriptor-modified", [Error], [rx "7.1.9" tx "7.2.3"],
        "a descriptor changed by the driver after the tail handed it to the device";
    RING_DMA_FAULT = "ring-dma-fault", [Error], [["7.1.9", "7.1.6.2", "7.1.5", "7.2.3", "7.2.3.5"]],
        "a ring the device cannot read (the queue stops) or a descriptor it cannot write back";

    // Receive descriptors and buffers (DS 7.1.6).
    RX_BUFFER_ADDRESS = "rx-buffer-address", [Error], ["7.1.6.1"],
        "a receive descriptor handed over with a buffer address 0, all ones or outside DMA memory";
    RX_BUFFER_OVERRUN_LATENT = "rx-buffer-overrun-latent", [Warn], ["8.2.3.8.7"],
        "a receive buffer whose DMA region ends within BSIZEPACKET bytes (once per queue)";
    RX_STALE_DD = "rx-stale-dd", [Warn], ["7.1.6.1"],
        "a receive descriptor handed over with DD still set (once per queue)";
    RX_DMA_FAULT = "rx-dma-fault", [Error], ["7.1.6.1"],
        "a frame's data the device cannot write into its receive buffer; the write is dropped";
    BUFFER_POSTED_TWICE = "buffer-posted-twice", [Error], ["7.1.9"],
        "a buffer posted for receive while another receive descriptor still holds it";
    BUFFER_POSTED_WHILE_IN_TX = "buffer-posted-while-in-tx", [Error], ["7.1.9"],
        "a buffer posted for receive while a transmit descriptor still has to send it";

    // Transmit descriptors and buffers (DS 7.2.3).
    BUFFER_POSTED_WHILE_IN_RX = "buffer-posted-while-in-rx", [Error], ["7.2.3"],
        "a buffer handed over for transmit while a receive descriptor still holds it";
    TX_TOO_MANY_DESCRIPTORS = "tx-too-many-descriptors", [Error], ["7.2.3"],
        "a packet spread over more than 40 descriptors; dropped";
    TX_DTYP = "tx-dtyp", [Error], ["7.2.3.2.4"],
        "a descriptor with DEXT = 1 and a DTYP other than context or data; the packet is dropped";
    TX_PAYLEN_MISMATCH = "tx-paylen-mismatch", [Error], ["7.2.3.2.4"],
        "PAYLEN differs from the bytes the packet's descriptors carry (without TSO)";
    TX_PAYLEN_TOO_SMALL = "tx-paylen-too-small", [Error], ["7.2.3.2.4"],
        "PAYLEN below 17 bytes";
    TX_BUFFER_ADDRESS = "tx-buffer-address", [Error], ["7.2.3.2.4"],
        "a transmit buffer the device cannot read; the packet is dropped";
    HEAD_WRITEBACK_FAULT = "head-writeback-fault", [Error], ["7.2.3.5.2"],
        "a transmit head write-back to an address the device cannot write";
    TX_DTALEN_ZERO = "tx-dtalen-zero", [Warn], ["7.2.3.2.4"],
        "a transmit data descriptor of length 0";
    TX_NO_IFCS = "tx-no-ifcs", [Warn], ["7.2.3.2.4"],
        "a packet sent with IFCS = 0: it leaves without an FCS (once per queue)";
    TX_OVERSIZE = "tx-oversize", [Warn], ["8.2.3.22.8"],
        "a frame above 1514 bytes sent without HLREG0.JUMBOEN (once per queue)";
    TX_TSO_NOT_MODELLED = "tx-tso-not-modelled", [Warn], ["7.2.4"],
        "TSE set: the model sends the data as one frame, unsegmented (once per queue)";
    TX_LAST_WITHOUT_RS = "tx-last-without-rs", [Warn], ["4.6.8"],
        "a queue idle after a descriptor without RS while WTHRESH = 0 (once per queue)";
}

/// What one check found, on its way to becoming a [`Report`](super::Report): the rule and what
/// it was found on. The severity and section come from the rule.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Finding {
    pub(crate) rule: Rule,
    harmless: bool,
    section: Option<&'static str>,
    pub(crate) register: Option<&'static str>,
    pub(crate) value: Option<u64>,
    pub(crate) ring: Option<RingState>,
}

impl From<Rule> for Finding {
    fn from(rule: Rule) -> Self {
        Finding {
            rule,
            harmless: false,
            section: None,
            register: None,
            value: None,
            ring: None,
        }
    }
}

impl Rule {
    /// A finding on the register or descriptor named `name`.
    pub(crate) fn on(self, name: &'static str) -> Finding {
        Finding {
            register: Some(name),
            ..self.into()
        }
    }

    /// A finding on register `id` (as addressed: an alias keeps its own name and section).
    pub(crate) fn on_register(self, id: RegisterId) -> Finding {
        let info = id.info();
        Finding {
            register: Some(info.name),
            section: Some(info.section),
            ..self.into()
        }
    }

    /// A finding on a register access at `offset`, where no register is (or may be) named.
    pub(crate) fn at_offset(self, offset: usize) -> Finding {
        Finding {
            value: Some(offset as u64),
            ..self.into()
        }
    }
}

impl Finding {
    /// The value written, read or found.
    pub(crate) fn value(self, value: u64) -> Self {
        Finding {
            value: Some(value),
            ..self
        }
    }

    /// The ring involved.
    pub(crate) fn ring(self, ring: RingState) -> Self {
        Finding {
            ring: Some(ring),
            ..self
        }
    }

    /// For a rule that cites [`Cite::OneOf`]: the section of the step that failed.
    pub(crate) fn section(self, section: &'static str) -> Self {
        debug_assert!(
            matches!(self.rule.cite, Cite::OneOf(list) if list.contains(&section)),
            "{}: section {section} is not in the rule's table entry",
            self.rule.name
        );
        Finding {
            section: Some(section),
            ..self
        }
    }

    /// The rule's harmless form ([`Rule::harmless`]).
    pub(crate) fn harmless(self) -> Self {
        debug_assert!(self.rule.harmless.is_some(), "{}", self.rule.name);
        Finding {
            harmless: true,
            ..self
        }
    }

    /// The severity the report gets.
    pub(crate) fn severity(&self) -> Severity {
        match self.rule.harmless {
            Some(mild) if self.harmless => mild,
            _ => self.rule.severity,
        }
    }

    /// The section the report cites.
    pub(crate) fn cited(&self) -> &'static str {
        match self.rule.cite {
            Cite::Section(s) => s,
            Cite::Queue { rx, tx } => match self.ring.map(|r| r.direction) {
                Some(Direction::Tx) => tx,
                Some(Direction::Rx) => rx,
                None => {
                    debug_assert!(false, "{}: a queue rule without a ring", self.rule.name);
                    rx
                }
            },
            Cite::Register | Cite::OneOf(_) => {
                debug_assert!(self.section.is_some(), "{}: no section", self.rule.name);
                self.section.unwrap_or("")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn rule_names_are_unique_and_match_their_constants() {
        let mut seen = HashSet::new();
        for (ident, name) in IDENTS {
            assert!(seen.insert(*name), "rule {name} is in the table twice");
            assert_eq!(
                name.replace('-', "_").to_uppercase(),
                *ident,
                "constant {ident} holds rule {name}"
            );
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "rule name {name}: lowercase words joined by '-'"
            );
        }
        assert_eq!(IDENTS.len(), RULES.len());
    }

    #[test]
    fn every_rule_cites_datasheet_sections_and_says_what_it_catches() {
        let is_section = |s: &str| {
            !s.is_empty()
                && s.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        for r in RULES {
            match r.cite {
                Cite::Section(s) => assert!(is_section(s), "{}: {s}", r.name),
                Cite::Queue { rx, tx } => {
                    assert!(is_section(rx) && is_section(tx) && rx != tx, "{}", r.name)
                }
                Cite::Register => {}
                Cite::OneOf(list) => {
                    assert!(
                        list.len() > 1 && list.iter().all(|s| is_section(s)),
                        "{}",
                        r.name
                    )
                }
            }
            assert!(!r.what.is_empty() && !r.what.contains('\n'), "{}", r.name);
            assert!(r.harmless.is_none_or(|h| h > r.severity), "{}", r.name);
        }
    }

    /// The model's sources, outside this table, as (file name, text).
    fn model_sources() -> Vec<(String, String)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/sim");
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).expect("src/sim") {
            let path = entry.expect("a directory entry").path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if name.ends_with(".rs") && name != "rules.rs" {
                files.push((name, std::fs::read_to_string(&path).expect("a source file")));
            }
        }
        files
    }

    /// The rule constants the model's sources name (`rules::NAME`), counted in the text.
    fn rules_named(text: &str) -> Vec<&str> {
        let mut names = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find("rules::") {
            rest = &rest[at + "rules::".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len());
            // `rules::RULES` is the table itself (the module docs link to it).
            if end > 0 && &rest[..end] != "RULES" {
                names.push(&rest[..end]);
            }
        }
        names
    }

    /// Every rule in the table is checked somewhere in the model, and every rule the model
    /// checks is in the table: read from the sources, independently of the compiler.
    #[test]
    fn every_rule_is_checked_and_every_check_is_a_rule() {
        let sources = model_sources();
        assert!(sources.len() > 5, "the model's sources were not found");
        let mut used = HashSet::new();
        for (file, text) in &sources {
            for name in rules_named(text) {
                assert!(
                    IDENTS.iter().any(|(ident, _)| *ident == name),
                    "{file} names rules::{name}, which is not in the table"
                );
                used.insert(name);
            }
        }
        let unused: Vec<&str> = IDENTS
            .iter()
            .map(|(ident, _)| *ident)
            .filter(|ident| !used.contains(ident))
            .collect();
        assert!(unused.is_empty(), "rules no check reports: {unused:?}");
    }

    #[test]
    fn a_finding_takes_severity_and_section_from_its_rule() {
        let ring = |direction| RingState {
            direction,
            queue: 3,
            head: 0,
            tail: 0,
            len: 8,
        };
        let f = HEAD_WRITTEN.on("TDH").ring(ring(Direction::Tx));
        assert_eq!((f.severity(), f.cited()), (Severity::Warn, "8.2.3.9.8"));
        let f = f.harmless();
        assert_eq!(f.severity(), Severity::Pedantic);
        let f = HEAD_WRITTEN.on("RDH").ring(ring(Direction::Rx));
        assert_eq!(f.cited(), "8.2.3.8.4");
        let f = WRITE_READ_ONLY.on_register(RegisterId::GPRC);
        assert_eq!(f.cited(), RegisterId::GPRC.info().section);
        assert_eq!(f.register, Some("GPRC"));
        let f = RING_DMA_FAULT.on("LEGACY_RX_DESC").section("7.1.5");
        assert_eq!((f.severity(), f.cited()), (Severity::Error, "7.1.5"));
        let f = ACCESS_MISALIGNED.at_offset(0x13);
        assert_eq!((f.cited(), f.value, f.register), ("8.1", Some(0x13), None));
    }
}
