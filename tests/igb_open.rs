//! `rixy::open` picks the 82576 driver for the 82576 family's device ids: the driver's own
//! configuration checks answer before anything is unbound. The PCI devices live in a fake sysfs
//! tree in a temporary directory; nothing here touches the real /sys.

use std::time::Duration;

mod common;

use common::FakeSysfs;
use rixy::{Config, Error};

const ADDR: &str = "0000:05:00.0";

fn fake(device: u16) -> (FakeSysfs, Config) {
    let sysfs = FakeSysfs::new();
    sysfs.add(ADDR, 0x8086, device, 0x02);
    sysfs.bind(ADDR, "kdrv");
    let config = Config {
        sysfs_root: sysfs.root(),
        hugepage_dir: sysfs.dir().join("no-hugetlbfs"),
        link_timeout: Duration::from_millis(10),
        ..Config::default()
    };
    (sysfs, config)
}

fn open_err(config: &Config) -> Error {
    match rixy::open(ADDR, config) {
        Ok(dev) => panic!("{ADDR} opened as {}", dev.name()),
        Err(e) => e,
    }
}

#[test]
fn every_82576_id_reaches_the_igb_driver_and_keeps_its_kernel_driver_on_bad_config() {
    for &device in rixy::igb::DEVICE_IDS {
        let (sysfs, config) = fake(device);
        // A buffer too small for a full frame after the headroom: refused with the 82576's
        // own sizes, before the unbind.
        let err = open_err(&Config {
            buffer_size: 1024,
            ..config.clone()
        });
        assert!(
            matches!(&err, Error::InvalidConfig { problem } if problem.contains("82576")),
            "{device:#x}: {err}"
        );
        // A good configuration gets as far as the huge pages this machine lacks.
        let err = open_err(&config);
        assert!(
            matches!(err, Error::HugetlbfsNotMounted { .. }),
            "{device:#x}: {err}"
        );
        assert_eq!(
            sysfs.unbound("kdrv"),
            "",
            "{device:#x}: nothing was unbound"
        );
    }
}

#[test]
fn the_82576_virtual_function_is_not_taken_for_the_82576() {
    // 8086:10ca is the 82576's SR-IOV virtual function (igbvf): another register map.
    let (sysfs, config) = fake(0x10ca);
    let err = open_err(&config);
    assert!(
        matches!(err, Error::UnsupportedDevice { device: 0x10ca, .. }),
        "{err}"
    );
    assert_eq!(sysfs.unbound("kdrv"), "");
}
