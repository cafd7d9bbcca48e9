//! The 82599 model on its own: driven through its BAR with raw register sequences, checked
//! against ixy's known init mistakes (research notes §9), a datasheet-clean init, the data path
//! and injected faults.

use std::thread::sleep;
use std::time::Duration;

use rixy::memory::{DmaAllocator, DmaRegion};
use rixy::regs::ixgbe::{
    AUTOC, CTRL, CTRL_EXT, DCA_RXCTRL, DMATXCTL, EEC, EICR, FCTRL, HLREG0, LINKS, PacketBuffer,
    RAH, RDRXCTL, RTTDCS, RXCTRL, RXDCTL, RXPBSIZE, ReceiveAddress16, RegisterId, Registers,
    RxQueue, RxQueue16, SECRXCTRL, SECRXSTAT, SRRCTL, TXDCTL, TXPBSIZE, TxQueue, adv_rx_desc,
    adv_tx_desc, legacy_rx_desc,
};
use rixy::sim::{
    Delayed, Pace, Port, PortConfig, Report, Severity, SimBar, SourceConfig, World, test_frame_seq,
};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

const N: u32 = 512;
const BUF: usize = 2048;
const Q0: RxQueue = RxQueue::at::<0>();
const T0: TxQueue = TxQueue::at::<0>();

/// The rings and buffers of one queue pair.
struct Rings {
    rx: DmaRegion,
    tx: DmaRegion,
    bufs: DmaRegion,
}

impl Rings {
    fn new(port: &Port) -> Self {
        let dma = port.dma();
        let rx = dma.allocate(N as usize * 16, true).unwrap();
        let tx = dma.allocate(N as usize * 16, true).unwrap();
        let bufs = dma.allocate(2 * N as usize * BUF, false).unwrap();
        // Like ixy (and Snabb): fill the rings with 0xFF.
        // SAFETY: both rings are live, N * 16 bytes long, and not yet given to the device.
        unsafe {
            std::ptr::write_bytes(rx.as_ptr(), 0xFF, rx.len());
            std::ptr::write_bytes(tx.as_ptr(), 0xFF, tx.len());
        }
        Rings { rx, tx, bufs }
    }

    /// Device address of the data area of buffer `i` (ixy: 64 bytes into a 2 KiB entry).
    fn buf(&self, i: usize) -> u64 {
        self.bufs.device_addr(i * BUF + 64).unwrap()
    }

    fn rx_desc(&self, i: u32) -> [u8; 16] {
        read16(&self.rx, i as usize * 16)
    }

    fn tx_desc(&self, i: u32) -> [u8; 16] {
        read16(&self.tx, i as usize * 16)
    }

    /// Writes RX descriptor `i` in the read format: buffer, header address 0 (clears DD).
    fn post_rx(&self, i: u32, buf: u64) {
        write64(
            &self.rx,
            i as usize * 16 + adv_rx_desc::to_device::PKT_ADDR_OFFSET,
            buf,
        );
        write64(
            &self.rx,
            i as usize * 16 + adv_rx_desc::to_device::HDR_ADDR_OFFSET,
            0,
        );
    }

    /// Copies `data` into buffer `b` and writes TX descriptor `i` as ixy does.
    fn post_tx(&self, i: u32, b: usize, data: &[u8]) {
        let off = b * BUF + 64;
        // SAFETY: the buffer region is live and `off + data.len()` lies inside it.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.bufs.as_ptr().add(off), data.len())
        };
        let len = data.len() as u32;
        let cmd = (adv_tx_desc::to_device::CMD_TYPE_LEN::DTALEN::val_checked(len).unwrap()
            + adv_tx_desc::to_device::CMD_TYPE_LEN::DTYP::DATA
            + adv_tx_desc::to_device::CMD_TYPE_LEN::EOP::SET
            + adv_tx_desc::to_device::CMD_TYPE_LEN::IFCS::SET
            + adv_tx_desc::to_device::CMD_TYPE_LEN::RS::SET
            + adv_tx_desc::to_device::CMD_TYPE_LEN::DEXT::SET)
            .value;
        let oli = adv_tx_desc::to_device::OLINFO_STATUS::PAYLEN::val_checked(len)
            .unwrap()
            .value;
        let d = i as usize * 16;
        write64(
            &self.tx,
            d + adv_tx_desc::to_device::BUFFER_ADDR_OFFSET,
            self.buf(b),
        );
        write32(
            &self.tx,
            d + adv_tx_desc::to_device::CMD_TYPE_LEN_OFFSET,
            cmd,
        );
        write32(
            &self.tx,
            d + adv_tx_desc::to_device::OLINFO_STATUS_OFFSET,
            oli,
        );
    }

    fn buffer_bytes(&self, b: usize, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        // SAFETY: the buffer region is live and the range lies inside it.
        unsafe {
            std::ptr::copy_nonoverlapping(self.bufs.as_ptr().add(b * BUF + 64), v.as_mut_ptr(), len)
        };
        v
    }
}

fn read16(r: &DmaRegion, off: usize) -> [u8; 16] {
    let mut d = [0u8; 16];
    // SAFETY: `off + 16` lies inside the live region; the model runs only inside our calls.
    unsafe { std::ptr::copy_nonoverlapping(r.as_ptr().add(off), d.as_mut_ptr(), 16) };
    d
}

fn write64(r: &DmaRegion, off: usize, v: u64) {
    // SAFETY: `off + 8` lies inside the live region, 8-byte aligned (descriptor fields).
    unsafe { r.as_ptr().add(off).cast::<u64>().write_volatile(v.to_le()) };
}

fn write32(r: &DmaRegion, off: usize, v: u32) {
    // SAFETY: `off + 4` lies inside the live region, 4-byte aligned.
    unsafe { r.as_ptr().add(off).cast::<u32>().write_volatile(v.to_le()) };
}

fn has(reports: &[Report], rule: &str, severity: Severity) -> bool {
    reports
        .iter()
        .any(|r| r.rule == rule && r.severity == severity)
}

fn errors_and_warnings(port: &Port) -> Vec<Report> {
    port.reports_at_least(Severity::Warn)
}

fn poll(mut done: impl FnMut() -> bool, what: &str) {
    for _ in 0..200 {
        if done() {
            return;
        }
        sleep(Duration::from_millis(1));
    }
    panic!("timed out waiting for {what}");
}

/// ixy's C init (research notes §1), mistakes included.
fn ixy_init(port: &Port, rings: &Rings) -> Registers<SimBar> {
    let bar = port.bar();
    let mut regs = Registers::new(bar.clone()).unwrap();
    // S1
    regs.eimc().set(0xFFFF_FFFF);
    regs.eicr().take();
    // S2: reset, polled at once (within 1 ms).
    regs.ctrl().write(CTRL::RST::SET + CTRL::LRST::SET);
    poll(
        || !regs.ctrl().is_set(CTRL::RST) && !regs.ctrl().is_set(CTRL::LRST),
        "reset",
    );
    sleep(Duration::from_millis(11));
    // S3
    regs.eimc().set(0xFFFF_FFFF);
    regs.eicr().take();
    // S4
    let _ = regs.ral_82598(ReceiveAddress16::at::<0>()).get();
    let _ = regs.rah_82598(ReceiveAddress16::at::<0>()).get();
    // S5, S6
    poll(|| regs.eec().is_set(EEC::ARD), "EEC.ARD");
    poll(|| regs.rdrxctl().is_set(RDRXCTL::DMAIDONE), "DMAIDONE");
    // S7
    regs.autoc().modify(AUTOC::LMS::SERIAL_10G);
    regs.autoc().modify(AUTOC::PMA_PMD_10G::XAUI);
    regs.autoc().modify(AUTOC::RESTART_AN::SET);
    // S8
    regs.gprc().take();
    regs.gptc().take();
    regs.gorcl().take();
    regs.gorch().take();
    regs.gotcl().take();
    regs.gotch().take();
    // S9 init_rx
    regs.rxctrl().modify(RXCTRL::RXEN::CLEAR);
    regs.rxpbsize(PacketBuffer::at::<0>())
        .write(RXPBSIZE::SIZE::value::<128>());
    for i in 1..8 {
        regs.rxpbsize(PacketBuffer::new(i).unwrap()).set(0);
    }
    regs.hlreg0().modify(HLREG0::RXCRCSTRP::SET);
    regs.rdrxctl().modify(RDRXCTL::CRCSTRIP::SET);
    regs.fctrl().modify(FCTRL::BAM::SET);
    let q16 = RxQueue16::at::<0>();
    regs.srrctl_82598(q16).modify(SRRCTL::DESCTYPE::ADV_ONE_BUF);
    regs.srrctl_82598(q16).modify(SRRCTL::DROP_EN::SET);
    let rx = rings.rx.device_addr(0).unwrap();
    regs.rdbal(Q0).set(rx as u32);
    regs.rdbah(Q0).set((rx >> 32) as u32);
    regs.rdlen(Q0).set(N * 16);
    bar.write_raw(regs.rdh(Q0).offset(), 0);
    regs.rdt(Q0).set(0);
    regs.ctrl_ext().modify(CTRL_EXT::NS_DIS::SET);
    regs.dca_rxctrl_82598(q16)
        .modify(DCA_RXCTRL::RESERVED_12::CLEAR);
    regs.rxctrl().modify(RXCTRL::RXEN::SET);
    // S10 init_tx
    regs.hlreg0()
        .modify(HLREG0::TXCRCEN::SET + HLREG0::TXPADEN::SET);
    regs.txpbsize(PacketBuffer::at::<0>())
        .write(TXPBSIZE::SIZE::value::<40>());
    for i in 1..8 {
        regs.txpbsize(PacketBuffer::new(i).unwrap()).set(0);
    }
    regs.dtxmxszrq().set(0xFFFF);
    regs.rttdcs().modify(RTTDCS::ARBDIS::CLEAR);
    let tx = rings.tx.device_addr(0).unwrap();
    regs.tdbal(T0).set(tx as u32);
    regs.tdbah(T0).set((tx >> 32) as u32);
    regs.tdlen(T0).set(N * 16);
    regs.txdctl(T0).modify(
        TXDCTL::PTHRESH::value::<36>()
            + TXDCTL::HTHRESH::value::<8>()
            + TXDCTL::WTHRESH::value::<4>(),
    );
    regs.dmatxctl().write(DMATXCTL::TE::SET);
    // S11 start_rx_queue (buffers from the top of the region, so that the last one handed over
    // ends with it)
    for i in 0..N {
        rings.post_rx(i, rings.buf(((N + 1 + i) % (2 * N)) as usize));
    }
    regs.rxdctl(Q0).modify(RXDCTL::ENABLE::SET);
    poll(|| regs.rxdctl(Q0).is_set(RXDCTL::ENABLE), "RXDCTL.ENABLE");
    bar.write_raw(regs.rdh(Q0).offset(), 0);
    regs.rdt(Q0).set(N - 1);
    // S12 start_tx_queue
    bar.write_raw(regs.tdh(T0).offset(), 0);
    regs.tdt(T0).set(0);
    regs.txdctl(T0).modify(TXDCTL::ENABLE::SET);
    poll(|| regs.txdctl(T0).is_set(TXDCTL::ENABLE), "TXDCTL.ENABLE");
    // S14 promiscuous mode, after RXEN.
    regs.fctrl().modify(FCTRL::MPE::SET + FCTRL::UPE::SET);
    // S15
    poll(|| regs.links().is_set(LINKS::LINK_UP), "link");
    regs
}

/// A datasheet-following init: DS 4.6.3 order, waits, handshakes.
fn clean_init(port: &Port, rings: &Rings, adv: bool, wthresh: u32) -> Registers<SimBar> {
    clean_init_with(port, rings, adv, wthresh, true)
}

fn clean_init_with(
    port: &Port,
    rings: &Rings,
    adv: bool,
    wthresh: u32,
    drop_en: bool,
) -> Registers<SimBar> {
    let mut regs = Registers::new(port.bar()).unwrap();
    regs.eimc().set(0x7FFF_FFFF);
    regs.eicr().take();
    regs.ctrl().write(CTRL::RST::SET + CTRL::LRST::SET);
    sleep(Duration::from_millis(2));
    poll(
        || !regs.ctrl().is_set(CTRL::RST) && !regs.ctrl().is_set(CTRL::LRST),
        "reset",
    );
    sleep(Duration::from_millis(11));
    regs.eimc().set(0x7FFF_FFFF);
    regs.eicr().take();
    poll(|| regs.eec().is_set(EEC::ARD), "EEC.ARD");
    poll(|| regs.rdrxctl().is_set(RDRXCTL::DMAIDONE), "DMAIDONE");
    regs.autoc()
        .modify(AUTOC::LMS::SERIAL_10G + AUTOC::PMA_PMD_10G::XAUI + AUTOC::RESTART_AN::SET);
    regs.gprc().take();
    regs.gptc().take();
    regs.gorcl().take();
    regs.gorch().take();
    regs.gotcl().take();
    regs.gotch().take();
    // RX (DS 4.6.7)
    regs.rxctrl().modify(RXCTRL::RXEN::CLEAR);
    regs.rdrxctl().modify(
        RDRXCTL::CRCSTRIP::SET
            + RDRXCTL::RSCFRSTSIZE::CLEAR
            + RDRXCTL::RSCACKC::SET
            + RDRXCTL::FCOE_WRFIX::SET,
    );
    regs.fctrl().modify(FCTRL::BAM::SET);
    let desctype = if adv {
        SRRCTL::DESCTYPE::ADV_ONE_BUF
    } else {
        SRRCTL::DESCTYPE::LEGACY
    };
    let drop = if drop_en {
        SRRCTL::DROP_EN::SET
    } else {
        SRRCTL::DROP_EN::CLEAR
    };
    regs.srrctl(Q0)
        .modify(desctype + drop + SRRCTL::BSIZEPACKET::value::<1>());
    let rx = rings.rx.device_addr(0).unwrap();
    regs.rdbal(Q0).set(rx as u32);
    regs.rdbah(Q0).set((rx >> 32) as u32);
    regs.rdlen(Q0).set(N * 16);
    regs.ctrl_ext().modify(CTRL_EXT::NS_DIS::SET);
    regs.dca_rxctrl(Q0).modify(DCA_RXCTRL::RESERVED_12::CLEAR);
    // TX (DS 4.6.8)
    regs.rttdcs().modify(RTTDCS::ARBDIS::SET);
    regs.rttdcs().modify(RTTDCS::ARBDIS::CLEAR);
    let tx = rings.tx.device_addr(0).unwrap();
    regs.tdbal(T0).set(tx as u32);
    regs.tdbah(T0).set((tx >> 32) as u32);
    regs.tdlen(T0).set(N * 16);
    regs.txdctl(T0).modify(
        TXDCTL::PTHRESH::value::<36>()
            + TXDCTL::HTHRESH::value::<8>()
            + TXDCTL::WTHRESH::val_checked(wthresh).unwrap(),
    );
    regs.dmatxctl().modify(DMATXCTL::TE::SET);
    // Queues
    for i in 0..N {
        if adv {
            rings.post_rx(i, rings.buf(i as usize));
        } else {
            write64(
                &rings.rx,
                i as usize * 16 + legacy_rx_desc::BUFFER_ADDR_OFFSET,
                rings.buf(i as usize),
            );
            write64(
                &rings.rx,
                i as usize * 16 + legacy_rx_desc::LENGTH_OFFSET,
                0,
            );
        }
    }
    regs.rxdctl(Q0).modify(RXDCTL::ENABLE::SET);
    poll(|| regs.rxdctl(Q0).is_set(RXDCTL::ENABLE), "RXDCTL.ENABLE");
    regs.rdt(Q0).set(N - 1);
    regs.tdt(T0).set(0);
    regs.txdctl(T0).modify(TXDCTL::ENABLE::SET);
    poll(|| regs.txdctl(T0).is_set(TXDCTL::ENABLE), "TXDCTL.ENABLE");
    regs.secrxctrl().modify(SECRXCTRL::RX_DIS::SET);
    poll(
        || regs.secrxstat().is_set(SECRXSTAT::SECRX_RDY),
        "SECRX_RDY",
    );
    regs.rxctrl().modify(RXCTRL::RXEN::SET);
    regs.secrxctrl().modify(SECRXCTRL::RX_DIS::CLEAR);
    poll(|| regs.links().is_set(LINKS::LINK_UP), "link");
    regs
}

#[test]
fn ixy_init_mistakes_are_reported() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let rings = Rings::new(&port);
    let _regs = ixy_init(&port, &rings);
    let r = port.reports();
    for line in &r {
        println!("{line}");
    }
    assert!(
        has(&r, "reserved-bits-written", Severity::Warn)
            && r.iter().any(|x| x.register == Some("EIMC")),
        "EIMC bit 31"
    );
    assert!(
        r.iter().any(|x| x.rule == "reserved-bits-written"
            && x.register == Some("DTXMXSZRQ")
            && x.value == Some(0xFFFF)),
        "DTXMXSZRQ 0xFFFF"
    );
    assert!(
        has(&r, "rdrxctl-rsc-bits", Severity::Warn),
        "RDRXCTL RSC bits"
    );
    assert!(
        r.iter()
            .any(|x| x.rule == "filter-changed-while-rxen" && x.register == Some("FCTRL")),
        "promisc after RXEN"
    );
    assert!(
        has(&r, "rxen-before-queues", Severity::Warn),
        "RXEN before queues"
    );
    assert!(
        has(&r, "head-written", Severity::Pedantic),
        "RDH written after ENABLE"
    );
    assert!(
        has(&r, "access-within-1ms-of-reset", Severity::Pedantic),
        "CTRL polled at once"
    );
    assert!(
        has(&r, "packet-buffer-size", Severity::Info),
        "RXPBSIZE/TXPBSIZE"
    );
    assert!(has(&r, "secrx-handshake-skipped", Severity::Info), "SECRX");
    // ixy's 2 KiB buffers with data at +64 and BSIZEPACKET = 2 KB: the last one runs past the
    // region (latent).
    assert!(
        has(&r, "rx-buffer-overrun-latent", Severity::Warn),
        "BSIZEPACKET latent overrun"
    );
    // No ERROR in ixy's init itself.
    assert!(
        r.iter().all(|x| x.severity != Severity::Error),
        "unexpected errors"
    );
}

#[test]
fn set_mac_clears_av_and_breaks_unicast() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let rings = Rings::new(&port);
    let regs = clean_init(&port, &rings, true, 0);
    port.clear_reports();
    // ixy's set_mac_addr: RAL then RAH = mac4 | mac5 << 8 (AV cleared).
    let mac = port.mac();
    let q = ReceiveAddress16::at::<0>();
    regs.ral_82598(q)
        .set(u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]));
    regs.rah_82598(q)
        .set(u32::from(mac[4]) | u32::from(mac[5]) << 8);
    let r = port.reports();
    assert!(has(&r, "rah0-av-cleared", Severity::Warn), "{r:#?}");
    assert!(
        r.iter()
            .any(|x| x.rule == "filter-changed-while-rxen" && x.register == Some("RAH_82598"))
    );
    assert!(!port.register(RegisterId::RAH, 0) & RAH::AV.mask << RAH::AV.shift != 0);
    // Functional failure: frames to the port's address are now filtered.
    port.inject_burst(3);
    world.step();
    assert_eq!(port.stats_snapshot().rx_filtered, 3);
    assert_eq!(port.stats_snapshot().rx_frames, 0);
}

#[test]
fn tail_before_enable_overrun_and_double_post() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let rings = Rings::new(&port);
    let regs = clean_init(&port, &rings, true, 0);
    assert!(
        errors_and_warnings(&port).is_empty(),
        "{:#?}",
        errors_and_warnings(&port)
    );

    // RDT = RDH: hands the ring back with zero descriptors (overrun rule).
    regs.rdt(Q0).set(0);
    assert!(has(&port.reports(), "tail-overrun", Severity::Error));
    port.clear_reports();

    // A tail bumped before ENABLE was read as 1 (queue 1).
    let q1 = RxQueue::at::<1>();
    let other = port.dma().allocate(N as usize * 16, true).unwrap();
    let a = other.device_addr(0).unwrap();
    regs.srrctl(q1).modify(SRRCTL::DESCTYPE::ADV_ONE_BUF);
    regs.rdbal(q1).set(a as u32);
    regs.rdbah(q1).set((a >> 32) as u32);
    regs.rdlen(q1).set(N * 16);
    regs.rxdctl(q1).modify(RXDCTL::ENABLE::SET);
    regs.rdt(q1).set(5);
    assert!(has(&port.reports(), "tail-before-enable", Severity::Error));
    port.clear_reports();

    // The same buffer posted twice: descriptor 0 already holds buffer 0 (from the overrun's
    // rebuild: the device owns nothing now, so hand over descriptors 0..2 with one buffer).
    rings.post_rx(0, rings.buf(7));
    rings.post_rx(1, rings.buf(7));
    regs.rdt(Q0).set(2);
    let r = port.reports();
    assert!(has(&r, "buffer-posted-twice", Severity::Error), "{r:#?}");

    // A garbage address (ixy's 0xFF fill) and a modified hardware-owned descriptor.
    port.clear_reports();
    write64(&rings.rx, 2 * 16, u64::MAX);
    regs.rdt(Q0).set(3);
    assert!(has(&port.reports(), "rx-buffer-address", Severity::Error));
    rings.post_rx(1, rings.buf(9));
    port.inject_burst(2);
    world.step();
    assert!(has(
        &port.reports(),
        "hw-descriptor-modified",
        Severity::Error
    ));
}

#[test]
fn clean_init_rx_into_ring_and_tx_to_sink() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let peer = world.add_port(PortConfig::default());
    let rings = Rings::new(&port);
    let mut regs = clean_init(&port, &rings, true, 0);
    let bad = errors_and_warnings(&port);
    assert!(bad.is_empty(), "clean init reported: {bad:#?}");

    let src = world.attach_source(
        &port,
        SourceConfig {
            pace: Pace::AsFastAsDescriptors,
            count: Some(100),
            ..SourceConfig::default()
        },
    );
    let sink = world.attach_sink(&port, 8);
    world.run_until_idle(100);
    assert_eq!(src.sent(), 100);
    assert_eq!(port.stats_snapshot().rx_frames, 100);
    assert_eq!(regs.rdh(Q0).get(), 100);
    // Byte by byte: the advanced write-back of a 60-byte UDP/IPv4 frame, CRC stripped.
    for i in 0..100u32 {
        let d = rings.rx_desc(i);
        let mut want = [0u8; 16];
        want[0..4].copy_from_slice(&((1u32 | 1 << 5) << 4).to_le_bytes()); // IPv4 + UDP
        want[8..12].copy_from_slice(&3u32.to_le_bytes()); // DD | EOP
        want[12..14].copy_from_slice(&60u16.to_le_bytes());
        assert_eq!(d, want, "descriptor {i}");
        let data = rings.buffer_bytes(i as usize, 60);
        assert_eq!(&data[0..6], &port.mac());
        assert_eq!(test_frame_seq(&data), Some(i));
    }
    assert_eq!(regs.gprc().take(), 100);
    assert_eq!(regs.gorcl().take(), 100 * 64);
    assert_eq!(regs.gorch().take(), 0);
    assert_eq!(regs.gprc().take(), 0, "clear on read");

    // TX: send two of the received frames back out.
    let frame = rings.buffer_bytes(3, 60);
    rings.post_tx(0, 600, &frame);
    rings.post_tx(1, 601, &frame[..42]);
    regs.tdt(T0).set(2);
    world.step();
    assert_eq!(sink.frames(), 2);
    let kept = sink.kept();
    assert_eq!(kept[0], frame);
    assert_eq!(kept[1].len(), 60, "padded to 60 bytes");
    assert_eq!(&kept[1][..42], &frame[..42]);
    assert_eq!(regs.tdh(T0).get(), 2);
    for i in 0..2 {
        let d = rings.tx_desc(i);
        assert_eq!(
            d[adv_tx_desc::written_back::STATUS_OFFSET] & 1,
            1,
            "DD on descriptor {i}"
        );
    }
    assert_eq!(regs.gptc().take(), 2);
    assert_eq!(regs.gotcl().take(), 128);
    drop(peer);
    assert!(
        errors_and_warnings(&port).is_empty(),
        "{:#?}",
        errors_and_warnings(&port)
    );
}

#[test]
fn legacy_descriptors_when_desctype_is_left_at_reset() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let rings = Rings::new(&port);
    let _regs = clean_init(&port, &rings, false, 0);
    port.inject_burst(1);
    world.step();
    let d = rings.rx_desc(0);
    assert_eq!(
        &d[0..8],
        &rings.buf(0).to_le_bytes(),
        "buffer address untouched"
    );
    assert_eq!(
        &d[legacy_rx_desc::LENGTH_OFFSET..][..2],
        &60u16.to_le_bytes()
    );
    assert_eq!(&d[legacy_rx_desc::CHECKSUM_OFFSET..][..2], &[0, 0]);
    assert_eq!(d[legacy_rx_desc::STATUS_OFFSET], 0x03, "DD | EOP");
    assert_eq!(d[legacy_rx_desc::ERRORS_OFFSET], 0);
    assert_eq!(&d[legacy_rx_desc::VLAN_OFFSET..][..2], &[0, 0]);
}

#[test]
fn wthresh_batches_writeback_and_burst_drops() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let rings = Rings::new(&port);
    let regs = clean_init(&port, &rings, true, 4);
    let sink = world.attach_sink(&port, 0);
    let frame = [0xAAu8; 60];
    for i in 0..3 {
        rings.post_tx(i, 600 + i as usize, &frame);
    }
    regs.tdt(T0).set(3);
    world.step();
    assert_eq!(sink.frames(), 3);
    assert!(
        (0..3).all(|i| rings.tx_desc(i)[adv_tx_desc::written_back::STATUS_OFFSET] & 1 == 0),
        "held below WTHRESH"
    );
    rings.post_tx(3, 603, &frame);
    regs.tdt(T0).set(4);
    world.step();
    assert!((0..4).all(|i| rings.tx_desc(i)[adv_tx_desc::written_back::STATUS_OFFSET] & 1 == 1));

    // A burst larger than the free descriptors with DROP_EN: QPRDC counts the rest.
    port.inject_burst(600);
    world.step();
    let s = port.stats_snapshot();
    assert_eq!(s.rx_frames, 511);
    assert_eq!(s.rx_dropped_no_desc, 89);
    assert_eq!(port.register(RegisterId::QPRDC, 0), 89);
}

#[test]
fn link_flap_stops_tx_and_raises_lsc() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let rings = Rings::new(&port);
    let mut regs = clean_init(&port, &rings, true, 0);
    let sink = world.attach_sink(&port, 0);
    regs.eicr().take();
    port.set_link(false);
    assert!(!regs.links().is_set(LINKS::LINK_UP));
    assert!(regs.eicr().take_local().is_set(EICR::LSC));
    rings.post_tx(0, 600, &[0x55; 60]);
    regs.tdt(T0).set(1);
    for _ in 0..5 {
        world.step();
    }
    assert_eq!(sink.frames(), 0);
    assert_eq!(regs.tdh(T0).get(), 0, "TDH frozen");
    port.inject_burst(4);
    world.step();
    assert_eq!(port.stats_snapshot().rx_lost_link_down, 4);
    port.set_link(true);
    world.step();
    assert!(regs.links().is_set(LINKS::LINK_UP));
    assert!(regs.eicr().take_local().is_set(EICR::LSC));
    world.step();
    assert_eq!(sink.frames(), 1);
    assert_eq!(regs.tdh(T0).get(), 1);
}

#[test]
fn surprise_removal_reads_all_ones() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let regs = Registers::new(port.bar()).unwrap();
    port.surprise_removal();
    assert_eq!(regs.ctrl().get(), 0xFFFF_FFFF);
    assert_eq!(regs.links().get(), 0xFFFF_FFFF);
    regs.ctrl().set(0);
    assert_eq!(regs.status().get(), 0xFFFF_FFFF);
}

#[test]
fn statistics_wrap_at_32_and_36_bits() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let rings = Rings::new(&port);
    let mut regs = clean_init(&port, &rings, true, 0);
    port.preload_stats(10);
    assert_eq!(port.register(RegisterId::GPRC, 0), u32::MAX - 9);
    assert_eq!(port.register(RegisterId::GORCH, 0), 0xF);
    port.inject_burst(20);
    world.step();
    assert_eq!(regs.gprc().take(), 10);
    // 2^36 - 10 + 20 * 64 wraps to 1270.
    assert_eq!(regs.gorcl().take(), 1270);
    assert_eq!(regs.gorch().take(), 0);
}

#[test]
fn never_completing_reset_keeps_rst_set() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    port.never_complete(Delayed::Reset);
    let regs = Registers::new(port.bar()).unwrap();
    regs.ctrl().write(CTRL::RST::SET);
    for _ in 0..50 {
        assert!(regs.ctrl().is_set(CTRL::RST));
        world.step();
    }
    port.allow_complete(Delayed::Reset);
    regs.ctrl().get();
    assert!(!regs.ctrl().is_set(CTRL::RST));
}

#[test]
fn two_ports_forward_over_a_link() {
    let world = World::new();
    let a = world.add_port(PortConfig::default());
    let b = world.add_port(PortConfig::default());
    world.connect(&a, &b);
    let ra = Rings::new(&a);
    let rb = Rings::new(&b);
    let regs_a = clean_init(&a, &ra, true, 0);
    let _regs_b = clean_init(&b, &rb, true, 0);
    let mut frame = vec![0u8; 60];
    frame[..6].copy_from_slice(&b.mac());
    ra.post_tx(0, 700, &frame);
    regs_a.tdt(T0).set(1);
    world.step();
    assert_eq!(b.stats_snapshot().rx_frames, 1);
    assert_eq!(rb.buffer_bytes(0, 60), frame);
    assert!(errors_and_warnings(&a).is_empty() && errors_and_warnings(&b).is_empty());
}

#[test]
fn without_drop_en_the_fifo_fills_and_mpc_counts() {
    let world = World::new();
    let port = world.add_port(PortConfig::default());
    let rings = Rings::new(&port);
    let mut regs = clean_init_with(&port, &rings, true, 0, false);
    // The whole ring is handed over (511); 64-byte frames: the 512 KB FIFO holds 8192 more.
    port.inject_burst(511 + 8192 + 10);
    world.step();
    let s = port.stats_snapshot();
    assert_eq!(s.rx_frames, 511);
    assert_eq!(s.rx_missed, 10);
    assert_eq!(regs.mpc(PacketBuffer::at::<0>()).take(), 10);
    // The driver gives 100 descriptors back: the FIFO drains into them on the next step.
    for i in 0..100 {
        rings.post_rx(i, rings.buf(i as usize));
    }
    regs.rdt(Q0).set(99);
    world.step();
    assert_eq!(port.stats_snapshot().rx_frames, 611);
    assert!(
        errors_and_warnings(&port).is_empty(),
        "{:#?}",
        errors_and_warnings(&port)
    );
}

#[test]
fn lazy_fetch_uses_the_rewritten_descriptor_and_reports_it() {
    let world = World::new();
    let port = world.add_port(PortConfig {
        fetch: rixy::sim::Fetch::Lazy,
        ..PortConfig::default()
    });
    let rings = Rings::new(&port);
    let _regs = clean_init(&port, &rings, true, 0);
    rings.post_rx(0, rings.buf(900));
    port.inject_burst(1);
    world.step();
    assert!(has(
        &port.reports(),
        "hw-descriptor-modified",
        Severity::Error
    ));
    assert_eq!(test_frame_seq(&rings.buffer_bytes(900, 60)), Some(0));
}

#[test]
fn realistic_timing_needs_wall_time() {
    let world = World::new();
    let port = world.add_port(PortConfig {
        timing: rixy::sim::Timing::Realistic,
        ..PortConfig::default()
    });
    let regs = Registers::new(port.bar()).unwrap();
    regs.ctrl().write(CTRL::RST::SET);
    assert!(
        regs.ctrl().is_set(CTRL::RST),
        "still resetting right after the write"
    );
    sleep(Duration::from_millis(2));
    assert!(!regs.ctrl().is_set(CTRL::RST), "done after 1 ms");
    assert!(
        !regs.eec().is_set(EEC::ARD),
        "EEPROM auto-read takes longer"
    );
    assert!(has(
        &port.reports(),
        "access-within-1ms-of-reset",
        Severity::Pedantic
    ));
}

/// A 60-byte frame from `src` to `dst` carrying `seq` (little-endian, after a local EtherType)
/// and a fill byte derived from it.
fn numbered_frame(dst: [u8; 6], src: [u8; 6], seq: u32) -> Vec<u8> {
    let mut f = vec![seq as u8 ^ 0x5A; 60];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&[0x88, 0xB5]);
    f[14..18].copy_from_slice(&seq.to_le_bytes());
    f
}

/// Issue 12 (multi-threaded forwarding against the model): the two ports of one world are
/// driven by two threads at once, each initialising its port and sending numbered frames to the
/// other in batches while receiving the other's, and a third thread steps the world all the
/// while. Every frame arrives once, in order and intact, the sinks count them independently of
/// the model, and the model reports nothing.
#[test]
fn two_threads_drive_two_ports_of_one_world() {
    use std::sync::Barrier;
    use std::thread;

    /// Fewer than the receive ring's free descriptors (N - 1), so nothing is dropped.
    const FRAMES: u32 = 400;
    const BATCH: u32 = 20;
    /// Polls before a thread gives up on the stepping thread (a hang guard, not a timing).
    const PATIENCE: u64 = 50_000_000;

    let world = World::new();
    let a = world.add_port(PortConfig::default());
    let b = world.add_port(PortConfig::default());
    world.connect(&a, &b);
    let sink_a = world.attach_sink(&a, 0);
    let sink_b = world.attach_sink(&b, 0);
    let ready = Barrier::new(2);

    let drive = |port: &Port, peer: &Port| {
        let rings = Rings::new(port);
        let regs = clean_init(port, &rings, true, 0);
        // Both ports receive before either sends.
        ready.wait();
        let mut polls = 0u64;
        let mut wait = |what: &str, done: &mut dyn FnMut() -> bool| {
            while !done() {
                polls += 1;
                assert!(polls < PATIENCE, "port {}: {what} never came", port.index());
                thread::yield_now();
            }
        };
        for start in (0..FRAMES).step_by(BATCH as usize) {
            let end = start + BATCH;
            for seq in start..end {
                let frame = numbered_frame(peer.mac(), port.mac(), seq);
                rings.post_tx(seq, (N + seq) as usize, &frame);
            }
            regs.tdt(T0).set(end);
            wait("the transmit head", &mut || regs.tdh(T0).get() == end);
        }
        wait("the last frame from the peer", &mut || {
            regs.rdh(Q0).get() == FRAMES
        });
        for seq in 0..FRAMES {
            let d = rings.rx_desc(seq);
            let status = u32::from_le_bytes(d[8..12].try_into().unwrap());
            assert_eq!(status & 3, 3, "port {}: DD and EOP on {seq}", port.index());
            assert_eq!(u16::from_le_bytes([d[12], d[13]]), 60);
            assert_eq!(
                rings.buffer_bytes(seq as usize, 60),
                numbered_frame(port.mac(), peer.mac(), seq),
                "port {}: frame {seq}",
                port.index()
            );
        }
    };

    let mut steps = 0u64;
    thread::scope(|s| {
        let ta = s.spawn(|| drive(&a, &b));
        let tb = s.spawn(|| drive(&b, &a));
        while !(ta.is_finished() && tb.is_finished()) {
            world.step();
            steps += 1;
            thread::yield_now();
        }
        ta.join().expect("port 0's thread");
        tb.join().expect("port 1's thread");
    });
    assert!(steps > 0);
    for (port, sink) in [(&a, &sink_a), (&b, &sink_b)] {
        assert_eq!(sink.frames(), u64::from(FRAMES), "port {}", port.index());
        let c = port.stats_snapshot();
        let want = u64::from(FRAMES);
        assert_eq!(
            (c.tx_frames, c.rx_frames),
            (want, want),
            "port {}",
            port.index()
        );
        let bad = errors_and_warnings(port);
        assert!(bad.is_empty(), "port {}: {bad:#?}", port.index());
    }
}
