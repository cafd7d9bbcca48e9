//! The generated register layer at run time: layouts taken from the datasheet files, field
//! access over an in-memory bus, clear-on-read, and the MMIO and port-IO buses.

use std::cell::RefCell;
use std::collections::HashSet;
use std::ptr::NonNull;

use rixy::regs::ixgbe::{self, RXDCTL, Registers, RxQueue, RxQueue16, SRRCTL, TXDCTL, TxQueue};
use rixy::regs::{Access, Bus, MemBus, Mmio, PortIo, pci, virtio};
use rixy::virtio::layout::VirtqLayout;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

fn mem_regs() -> Registers<MemBus> {
    Registers::new(MemBus::new(Registers::<MemBus>::SIZE)).unwrap()
}

#[test]
fn split_queue_arrays_land_where_the_datasheet_puts_them() {
    let regs = mem_regs();
    let rdbal = |n| regs.rdbal(RxQueue::new(n).unwrap()).offset();
    assert_eq!(rdbal(0), 0x01000);
    assert_eq!(rdbal(1), 0x01040);
    assert_eq!(rdbal(63), 0x01FC0);
    assert_eq!(rdbal(64), 0x0D000);
    assert_eq!(rdbal(127), 0x0DFC0);
    let q = |n| RxQueue::new(n).unwrap();
    assert_eq!(regs.rdbah(q(0)).offset(), 0x01004);
    assert_eq!(regs.rdlen(q(64)).offset(), 0x0D008);
    assert_eq!(regs.rdh(q(0)).offset(), 0x01010);
    assert_eq!(regs.rdt(q(127)).offset(), 0x0DFD8);
    assert_eq!(regs.rxdctl(q(0)).offset(), 0x01028);
    assert_eq!(regs.rxdctl(q(64)).offset(), 0x0D028);
    assert_eq!(regs.srrctl(q(0)).offset(), 0x01014);
    assert_eq!(regs.srrctl(q(65)).offset(), 0x0D054);
    // TX queues are one run of 128.
    let t = |n| TxQueue::new(n).unwrap();
    assert_eq!(regs.tdbal(t(0)).offset(), 0x06000);
    assert_eq!(regs.tdt(t(127)).offset(), 0x06000 + 0x40 * 127 + 0x18);
    assert_eq!(regs.txdctl(t(1)).offset(), 0x06068);
    // Single registers.
    assert_eq!(regs.ctrl().offset(), 0x00000);
    assert_eq!(regs.eimc().offset(), 0x00888);
    assert_eq!(regs.links().offset(), 0x042A4);
    assert_eq!(regs.dmatxctl().offset(), 0x04A80);
    let mut regs = regs;
    assert_eq!(regs.gprc().offset(), 0x04074);
    assert_eq!(regs.gorcl().offset(), 0x04088);
}

#[test]
fn the_82598_srrctl_window_aliases_srrctl() {
    let regs = mem_regs();
    let alias = regs.srrctl_82598(RxQueue16::at::<5>());
    assert_eq!(alias.offset(), 0x02100 + 4 * 5);
    // It shares SRRCTL's fields: SRRCTL's field values are accepted by the alias handle.
    alias.write(SRRCTL::DROP_EN::SET);
    assert!(alias.is_set(SRRCTL::DROP_EN));
    let info = ixgbe::lookup(0x02100 + 4 * 5).unwrap();
    assert_eq!(info, (ixgbe::RegisterId::SRRCTL_82598, 5));
    assert_eq!(info.0.info().alias_of, Some(ixgbe::RegisterId::SRRCTL));
}

#[test]
fn descriptors_have_their_declared_sizes() {
    assert_eq!(size_of::<ixgbe::AdvRxDesc>(), 16);
    assert_eq!(align_of::<ixgbe::AdvRxDesc>(), 16);
    assert_eq!(size_of::<ixgbe::AdvTxDesc>(), 16);
    assert_eq!(size_of::<ixgbe::LegacyRxDesc>(), 16);
    assert_eq!(ixgbe::adv_rx_desc::written_back::STATUS_ERROR_OFFSET, 8);
    assert_eq!(ixgbe::adv_rx_desc::written_back::PKT_LEN_OFFSET, 12);
    assert_eq!(size_of::<virtio::VirtqDesc>(), 16);
    assert_eq!(size_of::<virtio::VirtqUsedElem>(), 8);
    assert_eq!(size_of::<virtio::NetHdr>(), 10);
    assert_eq!(size_of::<virtio::NetHdrMrg>(), 12);
}

#[test]
fn legacy_virtqueue_layout_for_256_entries() {
    let l = VirtqLayout::new(256).unwrap();
    assert_eq!(l.desc, 0);
    assert_eq!(l.avail, 16 * 256);
    assert_eq!(l.avail_ring, 4096 + 4);
    assert_eq!(l.used_event, 4096 + 4 + 2 * 256);
    // 4096 + 6 + 512 = 4614 bytes of descriptors and available ring: the used ring starts at
    // the next 4096-byte boundary.
    assert_eq!(l.used, 8192);
    assert_eq!(l.used_ring, 8192 + 4);
    assert_eq!(l.avail_event, 8192 + 4 + 8 * 256);
    assert_eq!(l.total, 12288);
    assert_eq!(VirtqLayout::new(100), None);
    assert_eq!(VirtqLayout::new(0), None);
    assert_eq!(VirtqLayout::new(1).unwrap().used, 4096);
}

#[test]
fn modify_changes_one_field_and_leaves_the_others() {
    let regs = mem_regs();
    let q = TxQueue::at::<70>();
    regs.txdctl(q).write(
        TXDCTL::PTHRESH::value::<32>()
            + TXDCTL::HTHRESH::value::<4>()
            + TXDCTL::WTHRESH::value::<8>(),
    );
    let before = regs.txdctl(q).get();
    regs.txdctl(q).modify(TXDCTL::ENABLE::SET);
    let after = regs.txdctl(q).get();
    assert_eq!(after, before | (1 << 25));
    assert_eq!(
        regs.bus().peek(regs.txdctl(q).offset(), 4),
        after.to_le_bytes()
    );
    assert_eq!(regs.txdctl(q).read(TXDCTL::PTHRESH), 32);
    assert_eq!(regs.txdctl(q).read(TXDCTL::HTHRESH), 4);
    assert_eq!(regs.txdctl(q).read(TXDCTL::WTHRESH), 8);
    regs.txdctl(q).modify(TXDCTL::PTHRESH::value::<1>());
    assert!(regs.txdctl(q).is_set(TXDCTL::ENABLE));
    assert_eq!(regs.txdctl(q).read(TXDCTL::PTHRESH), 1);
    assert_eq!(regs.txdctl(q).read(TXDCTL::WTHRESH), 8);
    // Nothing else in the register space moved.
    assert_eq!(regs.txdctl(TxQueue::at::<69>()).get(), 0);
    assert_eq!(regs.txdctl(TxQueue::at::<71>()).get(), 0);
    // And the same on RXDCTL's single-bit field.
    let r = RxQueue::at::<3>();
    regs.rxdctl(r).write(RXDCTL::VME::SET);
    regs.rxdctl(r).modify(RXDCTL::ENABLE::SET);
    assert!(regs.rxdctl(r).is_set(RXDCTL::VME));
}

#[test]
fn named_values_and_enums_round_trip() {
    let regs = mem_regs();
    let q = RxQueue::at::<0>();
    regs.srrctl(q).modify(SRRCTL::DESCTYPE::ADV_ONE_BUF);
    assert_eq!(
        regs.srrctl(q).read_as_enum(SRRCTL::DESCTYPE),
        Some(SRRCTL::DESCTYPE::Value::AdvOneBuf)
    );
}

#[test]
fn checked_field_values_refuse_what_does_not_fit() {
    assert!(TXDCTL::PTHRESH::val_checked(0x7F).is_ok());
    let err = TXDCTL::PTHRESH::val_checked(0x80)
        .err()
        .expect("0x80 needs 8 bits");
    assert_eq!(
        err.to_string(),
        "value 0x80 does not fit field TXDCTL.PTHRESH (7 bits)"
    );
}

#[test]
fn index_types_refuse_out_of_range_numbers() {
    assert!(RxQueue::new(127).is_some());
    assert!(RxQueue::new(128).is_none());
    assert_eq!(RxQueue::all().count(), 128);
    let err = RxQueue::try_from(300).unwrap_err();
    assert_eq!(
        err.to_string(),
        "RxQueue 300 is out of range: there are 128 (0 to 127)"
    );
}

/// A bus with the statistics registers' real side effect: reading one clears it.
struct ClearOnReadBus {
    mem: MemBus,
    reads: RefCell<Vec<usize>>,
}

impl Bus for ClearOnReadBus {
    fn len(&self) -> usize {
        self.mem.len()
    }
    unsafe fn read8(&self, o: usize) -> u8 {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { self.mem.read8(o) }
    }
    unsafe fn read16(&self, o: usize) -> u16 {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { self.mem.read16(o) }
    }
    unsafe fn read32(&self, o: usize) -> u32 {
        self.reads.borrow_mut().push(o);
        // SAFETY: forwarded with the caller's guarantee.
        let v = unsafe { self.mem.read32(o) };
        if let Some((id, _)) = ixgbe::lookup(o)
            && matches!(id.info().access, Access::Rc | Access::RcW1c)
        {
            // SAFETY: same offset, same guarantee.
            unsafe { self.mem.write32(o, 0) };
        }
        v
    }
    unsafe fn read64(&self, o: usize) -> u64 {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { self.mem.read64(o) }
    }
    unsafe fn write8(&self, o: usize, v: u8) {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { self.mem.write8(o, v) }
    }
    unsafe fn write16(&self, o: usize, v: u16) {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { self.mem.write16(o, v) }
    }
    unsafe fn write32(&self, o: usize, v: u32) {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { self.mem.write32(o, v) }
    }
    unsafe fn write64(&self, o: usize, v: u64) {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { self.mem.write64(o, v) }
    }
}

#[test]
fn take_on_a_clear_on_read_register_returns_the_value_once() {
    let bus = ClearOnReadBus {
        mem: MemBus::new(Registers::<MemBus>::SIZE),
        reads: RefCell::new(Vec::new()),
    };
    bus.mem.poke(0x04074, &1234u32.to_le_bytes()); // the device counted 1234 packets
    let mut regs = Registers::new(&bus).unwrap();
    assert_eq!(regs.gprc().take(), 1234);
    assert_eq!(regs.gprc().take(), 0);
    assert_eq!(
        *bus.reads.borrow(),
        vec![0x04074, 0x04074],
        "exactly one bus read per take"
    );
    // A plain register is not cleared by reading it.
    regs.ctrl().set(5);
    assert_eq!(regs.ctrl().get(), 5);
    assert_eq!(regs.ctrl().get(), 5);
}

/// Every register element a datasheet file declares, as (offset, name, element), sorted: read
/// from the TOML directly, not through the generator's model.
fn declared_elements(file: &str) -> Vec<(u32, String, u16)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let table: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let int = |v: &toml::Value| u32::try_from(v.as_integer().unwrap()).unwrap();
    let mut out = Vec::new();
    for reg in table["register"].as_array().unwrap() {
        let name = reg["name"].as_str().unwrap().to_string();
        match (reg.get("offset"), reg.get("array")) {
            (Some(offset), None) => out.push((int(offset), name, 0)),
            (None, Some(runs)) => {
                let mut element = 0u16;
                for run in runs.as_array().unwrap() {
                    for i in 0..int(&run["count"]) {
                        out.push((
                            int(&run["base"]) + i * int(&run["stride"]),
                            name.clone(),
                            element,
                        ));
                        element += 1;
                    }
                }
            }
            _ => panic!("{file}: register {name} has neither an offset nor an array"),
        }
    }
    out.sort();
    out
}

#[test]
fn the_offset_map_covers_every_register_element_once() {
    // The generated maps hold exactly the elements the datasheet files declare, each once, at
    // the offsets the files give.
    let generated = [
        ixgbe::MAP
            .iter()
            .map(|&(offset, id, element)| (offset, id.info().name.to_string(), element))
            .collect::<Vec<_>>(),
        virtio::MAP
            .iter()
            .map(|&(offset, id, element)| (offset, id.info().name.to_string(), element))
            .collect(),
        pci::MAP
            .iter()
            .map(|&(offset, id, element)| (offset, id.info().name.to_string(), element))
            .collect(),
    ];
    for (map, file) in generated.iter().zip([
        "registers/ixgbe.toml",
        "registers/virtio.toml",
        "registers/pci.toml",
    ]) {
        let declared = declared_elements(file);
        let missing: Vec<_> = declared
            .iter()
            .filter(|e| !map.contains(e))
            .take(5)
            .collect();
        let extra: Vec<_> = map
            .iter()
            .filter(|e| !declared.contains(e))
            .take(5)
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty() && map.len() == declared.len(),
            "{file}: {} elements declared, {} in the map; missing {missing:?}, not declared {extra:?}",
            declared.len(),
            map.len()
        );
    }
    let mut seen = HashSet::new();
    for &(offset, id, element) in ixgbe::MAP.iter() {
        assert!(seen.insert(offset), "{offset:#x} twice");
        assert!((element as usize) < id.info().count);
        assert_eq!(ixgbe::lookup(offset as usize), Some((id, element as usize)));
    }
    let regs = mem_regs();
    for q in RxQueue::all() {
        assert_eq!(
            ixgbe::lookup(regs.rdt(q).offset()),
            Some((ixgbe::RegisterId::RDT, q.get()))
        );
    }
    assert_eq!(ixgbe::lookup(0x01001), None);
    assert_eq!(ixgbe::RegisterId::CTRL.info().section, "8.2.3.1.1");
}

#[test]
fn mmio_accesses_are_plain_little_endian_loads_and_stores() {
    #[repr(C, align(8))]
    struct Window([u8; 64]);
    let mut window = Window([0; 64]);
    {
        let base = NonNull::new(window.0.as_mut_ptr()).unwrap();
        // SAFETY: `window` outlives `bus`, is 8-byte aligned, and is not referenced while the bus
        // is used (the reads below happen after the last use of `bus`).
        let bus = unsafe { Mmio::new(base, 64) };
        let view = ixgbe::adv_rx_desc::View::new(&bus).unwrap();
        view.to_device().pkt_addr().set(0x1122_3344_5566_7788);
        view.to_device().hdr_addr().set(0);
        // SAFETY: offsets are inside the window and aligned.
        unsafe { bus.write32(8, 0x3) };
        let status = view.written_back().status_error().extract();
        assert!(status.is_set(ixgbe::adv_rx_desc::written_back::STATUS_ERROR::DD));
        assert!(status.is_set(ixgbe::adv_rx_desc::written_back::STATUS_ERROR::EOP));
    }
    assert_eq!(&window.0[0..8], &0x1122_3344_5566_7788u64.to_le_bytes());
    assert_eq!(&window.0[8..12], &3u32.to_le_bytes());
}

#[test]
fn a_view_refuses_a_bus_shorter_than_its_descriptor() {
    let err = ixgbe::adv_rx_desc::View::new(MemBus::new(8)).err().unwrap();
    assert!(
        err.to_string()
            .contains("AdvRxDesc layout needs 0x10 bytes"),
        "{err}"
    );
    let err = Registers::new(MemBus::new(0x1000)).err().unwrap();
    assert!(err.to_string().contains("0x20000"), "{err}");
}

#[test]
fn port_io_is_one_pread_or_pwrite_per_access_at_the_register_offset() {
    let file = tempfile::tempfile().unwrap();
    file.set_len(virtio::Registers::<PortIo>::SIZE as u64)
        .unwrap();
    let regs = virtio::Registers::new(PortIo::new(
        file.try_clone().unwrap(),
        virtio::Registers::<PortIo>::SIZE,
    ))
    .unwrap();
    regs.device_status()
        .write(virtio::DEVICE_STATUS::ACKNOWLEDGE::SET + virtio::DEVICE_STATUS::DRIVER::SET);
    regs.queue_sel().set(2);
    regs.guest_features()
        .write(virtio::GUEST_FEATURES::MAC::SET);
    let mut bytes = vec![0u8; virtio::Registers::<PortIo>::SIZE];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut bytes, 0).unwrap();
    assert_eq!(bytes[0x12], 0b11, "DEVICE_STATUS is the byte at 0x12");
    assert_eq!(
        &bytes[0x0E..0x10],
        &2u16.to_le_bytes(),
        "QUEUE_SEL is the u16 at 0x0E"
    );
    assert_eq!(
        &bytes[0x04..0x08],
        &(1u32 << 5).to_le_bytes(),
        "GUEST_FEATURES is the u32 at 4"
    );
    assert!(regs.bus().take_error().is_none());
    assert_eq!(regs.queue_sel().get(), 2);
}

#[test]
fn port_io_errors_are_latched_and_reads_return_all_ones() {
    // A resource file shorter than the register space: reads past its end fail.
    let file = tempfile::tempfile().unwrap();
    file.set_len(4).unwrap();
    let regs =
        virtio::Registers::new(PortIo::new(file, virtio::Registers::<PortIo>::SIZE)).unwrap();
    assert_eq!(regs.device_status().get(), 0xFF);
    assert_eq!(regs.queue_num().get(), 0xFFFF);
    let (kind, count) = regs
        .bus()
        .take_error()
        .expect("the failed reads are reported");
    assert_eq!(kind, std::io::ErrorKind::UnexpectedEof);
    assert_eq!(count, 2);
    assert!(
        regs.bus().take_error().is_none(),
        "taking the error clears it"
    );
}
