//! `rixy::open` and `Config` against bad input: every refusal is a specific error, and nothing
//! is lost on the way (a device rixy does not drive keeps its kernel driver). The PCI devices
//! live in a fake sysfs tree in a temporary directory; nothing here touches the real /sys.

use std::time::Duration;

mod common;

use common::FakeSysfs;
use rixy::{Config, Error};

const ADDR: &str = "0000:05:00.0";

/// A device with the given ids and class, bound to a kernel driver `kdrv`, in a fake sysfs tree.
struct FakePci(FakeSysfs);

impl FakePci {
    fn new(vendor: u16, device: u16, class: u8) -> Self {
        let sysfs = FakeSysfs::new();
        sysfs.add(ADDR, vendor, device, class);
        sysfs.bind(ADDR, "kdrv");
        Self(sysfs)
    }

    fn config(&self) -> Config {
        Config {
            sysfs_root: self.0.root(),
            hugepage_dir: self.0.dir().join("no-hugetlbfs"),
            link_timeout: Duration::from_millis(10),
            ..Config::default()
        }
    }

    fn unbound(&self) -> String {
        self.0.unbound("kdrv")
    }
}

fn open_err(address: &str, config: &Config) -> Error {
    match rixy::open(address, config) {
        Ok(dev) => panic!("{address} opened as {}", dev.name()),
        Err(e) => e,
    }
}

#[test]
fn a_malformed_address_is_refused_before_anything_is_touched() {
    let fake = FakePci::new(0x8086, 0x10fb, 0x02);
    let err = open_err("05:00", &fake.config());
    assert!(matches!(err, Error::InvalidPciAddress { .. }), "{err}");
    assert_eq!(fake.unbound(), "");
}

#[test]
fn an_absent_device_is_named() {
    let fake = FakePci::new(0x8086, 0x10fb, 0x02);
    let err = open_err("0000:06:00.0", &fake.config());
    assert!(matches!(err, Error::NoSuchPciDevice { .. }), "{err}");
    assert!(err.to_string().contains("0000:06:00.0"), "{err}");
}

#[test]
fn a_device_that_is_not_a_nic_keeps_its_driver() {
    let fake = FakePci::new(0x8086, 0x10fb, 0x01); // mass storage
    let err = open_err(ADDR, &fake.config());
    assert!(matches!(err, Error::NotANetworkDevice { .. }), "{err}");
    assert_eq!(fake.unbound(), "", "nothing was unbound");
}

#[test]
fn a_nic_without_a_rixy_driver_keeps_its_driver() {
    let fake = FakePci::new(0x10ec, 0x8168, 0x02); // a Realtek NIC
    let err = open_err(ADDR, &fake.config());
    assert!(
        matches!(
            err,
            Error::UnsupportedDevice {
                vendor: 0x10ec,
                device: 0x8168,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("10ec:8168"), "{err}");
    assert_eq!(fake.unbound(), "", "nothing was unbound");
}

#[test]
fn without_huge_pages_the_device_keeps_its_driver() {
    let fake = FakePci::new(0x8086, 0x10fb, 0x02);
    let err = open_err(ADDR, &fake.config());
    assert!(matches!(err, Error::HugetlbfsNotMounted { .. }), "{err}");
    assert!(err.to_string().contains("ci/setup-hugepages"), "{err}");
    assert_eq!(fake.unbound(), "", "nothing was unbound");
    assert_eq!(fake.0.bound("kdrv"), "", "nor bound");
}

#[test]
fn a_buffer_size_the_driver_refuses_is_refused_before_the_unbind() {
    for (vendor, device, size) in [(0x8086, 0x10fb, 2048), (0x1af4, 0x1000, 1024)] {
        let fake = FakePci::new(vendor, device, 0x02);
        let config = Config {
            buffer_size: size,
            ..fake.config()
        };
        let err = open_err(ADDR, &config);
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
        assert!(err.to_string().contains("use "), "{err}");
        assert_eq!(fake.unbound(), "", "nothing was unbound");
    }
}

#[test]
fn configurations_that_cannot_work_are_refused_with_what_to_change() {
    let bad = |change: fn(&mut Config)| {
        let mut c = Config::default();
        change(&mut c);
        c.validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(bad(|c| c.rx_queues = 0).contains("at least one"));
    assert!(bad(|c| c.tx_ring_size = 100).contains("100"));
    assert!(bad(|c| c.rx_ring_size = 8192).contains("8192"));
    assert!(bad(|c| c.mempool_size = 100).contains("at least the ring size"));
    assert!(Config::default().validate().is_ok());
}

#[test]
fn mac_addresses_parse_and_print() {
    let mac: rixy::MacAddress = "52:54:00:12:34:5f".parse().unwrap();
    assert_eq!(mac.0, [0x52, 0x54, 0x00, 0x12, 0x34, 0x5f]);
    assert_eq!(mac.to_string(), "52:54:00:12:34:5f");
    for bad in [
        "52:54:00:12:34",
        "52:54:00:12:34:5f:00",
        "52-54-00-12-34-5f",
        "5:54:00:12:34:5f",
        "zz:54:00:12:34:5f",
    ] {
        assert!(bad.parse::<rixy::MacAddress>().is_err(), "{bad}");
    }
}

/// The SRRCTL.BSIZEPACKET a simulated 82599 port was opened with (receive queue 0), or the
/// error that refused the configuration.
fn sim_bsizepacket(buffer_size: usize) -> Result<u32, Error> {
    use rixy::regs::ixgbe::{Registers, RxQueue, SRRCTL};
    use tock_registers::interfaces::Readable;
    let world = rixy::sim::World::new();
    let port = world.add_port(rixy::sim::PortConfig::default());
    let config = Config {
        buffer_size,
        link_timeout: Duration::ZERO,
        ..Config::default()
    };
    let dev = rixy::Device::on_sim_port("p", &world, &port, &config)?;
    let regs = Registers::new(port.bar())?;
    let bsize = regs.srrctl(RxQueue::at::<0>()).read(SRRCTL::BSIZEPACKET);
    drop(dev);
    Ok(bsize)
}

/// 82599 datasheet 8.2.3.8.7: BSIZEPACKET gives the receive buffer in 1 KB units, "from 1 KB to
/// 16 KB". Every size the driver accepts must program a value in that range that fits the
/// buffer after the 64-byte headroom and holds a 1522-byte frame; every other size is refused
/// with an error that names the sizes that work, and each size it names opens.
#[test]
fn the_82599_takes_exactly_the_buffer_sizes_its_error_names() {
    for size in [4096usize, 8192, 16384] {
        let kb = sim_bsizepacket(size).unwrap_or_else(|e| panic!("{size}: {e}")) as usize;
        assert!((1..=16).contains(&kb), "{size}: BSIZEPACKET {kb}");
        assert!(
            kb * 1024 <= size - 64,
            "{size}: BSIZEPACKET {kb} overruns the buffer"
        );
        assert!(
            kb * 1024 >= 1522,
            "{size}: BSIZEPACKET {kb} cannot hold a frame"
        );
    }
    for size in [32768usize, 65536, 1 << 21, 2048, 1024, 3000] {
        let err = match sim_bsizepacket(size) {
            Ok(kb) => panic!("buffer size {size} opened with BSIZEPACKET {kb}"),
            Err(e) => e,
        };
        assert!(matches!(err, Error::InvalidConfig { .. }), "{size}: {err}");
        let msg = err.to_string();
        assert!(msg.contains(&size.to_string()), "{msg}");
        assert!(msg.contains("use 4096, 8192 or 16384"), "{msg}");
    }
}

/// What `Config::validate` says about buffer sizes cannot contradict a driver: it leaves them
/// to the driver's own rule, and `rixy::open` of a simulated port refuses 2048 with the sizes
/// the 82599 takes.
#[test]
fn buffer_size_advice_names_sizes_the_driver_takes() {
    let config = Config {
        buffer_size: 2048,
        ..Config::default()
    };
    if let Err(e) = config.validate() {
        panic!("validate refused a size some driver takes: {e}");
    }
    let err = open_err("sim:7", &config);
    assert!(err.to_string().contains("use 4096, 8192 or 16384"), "{err}");
    for (sizes, good, bad) in [
        (&rixy::ixgbe::BUFFER_SIZES, 4096, 2048),
        (&rixy::virtio::BUFFER_SIZES, 2048, 1024),
    ] {
        let with = |buffer_size| Config {
            buffer_size,
            ..Config::default()
        };
        assert!(with(good).validate_for(sizes).is_ok());
        let msg = with(bad).validate_for(sizes).unwrap_err().to_string();
        assert!(msg.contains(sizes.driver), "{msg}");
    }
}
