//! A behavioural model of the Intel 82599, for testing drivers without hardware.
//!
//! Every register read and write of a driver goes through [`SimBar`] (a [`Bus`]) into the
//! model of one port. The model gives reads their side effects (clear-on-read statistics, bits
//! that clear themselves or rise after a delay, the queue-enable handshake), moves frames
//! between descriptor rings and simulated wires, and checks everything the driver does against
//! the datasheet: what the datasheet forbids becomes a [`Report`] naming the rule, the
//! register and the datasheet section. DMA goes through [`SimDma`], whose regions the model
//! checks for liveness before every access: it never touches memory the driver did not
//! allocate through it, or has freed.
//!
//! ```
//! use rixy::sim::{PortConfig, SourceConfig, World};
//! let world = World::new();
//! let a = world.add_port(PortConfig::default());
//! let b = world.add_port(PortConfig::default());
//! world.connect(&a, &b);
//! let sink = world.attach_sink(&b, 4);
//! // ... a driver runs on a.bar() and a.dma(); the test calls world.step() between its calls.
//! world.step();
//! assert_eq!(sink.frames(), 0);
//! ```
//!
//! ## Where to read
//!
//! The world around the ports: `world.rs` ([`World`], its step), `port.rs` ([`Port`], a handle
//! on one port), `faults.rs` (what a test can break), `traffic.rs` (sources and sinks),
//! `bus.rs` ([`SimBar`]), `config.rs` ([`PortConfig`]). One port's model: `model.rs` (its
//! state and how it reports), `regfile.rs` (register storage and reset values), `access.rs`
//! (what each register does when read or written), `timing.rs` (delayed bits), `reset.rs`
//! (resets and the link), `interrupts.rs`, `stats.rs`, `queues.rs` (enable, validation),
//! `tails.rs` (tails and buffer ownership), `init_order.rs` (the init-order rules), and the data
//! path: `rx.rs`, `rx_filter.rs` (L2 filter, RSS), `tx.rs`. The checker's rules are one table,
//! [`rules::RULES`].
//!
//! ## Time
//!
//! Virtual time advances only in [`World::step`], by one quantum (10 µs by default). Delayed
//! state changes (reset, EEPROM auto-read, DMA init, queue enable, link-up) fire after both a
//! minimum time and a minimum number of reads of their register: with [`Timing::Fast`] after
//! two reads (and no wall time), so a driver's init finishes after a few polls without any
//! `step`; with [`Timing::Realistic`] after one read and datasheet-like wall-clock delays (reset
//! 1 ms, EEPROM and DMA init 5 ms, queue enable 200 µs, link 300 ms). A `step` also fires every
//! delay whose time has passed in virtual time.
//!
//! ## Threads
//!
//! A [`World`] and its handles are `Send` and `Sync`, so the ports of one world, or the queues
//! of one port, can be driven from different threads. Each register access (with the automatic
//! step it may trigger) and each [`World::step`] runs under one lock on the world, in some order
//! the threads' timing decides. The model's DMA reads and writes happen under that lock and copy
//! bytes through raw pointers; the driver's threads touch their descriptors and buffers meanwhile,
//! as against a real device, with the descriptor protocol deciding who owns which bytes.
//!
//! ## What the registers do
//!
//! The register file holds every register `registers/ixgbe.toml` declares, at its reset value;
//! a register reachable at two addresses (the 82598-compatible windows of SRRCTL, DCA_RXCTRL,
//! RAL/RAH, MRQC, RETA, RSSRK) has one storage under both. A register without behaviour of its
//! own acts as its access type says (read/write, read-only, write-1-to-clear or -set,
//! write-only, clear-on-read). On top of that:
//!
//! | register | in the model |
//! |---|---|
//! | CTRL | RST resets the device: registers to reset values, queues off, FIFO emptied, EEC.ARD and RDRXCTL.DMAIDONE cleared; RST and LRST read 1 until the reset delay is over, and writes to other registers are dropped meanwhile. Both take the link down. |
//! | STATUS | LAN_ID from the port's number, LINK_UP with the link, GIO_MASTER_ENABLE_STATUS 0 while CTRL.GIO_MASTER_DISABLE is set |
//! | EEC, RDRXCTL | ARD and DMAIDONE rise after their delays once a reset completes (set at power-on); the EEPROM bits are read-only |
//! | LINKS, AUTOC | LINK_UP, 10 Gb/s and KX_AN_COMP after the link delay; AUTOC.RESTART_AN clears itself and takes the link down and up again |
//! | EICR, EICS, EIMS, EIMC, IVAR, GPIE | EICR clears on read (only the queue causes with GPIE.OCD) and on a written 1; EICS sets causes and reads them without clearing; EIMS sets mask bits, EIMC clears them; IVAR maps a queue to the cause bit its write-backs raise; LSC on every link change, RX_MISS when the FIFO overflows |
//! | GPIE, IVAR_MISC, EIAC, EIAM, EITR | MSI-X messages (`interrupts.rs`): a cause that becomes pending while enabled (or enabled while pending) sends its vector's message, vector n for queue cause n in MSI-X mode (IVAR_MISC for the others), vector 0 without it; EITR holds a vector's next message back for its interval in virtual time; a message signals the eventfd the host set up for the vector ([`Port`] is a [`crate::InterruptSource`]), then clears the vector's queue cause where EIAC says and masks it where EIAM says (with GPIE.EIAME); [`Port::msix_messages`] counts them |
//! | SWSM, SECRXSTAT | the semaphore is always free (the first reader sees SMBI 0); SECRX_RDY always reads 1 |
//! | RXCTRL, FCTRL, MCSTCTRL, MTA, RAL/RAH, MAXFRS | RXEN receives; the L2 filter passes unicast with UPE or a RAR entry with AV, multicast with MPE or an MTA hit (MCSTCTRL.MFE, MO), broadcast with BAM or MPE; FCTRL.SBP keeps frames with a bad FCS; frames under 64 bytes or above 1518 (MAXFRS.MFS with HLREG0.JUMBOEN) are dropped and counted |
//! | HLREG0 | RXCRCSTRP strips the FCS on receive; TXPADEN pads to 60 bytes and TXCRCEN appends the FCS on transmit; LPBK loops transmitted frames back |
//! | MRQC, RSSRK, RETA, RXCSUM | RSS over IPv4, TCP and UDP hash types with the Toeplitz hash; the hash goes into the write-back with RXCSUM.PCSD |
//! | RXPBSIZE\[0\] | the size of the receive FIFO frames wait in for descriptors |
//! | RDBAL/RDBAH/RDLEN/SRRCTL, TDBAL/TDBAH/TDLEN | read and validated when the queue's ENABLE latches, then kept; SRRCTL gives BSIZEPACKET, DROP_EN and the descriptor format (legacy or advanced one-buffer) |
//! | RXDCTL, TXDCTL | ENABLE reads 1 after the queue-enable delay (a TX queue starts only with DMATXCTL.TE); clearing it stops the queue at once; TXDCTL.WTHRESH batches DD write-backs, SWFLSH flushes them |
//! | RDH/TDH, RDT/TDT | the device owns the descriptors from head to tail; a tail write hands over the new ones (the device uses them as they were then with [`Fetch::Eager`], as they are when it gets to them with [`Fetch::Lazy`]); the head is the driver's to write only while the queue is disabled |
//! | TDWBAL/TDWBAH | head write-back: the head is written to memory instead of DD |
//! | statistics | clear-on-read; the 36-bit octet counters latch their high half when the low half is read; RQSMR maps queues to the per-queue counters; counters wrap |
//!
//! Receive: a frame passes the MAC checks and the L2 filter, is counted, goes to queue 0 or the
//! RSS choice, and is written into as many descriptors as BSIZEPACKET needs, in the advanced or
//! legacy write-back format with DD last; a full ring drops it (SRRCTL.DROP_EN) or keeps it in
//! the FIFO, which blocks the frames behind it. Transmit: descriptors are gathered from the
//! head to EOP (advanced and legacy on one ring, context descriptors skipped), the data is read,
//! padded and given an FCS, and DD is written back for RS descriptors (or per WTHRESH batch).
//! While the link is down nothing is received and transmit stops.
//!
//! ## The checker
//!
//! Every violation becomes a [`Report`] with a severity, a rule name, the register or
//! descriptor, the value, the ring state, the datasheet section and the access index. The
//! rules, their severities and sections are the table [`rules::RULES`]: register accesses
//! (width, alignment, read-only and reserved bits), the reset and init order, the receive
//! enable, interrupts and filters, queue setup, the tail protocol, and the receive and transmit
//! descriptors and buffers. A rule that would fire per packet or per descriptor reports once per
//! queue (or per reset), as its description says; a port keeps at most 10 000 reports.
//!
//! ## Faults
//!
//! A test can break a port on purpose ([`Port`]'s fault methods): take the link down and up
//! ([`Port::set_link`]), hold a delayed bit back for good ([`Port::never_complete`]), inject
//! frames or bursts ([`Port::inject_frame`], [`Port::inject_burst`]), write receive
//! descriptors back wrongly ([`Port::bad_write_backs`]), set the statistics near their wrap
//! ([`Port::preload_stats`]), pull the device off the bus ([`Port::surprise_removal`]) or reset
//! it ([`Port::spontaneous_reset`]). [`PortConfig::strict`] fills the MTA with garbage at reset
//! and ignores tails written too early; [`Fetch::Lazy`] reads descriptors late.
//!
//! ## Any driver input
//!
//! No register access (any offset, width and value), descriptor content or order of operations
//! makes the model panic or hang: what the datasheet forbids is reported, and a queue whose
//! ring cannot work (an invalid base or length, a head or tail outside the ring at enable, a
//! ring it cannot read) stops until the driver disables and enables it again. One
//! [`World::step`] reads each running ring at most twice over
//! ([`ModelCounters::descriptor_reads`]), and every frame that reaches a port ends in exactly
//! one of its receive [`ModelCounters`], unless it is still on its way (injected for the next
//! step, or waiting in the FIFO: [`Port::rx_fifo_frames`]).
//! `tests/sim_fuzz.rs` holds the model to this with random driver sequences.
//!
//! [`Bus`]: crate::regs::Bus

mod access;
mod bus;
mod config;
mod dma;
mod faults;
mod frame;
mod init_order;
mod interrupts;
mod model;
mod port;
mod queues;
mod regfile;
mod report;
mod reset;
pub mod rules;
mod rx;
mod rx_filter;
mod stats;
mod tails;
mod timing;
mod traffic;
mod tx;
mod world;

pub use bus::SimBar;
pub use config::{DEFAULT_MAC, Fetch, PortConfig, Timing};
pub use dma::SimDma;
pub use faults::{BadWriteBack, Delayed};
pub use frame::{TEST_SRC_MAC, test_frame_seq};
pub use model::ModelCounters;
pub use port::Port;
pub use report::{Direction, Report, RingState, RuleSummary, Severity, by_rule};
pub use traffic::{Pace, SinkHandle, SourceConfig, SourceHandle};
pub use world::World;
