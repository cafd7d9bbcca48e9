//! Intel's advanced receive and transmit descriptors, as the 82599 ([`crate::ixgbe`], datasheet
//! 7.1.6 and 7.2.3.2.4) and the 82576 ([`crate::igb`], datasheet 7.1.5 and 7.2.2.3) both use
//! them: what the two drivers share, written once.
//!
//! Both devices take a receive buffer in the descriptor's read format and write back DD, EOP, a
//! MAC error bit and the length in the same places of the second quadword (only the error bit's
//! position differs, which each register file declares); both take a whole frame in one
//! advanced data descriptor (DTYP data, DEXT, EOP, IFCS, DTALEN, PAYLEN) and write DD back to a
//! descriptor with RS. The ring discipline is the same too: the device owns head..tail-1, so at
//! most size - 1 descriptors are its own (82599 7.1.9 and 7.2.3.3, 82576 7.1.8 and 7.2.2.4).
//!
//! [`RxBuffers`] and [`TxSlots`] are the rings with their packets and the batch walks; each
//! driver keeps what is its own around them: which queue, its tail register, its counters, its
//! health check, the 82599's interrupts. The descriptor layouts stay data (`registers/*.toml`):
//! [`RxDescriptor`] and [`TxDescriptor`] say, through each device's generated views, how the
//! shared code reads and writes one.

use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::sync::atomic::{Ordering, fence};

use crate::memory::{DescRing, DmaAllocator, DmaDomain, Mempool, Packet, check_domain};
use crate::regs::Descriptor;
use crate::ring::RingSize;
use crate::{Error, Result};

/// An advanced receive descriptor, through a device's generated view.
pub(crate) trait RxDescriptor: Descriptor {
    /// `None` until the device has written the descriptor back (DD); then whether it ends a
    /// frame (EOP) and whether the device flagged a MAC error (valid with EOP).
    fn written_back(view: &Self::View) -> Option<(bool, bool)>;
    /// The length the write-back reports; read only after [`RxDescriptor::written_back`] saw DD.
    fn length(view: &Self::View) -> usize;
    /// Hands the buffer at device address `addr` to the device in the read format; a zero
    /// header address also clears DD, which shares its bit.
    fn post(view: &Self::View, addr: u64);
}

/// An advanced transmit data descriptor, through a device's generated view.
pub(crate) trait TxDescriptor: Descriptor {
    /// The shortest frame the device sends and the longest one descriptor carries (what DTALEN
    /// and PAYLEN hold), without the FCS.
    const LENGTHS: std::ops::RangeInclusive<u32>;
    /// Describes a whole frame of `len` bytes (within [`TxDescriptor::LENGTHS`]) at `addr`: a
    /// data descriptor with EOP and IFCS, and RS (report status) when `report`.
    fn describe(view: &Self::View, addr: u64, len: u32, report: bool);
    /// Whether the device has written DD back (it does for descriptors with RS).
    fn done(view: &Self::View) -> bool;
}

/// Implements [`RxDescriptor`] and [`TxDescriptor`] for the `AdvRxDesc` and `AdvTxDesc` of a
/// generated register module (`crate::regs::ixgbe`, `crate::regs::igb`): the two devices name
/// their descriptor fields alike, and each register file says where they sit. `$min_len` is the
/// shortest frame the device sends.
macro_rules! advanced_descriptors {
    ($regs:path, $min_len:expr) => {
        const _: () = {
            use regs::adv_rx_desc::written_back::STATUS_ERROR;
            use regs::adv_tx_desc::to_device::{CMD_TYPE_LEN, OLINFO_STATUS};
            use regs::adv_tx_desc::written_back::STATUS;
            use tock_registers::fields::FieldValue;
            use tock_registers::interfaces::{Readable, Writeable};
            use $regs as regs;

            impl $crate::adv::RxDescriptor for regs::AdvRxDesc {
                #[inline(always)]
                fn written_back(view: &Self::View) -> Option<(bool, bool)> {
                    // DD once the device is done; the MAC error bit is valid with EOP.
                    let status = view.written_back().status_error().extract();
                    status.is_set(STATUS_ERROR::DD).then(|| {
                        (
                            status.is_set(STATUS_ERROR::EOP),
                            status.is_set(STATUS_ERROR::RXE),
                        )
                    })
                }

                #[inline(always)]
                fn length(view: &Self::View) -> usize {
                    usize::from(view.written_back().pkt_len().get())
                }

                #[inline(always)]
                fn post(view: &Self::View, addr: u64) {
                    // The read format: the buffer, and no header buffer.
                    view.to_device().pkt_addr().set(addr);
                    view.to_device().hdr_addr().set(0);
                }
            }

            impl $crate::adv::TxDescriptor for regs::AdvTxDesc {
                // The longest frame one descriptor carries: the smaller of what DTALEN and
                // PAYLEN hold.
                const LENGTHS: std::ops::RangeInclusive<u32> = $min_len
                    ..=if CMD_TYPE_LEN::DTALEN::MASK < OLINFO_STATUS::PAYLEN::MASK {
                        CMD_TYPE_LEN::DTALEN::MASK
                    } else {
                        OLINFO_STATUS::PAYLEN::MASK
                    };

                #[inline(always)]
                fn describe(view: &Self::View, addr: u64, len: u32, report: bool) {
                    // `len` is within LENGTHS, so it fits DTALEN and PAYLEN whole (what
                    // `val_checked` would check).
                    let dtalen = FieldValue::<u32, CMD_TYPE_LEN::Register>::new(
                        CMD_TYPE_LEN::DTALEN::MASK,
                        CMD_TYPE_LEN::DTALEN::SHIFT,
                        len,
                    );
                    let paylen = FieldValue::<u32, OLINFO_STATUS::Register>::new(
                        OLINFO_STATUS::PAYLEN::MASK,
                        OLINFO_STATUS::PAYLEN::SHIFT,
                        len,
                    );
                    // A data descriptor holding a whole frame: end of packet and insert the
                    // FCS; RS on the batch's last descriptor.
                    let mut command = CMD_TYPE_LEN::DTYP::DATA
                        + CMD_TYPE_LEN::DEXT::SET
                        + CMD_TYPE_LEN::EOP::SET
                        + CMD_TYPE_LEN::IFCS::SET
                        + dtalen;
                    if report {
                        command += CMD_TYPE_LEN::RS::SET;
                    }
                    view.to_device().buffer_addr().set(addr);
                    view.to_device().cmd_type_len().write(command);
                    view.to_device().olinfo_status().write(paylen);
                }

                #[inline(always)]
                fn done(view: &Self::View) -> bool {
                    // With TXDCTL.WTHRESH = 0, DD is written back at once to each descriptor
                    // with RS.
                    view.written_back().status().is_set(STATUS::DD)
                }
            }
        };
    };
}
pub(crate) use advanced_descriptors;

/// A receive ring with a packet posted in every descriptor, and the fresh buffers that replace
/// the received ones.
pub(crate) struct RxBuffers<D: Descriptor> {
    pub(crate) ring: DescRing<D>,
    /// The packet whose buffer descriptor `i` points to.
    pub(crate) posted: Vec<Packet>,
    pub(crate) pool: Mempool,
    /// Fresh buffers taken from the pool a batch at a time (one lock of the pool per batch),
    /// each replacing a received one in its descriptor. Capacity: the ring size.
    spare: Vec<Packet>,
    /// The next descriptor the device will write back.
    pub(crate) next: usize,
    /// Bytes the device may write into one buffer (SRRCTL.BSIZEPACKET on both).
    pub(crate) nic_buffer: usize,
    /// Inside a frame being dropped: the last descriptor seen had no EOP, so the ones after it
    /// up to the next EOP belong to the same frame.
    dropping: bool,
}

/// What one receive batch did.
pub(crate) struct RxBatch {
    /// Packets handed out.
    pub(crate) received: usize,
    /// Their bytes.
    pub(crate) bytes: u64,
    /// Frames dropped (each counted once, however many descriptors it took).
    pub(crate) errors: u64,
    /// The new tail (the last descriptor processed) when the batch took any descriptor: the
    /// driver writes it to its RDT after a release fence ([`RxBuffers::receive`] has issued it).
    pub(crate) tail: Option<u32>,
}

impl<D: RxDescriptor> RxBuffers<D> {
    /// A ring of `size` descriptors at `base_align`, a pool of `pool_size` buffers of
    /// `buffer_size` bytes, and a buffer posted in every descriptor. The device may write
    /// `nic_buffer` bytes into each.
    pub(crate) fn new<A: DmaAllocator + ?Sized>(
        dma: &A,
        size: RingSize,
        base_align: usize,
        pool_size: usize,
        buffer_size: usize,
        nic_buffer: usize,
    ) -> Result<Self> {
        let ring = DescRing::<D>::new(dma, size, base_align)?;
        let pool = Mempool::new(dma, pool_size, buffer_size)?;
        // Every descriptor gets a buffer; the tail will hand over all but the last.
        let mut posted = Vec::with_capacity(size.get());
        for slot in 0..size.get() {
            let packet = pool.alloc().ok_or_else(|| Error::InvalidConfig {
                problem: format!(
                    "the receive mempool of {} buffers ran out filling a ring of {}",
                    pool.capacity(),
                    size
                ),
            })?;
            D::post(&ring.get(slot), packet.device_addr());
            posted.push(packet);
        }
        Ok(RxBuffers {
            ring,
            posted,
            pool,
            spare: Vec::with_capacity(size.get()),
            next: 0,
            nic_buffer,
            dropping: false,
        })
    }

    /// The packets the ring holds: one posted in each descriptor, and the spares.
    pub(crate) fn held(&self) -> impl Iterator<Item = &Packet> {
        self.posted.iter().chain(self.spare.iter())
    }

    /// Whether the device has written back the next descriptor: the next batch takes something.
    pub(crate) fn ready(&self) -> bool {
        D::written_back(&self.ring.get(self.next)).is_some()
    }

    /// Receives up to `max` packets into `out`. Only a frame the device wrote whole into one
    /// buffer is handed out; a write-back the driver cannot trust is dropped and counted once:
    /// a frame spread over several descriptors (every descriptor up to and including the one
    /// with EOP goes, even across batches), a length beyond the buffer, or a MAC error. A
    /// dropped buffer goes straight back to its descriptor, so dropping never needs the pool.
    /// `max` must be less than the ring size.
    #[inline]
    pub(crate) fn receive<E: Extend<Packet>>(
        &mut self,
        out: &mut E,
        max: usize,
    ) -> Result<RxBatch> {
        let size = self.ring.size();
        // The device owns head..tail-1, so the driver gets back at most size - 1.
        crate::config::check_rx_batch(max, size.get(), size.get() - 1)?;
        // Fresh buffers for every descriptor this batch may take, in one go.
        if self.spare.len() < max {
            let want = max - self.spare.len();
            self.pool.alloc_bulk(&mut self.spare, want);
        }
        let mut progress = Progress {
            index: self.next,
            consumed: 0,
            batch: RxBatch {
                received: 0,
                bytes: 0,
                errors: 0,
                tail: None,
            },
            stopped: false,
        };
        let walk = Walk {
            rx: &mut *self,
            size,
            max,
            progress: &mut progress,
        };
        // One `extend` per batch: the packets go to the caller as the walk yields them.
        out.extend(walk);
        let Progress {
            index,
            consumed,
            mut batch,
            ..
        } = progress;
        if consumed > 0 {
            // The tail moves to the last descriptor processed, so the one after it stays the
            // driver's and the tail never meets the head.
            batch.tail = Some(size.advance(index, size.get() - 1) as u32);
            self.next = index;
            // The new buffer addresses must be visible before the tail hands them over.
            fence(Ordering::Release);
        }
        Ok(batch)
    }
}

/// The walk of one receive batch over the written-back descriptors, yielding each whole frame
/// as a packet; it stops for good at the first descriptor it cannot take.
struct Walk<'a, D: Descriptor> {
    rx: &'a mut RxBuffers<D>,
    size: RingSize,
    max: usize,
    progress: &'a mut Progress,
}

/// How far a [`Walk`] got.
struct Progress {
    /// The next descriptor to look at.
    index: usize,
    /// Descriptors taken from the device so far (received or dropped).
    consumed: usize,
    batch: RxBatch,
    /// The walk met a descriptor it cannot take.
    stopped: bool,
}

impl<D: RxDescriptor> Iterator for Walk<'_, D> {
    type Item = Packet;

    #[inline(always)]
    fn next(&mut self) -> Option<Packet> {
        while !self.progress.stopped && self.progress.consumed < self.max {
            let desc = self.rx.ring.get(self.progress.index);
            // The device sets DD in the write-back once the descriptor is done. The driver
            // polls memory, never the head register (which may run ahead of the write-back).
            let Some((eop, error)) = D::written_back(&desc) else {
                self.progress.stopped = true;
                break;
            };
            // Read the rest of the write-back only after DD was seen set.
            fence(Ordering::Acquire);
            let length = D::length(&desc);
            // A whole frame: its only descriptor (EOP, and the one before ended a frame too),
            // no MAC error, and no more bytes than BSIZEPACKET allows (`nic_buffer` never
            // exceeds the buffer).
            let whole = eop && !self.rx.dropping && !error && length <= self.rx.nic_buffer;
            if whole {
                // A fresh buffer replaces the received one before anything is handed out;
                // with the pool empty the descriptor waits for the next batch.
                let Some(fresh) = self.rx.spare.pop() else {
                    self.progress.stopped = true;
                    break;
                };
                D::post(&desc, fresh.device_addr());
                // SAFETY: `posted` holds one packet per descriptor (`new` fills all `size` of
                // them and nothing resizes it), and `index` is a ring index, below `size`.
                let slot = unsafe { self.rx.posted.get_unchecked_mut(self.progress.index) };
                let mut packet = std::mem::replace(slot, fresh);
                self.progress.index = self.size.next(self.progress.index);
                self.progress.consumed += 1;
                // The length fits the buffer (checked above), so this holds.
                if packet.set_len(length).is_ok() {
                    self.progress.batch.received += 1;
                    self.progress.batch.bytes += length as u64;
                    return Some(packet);
                }
                self.progress.batch.errors += 1;
            } else {
                // Dropped: the buffer stays posted, the device gets it back in the same
                // descriptor (every descriptor holds a packet from `new` on).
                D::post(&desc, self.rx.posted[self.progress.index].device_addr());
                // The first descriptor of a bad frame counts it; a frame that goes on (no EOP)
                // keeps the descriptors after it dropped, up to its EOP.
                if !self.rx.dropping {
                    self.progress.batch.errors += 1;
                }
                self.rx.dropping = !eop;
                self.progress.index = self.size.next(self.progress.index);
                self.progress.consumed += 1;
            }
        }
        None
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.max - self.progress.consumed))
    }
}

/// A transmit ring and the packets in flight: a slot per descriptor.
pub(crate) struct TxSlots<D: Descriptor> {
    pub(crate) ring: DescRing<D>,
    /// The packet of each descriptor, by descriptor index: those of `clean..next` hold the
    /// packets in flight, the others nothing. A slot per descriptor, so placing and cleaning a
    /// packet is one store and one load at the index the ring walk has anyway.
    slots: Box<[MaybeUninit<Packet>]>,
    /// The next free descriptor (the tail after the batch).
    next: usize,
    /// The oldest descriptor not cleaned yet.
    clean: usize,
    /// The last descriptor of every batch in flight, oldest first: only these ask for a status
    /// write-back (RS), so one DD check frees a whole batch. Capacity: the ring size, so it
    /// never grows on the transmit path.
    marks: VecDeque<usize>,
}

/// What one transmit batch did.
pub(crate) struct TxBatch {
    /// Packets the ring took (sent or dropped).
    pub(crate) taken: usize,
    /// Bytes of the packets sent.
    pub(crate) bytes: u64,
    /// Packets taken but dropped: too short or too long for a descriptor.
    pub(crate) errors: u64,
    /// The new tail when descriptors were handed over: the driver writes it to its TDT
    /// ([`TxSlots::send`] has issued the release fence).
    pub(crate) tail: Option<u32>,
}

impl<D: TxDescriptor> TxSlots<D> {
    /// A zeroed ring of `size` descriptors at `base_align`.
    pub(crate) fn new<A: DmaAllocator + ?Sized>(
        dma: &A,
        size: RingSize,
        base_align: usize,
    ) -> Result<Self> {
        Ok(TxSlots {
            ring: DescRing::new(dma, size, base_align)?,
            slots: (0..size.get()).map(|_| MaybeUninit::uninit()).collect(),
            next: 0,
            clean: 0,
            marks: VecDeque::with_capacity(size.get()),
        })
    }

    /// Descriptors the device has not confirmed yet.
    pub(crate) fn pending(&self) -> usize {
        self.ring.size().distance(self.clean, self.next)
    }

    /// The packets in flight, oldest first.
    pub(crate) fn in_flight(&self) -> impl Iterator<Item = &Packet> {
        let size = self.ring.size();
        (0..self.pending()).map(move |k| {
            // SAFETY: slots clean..next hold packets (see `slots`), and `&self` keeps them.
            unsafe { self.slots[size.advance(self.clean, k)].assume_init_ref() }
        })
    }

    /// Frees the packets of every batch the device has finished with, then places packets
    /// from the front of `packets`, one descriptor each, as many as the free descriptors take;
    /// the rest stay in `packets`, in order. A packet too short or too long for a descriptor is
    /// taken, dropped and counted. If a packet the ring could take comes from a pool outside
    /// `domain` (what device `device` reaches), nothing is taken and the error names it.
    #[inline]
    pub(crate) fn send(
        &mut self,
        packets: &mut VecDeque<Packet>,
        domain: DmaDomain,
        device: &str,
    ) -> Result<TxBatch> {
        let size = self.ring.size();
        // DD is written back to each descriptor with RS once the device has fetched it. Only
        // the last descriptor of each batch has RS: when its DD is set, the whole batch has
        // been read and its buffers can go back to their pools.
        while let Some(&mark) = self.marks.front() {
            if !D::done(&self.ring.get(mark)) {
                break;
            }
            let end = size.next(mark);
            // Descriptors clean..=mark hold the oldest packets in flight, one each; they go
            // back to their pools with one lock of each pool per batch, not one per packet.
            let (clean, slots) = (self.clean, &mut self.slots);
            let done = size.distance(clean, end);
            Mempool::free_bulk((0..done).map(|k| {
                // SAFETY: slot `clean + k` lies in clean..next, so it holds a packet placed by
                // an earlier batch and not read since; `clean` moves past it right after, so it
                // is never read again before a new packet is placed in it.
                unsafe { slots[size.advance(clean, k)].assume_init_read() }
            }));
            self.clean = end;
            self.marks.pop_front();
        }

        // The packets this batch may take, at most one per free descriptor, must all be in
        // memory the device reaches; otherwise nothing is taken.
        let free = size.get() - 1 - size.distance(self.clean, self.next);
        let offered = packets.len().min(free);
        check_domain(&*packets, offered, domain, device)?;

        let mut batch = TxBatch {
            taken: offered,
            bytes: 0,
            errors: 0,
            tail: None,
        };
        let mut last = None;
        // Kept in a local for the loop, which the compiler would otherwise store to memory at
        // every step.
        let mut next = self.next;
        let slots = &mut self.slots[..];
        // At most size - 1 descriptors are handed over, so `offered <= free` descriptors from
        // `next` on are free and the ring never fills past the oldest one not cleaned.
        for packet in packets.drain(..offered) {
            // `len()` is at most the buffer's data capacity, far below `u32::MAX`.
            let length = packet.len() as u32;
            if !D::LENGTHS.contains(&length) {
                batch.errors += 1;
                continue;
            }
            batch.bytes += u64::from(length);
            D::describe(&self.ring.get(next), packet.device_addr(), length, false);
            // The slot is free: `next` is outside clean..next until this batch moves it.
            // SAFETY: `next` is a ring index, below the ring size, which is the slots' length.
            unsafe { slots.get_unchecked_mut(next) }.write(packet);
            last = Some((next, length));
            next = size.next(next);
        }
        self.next = next;
        if let Some((index, length)) = last {
            // The descriptor is still the driver's: the tail has not passed it yet.
            D::describe(
                &self.ring.get(index),
                // SAFETY: slot `index` was written just above.
                unsafe { self.slots[index].assume_init_ref() }.device_addr(),
                length,
                true,
            );
            self.marks.push_back(index);
            // The descriptors must be visible before the tail hands them over.
            fence(Ordering::Release);
            batch.tail = Some(self.next as u32);
        }
        Ok(batch)
    }
}

impl<D: Descriptor> Drop for TxSlots<D> {
    /// The packets still in flight go back to their pools (the driver stopped the device first:
    /// each resets its port before its rings go).
    fn drop(&mut self) {
        let size = self.ring.size();
        let (clean, slots) = (self.clean, &mut self.slots);
        Mempool::free_bulk((0..size.distance(clean, self.next)).map(|k| {
            // SAFETY: slots clean..next hold packets (see `slots`); each is read once, and the
            // ring goes with this drop, so no slot is read again.
            unsafe { slots[size.advance(clean, k)].assume_init_read() }
        }));
    }
}
