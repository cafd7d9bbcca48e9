//! VFIO without a device: the uapi declarations against the installed kernel header, the
//! IOMMU capability-chain parser, IOMMU groups and their blockers in a fake sysfs tree, and the
//! error of each bad input on the way into `rixy::open` (fake `/dev/vfio` files; unprivileged
//! cases run as user nobody in a child process). Nothing here touches the real /sys or
//! /dev/vfio. The VFIO path with a device is proven in the QEMU guest.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::FakeSysfs;
use rixy::pci::PciDevice;
use rixy::pci::vfio::{self, uapi};
use rixy::{Config, Error};

const ADDR: &str = "0000:00:04.0";
const INTEL: u16 = 0x8086;
const X520: u16 = 0x10fb;
const VIRTIO: u16 = 0x1af4;
const LEGACY_NET: u16 = 0x1000;

/// A fake tree with a NIC at [`ADDR`] bound to vfio-pci, in IOMMU group `group` (if some) with
/// the devices `others` (address, driver), and an empty fake /dev/vfio.
struct Fake {
    sysfs: FakeSysfs,
    config: Config,
}

impl Fake {
    fn new(vendor: u16, device: u16, group: Option<u32>, others: &[(&str, &str)]) -> Fake {
        let sysfs = FakeSysfs::new();
        sysfs.add(ADDR, vendor, device, 0x02);
        sysfs.bind(ADDR, "vfio-pci");
        if let Some(group) = group {
            let dir = sysfs.dir().join(format!("kernel/iommu_groups/{group}"));
            std::fs::create_dir_all(dir.join("devices")).unwrap();
            let mut members = vec![(ADDR, "vfio-pci")];
            members.extend_from_slice(others);
            for (address, driver) in members {
                if address != ADDR {
                    sysfs.add(address, 0x8086, 0x2922, 0x01);
                    if !driver.is_empty() {
                        sysfs.bind(address, driver);
                    }
                }
                let dev = sysfs.root().join(address);
                std::os::unix::fs::symlink(&dev, dir.join("devices").join(address)).unwrap();
                std::os::unix::fs::symlink(&dir, dev.join("iommu_group")).unwrap();
            }
        }
        let vfio_dir = sysfs.dir().join("dev-vfio");
        std::fs::create_dir(&vfio_dir).unwrap();
        std::fs::set_permissions(&vfio_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = Config {
            sysfs_root: sysfs.root(),
            vfio_dir,
            hugepage_dir: sysfs.dir().join("no-hugetlbfs"),
            link_timeout: std::time::Duration::ZERO,
            ..Config::default()
        };
        Fake { sysfs, config }
    }

    /// Creates fake `/dev/vfio/NAME` (a plain file, root's, mode `mode`).
    fn vfio_file(&self, name: &str, mode: u32) -> PathBuf {
        let path = self.config.vfio_dir.join(name);
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn open_err(&self) -> Error {
        match rixy::open(ADDR, &self.config) {
            Ok(dev) => panic!("{} opened", dev.name()),
            Err(e) => e,
        }
    }
}

#[test]
fn uapi_matches_the_installed_kernel_header() {
    let header = Path::new("/usr/include/linux/vfio.h");
    if !header.exists() || Command::new("cc").arg("--version").output().is_err() {
        println!("skipped: no C compiler or no {}", header.display());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("sizes.c");
    let names = [
        "vfio_group_status",
        "vfio_device_info",
        "vfio_region_info",
        "vfio_irq_info",
        "vfio_irq_set",
        "vfio_iommu_type1_info",
        "vfio_info_cap_header",
        "vfio_iommu_type1_info_cap_iova_range",
        "vfio_iova_range",
        "vfio_iommu_type1_dma_map",
        "vfio_iommu_type1_dma_unmap",
    ];
    let constants = [
        "VFIO_GET_API_VERSION",
        "VFIO_CHECK_EXTENSION",
        "VFIO_SET_IOMMU",
        "VFIO_GROUP_GET_STATUS",
        "VFIO_GROUP_SET_CONTAINER",
        "VFIO_GROUP_GET_DEVICE_FD",
        "VFIO_DEVICE_GET_INFO",
        "VFIO_DEVICE_GET_REGION_INFO",
        "VFIO_DEVICE_GET_IRQ_INFO",
        "VFIO_DEVICE_SET_IRQS",
        "VFIO_IOMMU_GET_INFO",
        "VFIO_IOMMU_MAP_DMA",
        "VFIO_IOMMU_UNMAP_DMA",
        "VFIO_API_VERSION",
        "VFIO_TYPE1_IOMMU",
        "VFIO_TYPE1v2_IOMMU",
        "VFIO_GROUP_FLAGS_VIABLE",
        "VFIO_DEVICE_FLAGS_PCI",
        "VFIO_REGION_INFO_FLAG_READ",
        "VFIO_REGION_INFO_FLAG_WRITE",
        "VFIO_REGION_INFO_FLAG_MMAP",
        "VFIO_IRQ_INFO_EVENTFD",
        "VFIO_IRQ_SET_DATA_NONE",
        "VFIO_IRQ_SET_DATA_EVENTFD",
        "VFIO_IRQ_SET_ACTION_TRIGGER",
        "VFIO_IOMMU_INFO_PGSIZES",
        "VFIO_IOMMU_INFO_CAPS",
        "VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE",
        "VFIO_DMA_MAP_FLAG_READ",
        "VFIO_DMA_MAP_FLAG_WRITE",
        "VFIO_PCI_CONFIG_REGION_INDEX",
        "VFIO_PCI_MSIX_IRQ_INDEX",
    ];
    let mut c = String::from("#include <stdio.h>\n#include <linux/vfio.h>\nint main(void) {\n");
    for n in names {
        c += &format!("printf(\"{n} %zu\\n\", sizeof(struct {n}));\n");
    }
    for n in constants {
        c += &format!("printf(\"{n} %llu\\n\", (unsigned long long)({n}));\n");
    }
    c += "return 0; }\n";
    std::fs::write(&source, c).unwrap();
    let exe = tmp.path().join("sizes");
    let status = Command::new("cc")
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap();
    assert!(status.success(), "the header's program did not compile");
    let out = String::from_utf8(Command::new(&exe).output().unwrap().stdout).unwrap();
    use std::mem::size_of;
    let ours: Vec<(&str, u64)> = vec![
        (
            "vfio_group_status",
            size_of::<uapi::vfio_group_status>() as u64,
        ),
        (
            "vfio_device_info",
            size_of::<uapi::vfio_device_info>() as u64,
        ),
        (
            "vfio_region_info",
            size_of::<uapi::vfio_region_info>() as u64,
        ),
        ("vfio_irq_info", size_of::<uapi::vfio_irq_info>() as u64),
        ("vfio_irq_set", size_of::<uapi::vfio_irq_set>() as u64),
        (
            "vfio_iommu_type1_info",
            size_of::<uapi::vfio_iommu_type1_info>() as u64,
        ),
        (
            "vfio_info_cap_header",
            size_of::<uapi::vfio_info_cap_header>() as u64,
        ),
        (
            "vfio_iommu_type1_info_cap_iova_range",
            size_of::<uapi::vfio_iommu_type1_info_cap_iova_range>() as u64,
        ),
        ("vfio_iova_range", size_of::<uapi::vfio_iova_range>() as u64),
        (
            "vfio_iommu_type1_dma_map",
            size_of::<uapi::vfio_iommu_type1_dma_map>() as u64,
        ),
        (
            "vfio_iommu_type1_dma_unmap",
            size_of::<uapi::vfio_iommu_type1_dma_unmap>() as u64,
        ),
        ("VFIO_GET_API_VERSION", uapi::VFIO_GET_API_VERSION),
        ("VFIO_CHECK_EXTENSION", uapi::VFIO_CHECK_EXTENSION),
        ("VFIO_SET_IOMMU", uapi::VFIO_SET_IOMMU),
        ("VFIO_GROUP_GET_STATUS", uapi::VFIO_GROUP_GET_STATUS),
        ("VFIO_GROUP_SET_CONTAINER", uapi::VFIO_GROUP_SET_CONTAINER),
        ("VFIO_GROUP_GET_DEVICE_FD", uapi::VFIO_GROUP_GET_DEVICE_FD),
        ("VFIO_DEVICE_GET_INFO", uapi::VFIO_DEVICE_GET_INFO),
        (
            "VFIO_DEVICE_GET_REGION_INFO",
            uapi::VFIO_DEVICE_GET_REGION_INFO,
        ),
        ("VFIO_DEVICE_GET_IRQ_INFO", uapi::VFIO_DEVICE_GET_IRQ_INFO),
        ("VFIO_DEVICE_SET_IRQS", uapi::VFIO_DEVICE_SET_IRQS),
        ("VFIO_IOMMU_GET_INFO", uapi::VFIO_IOMMU_GET_INFO),
        ("VFIO_IOMMU_MAP_DMA", uapi::VFIO_IOMMU_MAP_DMA),
        ("VFIO_IOMMU_UNMAP_DMA", uapi::VFIO_IOMMU_UNMAP_DMA),
        ("VFIO_API_VERSION", uapi::VFIO_API_VERSION as u64),
        ("VFIO_TYPE1_IOMMU", uapi::VFIO_TYPE1_IOMMU),
        ("VFIO_TYPE1v2_IOMMU", uapi::VFIO_TYPE1v2_IOMMU),
        (
            "VFIO_GROUP_FLAGS_VIABLE",
            uapi::VFIO_GROUP_FLAGS_VIABLE.into(),
        ),
        ("VFIO_DEVICE_FLAGS_PCI", uapi::VFIO_DEVICE_FLAGS_PCI.into()),
        (
            "VFIO_REGION_INFO_FLAG_READ",
            uapi::VFIO_REGION_INFO_FLAG_READ.into(),
        ),
        (
            "VFIO_REGION_INFO_FLAG_WRITE",
            uapi::VFIO_REGION_INFO_FLAG_WRITE.into(),
        ),
        (
            "VFIO_REGION_INFO_FLAG_MMAP",
            uapi::VFIO_REGION_INFO_FLAG_MMAP.into(),
        ),
        ("VFIO_IRQ_INFO_EVENTFD", uapi::VFIO_IRQ_INFO_EVENTFD.into()),
        (
            "VFIO_IRQ_SET_DATA_NONE",
            uapi::VFIO_IRQ_SET_DATA_NONE.into(),
        ),
        (
            "VFIO_IRQ_SET_DATA_EVENTFD",
            uapi::VFIO_IRQ_SET_DATA_EVENTFD.into(),
        ),
        (
            "VFIO_IRQ_SET_ACTION_TRIGGER",
            uapi::VFIO_IRQ_SET_ACTION_TRIGGER.into(),
        ),
        (
            "VFIO_IOMMU_INFO_PGSIZES",
            uapi::VFIO_IOMMU_INFO_PGSIZES.into(),
        ),
        ("VFIO_IOMMU_INFO_CAPS", uapi::VFIO_IOMMU_INFO_CAPS.into()),
        (
            "VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE",
            uapi::VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE.into(),
        ),
        (
            "VFIO_DMA_MAP_FLAG_READ",
            uapi::VFIO_DMA_MAP_FLAG_READ.into(),
        ),
        (
            "VFIO_DMA_MAP_FLAG_WRITE",
            uapi::VFIO_DMA_MAP_FLAG_WRITE.into(),
        ),
        (
            "VFIO_PCI_CONFIG_REGION_INDEX",
            uapi::VFIO_PCI_CONFIG_REGION_INDEX.into(),
        ),
        (
            "VFIO_PCI_MSIX_IRQ_INDEX",
            uapi::VFIO_PCI_MSIX_IRQ_INDEX.into(),
        ),
    ];
    let theirs: Vec<(String, u64)> = out
        .lines()
        .map(|line| {
            let (name, value) = line.split_once(' ').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect();
    assert_eq!(theirs.len(), ours.len());
    for ((name, value), (their_name, their_value)) in ours.iter().zip(&theirs) {
        assert_eq!(name, their_name);
        assert_eq!(
            value, their_value,
            "{name}: rixy says {value:#x}, the header {their_value:#x}"
        );
    }
}

/// A `VFIO_IOMMU_GET_INFO` answer: the 24-byte fixed part, then the capabilities `caps` as
/// `(offset, id, next, body)`.
fn info_answer(len: usize, caps: &[(usize, u16, u32, Vec<u8>)]) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    for (offset, id, next, body) in caps {
        buf[*offset..offset + 2].copy_from_slice(&id.to_ne_bytes());
        buf[offset + 2..offset + 4].copy_from_slice(&1u16.to_ne_bytes());
        buf[offset + 4..offset + 8].copy_from_slice(&next.to_ne_bytes());
        buf[offset + 8..offset + 8 + body.len()].copy_from_slice(body);
    }
    buf
}

fn iova_body(ranges: &[(u64, u64)], claimed: u32) -> Vec<u8> {
    let mut body = claimed.to_ne_bytes().to_vec();
    body.extend_from_slice(&0u32.to_ne_bytes());
    for (start, end) in ranges {
        body.extend_from_slice(&start.to_ne_bytes());
        body.extend_from_slice(&end.to_ne_bytes());
    }
    body
}

#[test]
fn the_iova_ranges_are_found_along_the_capability_chain() {
    let qemu = [(0, 0xfedf_ffff), (0xfef0_0000, 0x7f_ffff_ffff)];
    // A DMA-available capability (id 3) first, then the ranges.
    let buf = info_answer(
        24 + 16 + 48,
        &[
            (24, 3, 40, 7u32.to_ne_bytes().to_vec()),
            (40, 1, 0, iova_body(&qemu, 2)),
        ],
    );
    assert_eq!(
        vfio::parse_iova_ranges(&buf, 24).unwrap(),
        Some(qemu.to_vec())
    );
    // No IOVA-range capability, or no capabilities at all.
    let only_other = info_answer(40, &[(24, 3, 0, 7u32.to_ne_bytes().to_vec())]);
    assert_eq!(vfio::parse_iova_ranges(&only_other, 24).unwrap(), None);
    assert_eq!(vfio::parse_iova_ranges(&buf, 0).unwrap(), None);
}

#[test]
fn a_broken_capability_chain_is_an_error_not_a_hang() {
    let bad = |buf: &[u8], at: u32, needle: &str| {
        let err = vfio::parse_iova_ranges(buf, at).unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    };
    // A capability pointing back at itself.
    let looped = info_answer(40, &[(24, 3, 24, vec![])]);
    bad(&looped, 24, "points back to offset 24");
    // Outside the answer, or inside its fixed part.
    bad(&looped, 400, "outside the 40-byte answer");
    bad(&looped, 8, "outside");
    // More ranges claimed than the answer holds.
    let short = info_answer(24 + 16 + 16, &[(24, 1, 0, iova_body(&[(0, 1)], 5))]);
    bad(&short, 24, "lists 5 ranges");
}

#[test]
fn iommu_groups_come_from_the_sysfs_link() {
    let fake = Fake::new(INTEL, X520, Some(12), &[]);
    let dev = PciDevice::open_in(fake.sysfs.root(), ADDR.parse().unwrap()).unwrap();
    assert_eq!(vfio::iommu_group(dev.dir(), dev.address()).unwrap(), 12);
    // A link that names no number.
    let odd = FakeSysfs::new();
    let dir = odd.add(ADDR, INTEL, X520, 0x02);
    std::os::unix::fs::symlink("../../kernel/iommu_groups/x", dir.join("iommu_group")).unwrap();
    let err = vfio::iommu_group(&dir, ADDR.parse().unwrap()).unwrap_err();
    assert!(
        err.to_string()
            .contains("points to ../../kernel/iommu_groups/x"),
        "{err}"
    );
}

#[test]
fn a_group_is_blocked_by_the_devices_bound_to_host_drivers() {
    let fake = Fake::new(
        INTEL,
        X520,
        Some(3),
        &[
            ("0000:00:1f.2", "ahci"),
            ("0000:00:1f.0", "vfio-pci"),
            ("0000:00:1f.3", ""),
            ("0000:00:1f.4", "i801_smbus"),
        ],
    );
    let dev = PciDevice::open_in(fake.sysfs.root(), ADDR.parse().unwrap()).unwrap();
    assert_eq!(
        vfio::group_blockers(&dev),
        ["0000:00:1f.2 (ahci)", "0000:00:1f.4 (i801_smbus)"]
    );
    let msg = Error::VfioGroupNotViable {
        address: dev.address(),
        group: 3,
        others: vfio::group_blockers(&dev),
    }
    .to_string();
    assert!(
        msg.contains(
            "IOMMU group 3 of 0000:00:04.0 is not viable: other devices in it are bound to host drivers (0000:00:1f.2 (ahci), 0000:00:1f.4 (i801_smbus)); bind each of them to vfio-pci"
        ),
        "{msg}"
    );
}

#[test]
fn a_vfio_device_without_an_iommu_group_says_to_turn_the_iommu_on() {
    let fake = Fake::new(INTEL, X520, None, &[]);
    let err = fake.open_err();
    assert!(matches!(err, Error::NoIommuGroup { .. }), "{err}");
    assert!(err.to_string().contains("intel-iommu,intremap=on"), "{err}");
    // Nothing was unbound: the device stays with vfio-pci.
    assert_eq!(fake.sysfs.unbound("vfio-pci"), "");
}

#[test]
fn a_missing_group_file_says_to_bind_the_device() {
    let fake = Fake::new(INTEL, X520, Some(7), &[]);
    let err = fake.open_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::VfioFileMissing { .. }), "{msg}");
    assert!(msg.contains("dev-vfio/7 does not exist"), "{msg}");
    assert!(msg.contains("ci/vfio-bind 0000:00:04.0 USER"), "{msg}");
}

#[test]
fn a_missing_container_says_to_load_vfio() {
    let fake = Fake::new(INTEL, X520, Some(7), &[]);
    fake.vfio_file("7", 0o600);
    let err = fake.open_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::VfioFileMissing { .. }), "{msg}");
    assert!(msg.contains("dev-vfio/vfio does not exist"), "{msg}");
    assert!(msg.contains("modprobe vfio-pci"), "{msg}");
}

#[test]
fn a_container_that_is_not_vfio_is_refused() {
    let fake = Fake::new(INTEL, X520, Some(7), &[]);
    fake.vfio_file("7", 0o600);
    fake.vfio_file("vfio", 0o666);
    let err = fake.open_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            Error::Vfio {
                what: "VFIO_GET_API_VERSION",
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("is this the VFIO container device"), "{msg}");
}

#[test]
fn a_memlock_limit_too_low_names_the_number_needed() {
    let enomem = || std::io::Error::from_raw_os_error(libc::ENOMEM);
    let err = vfio::map_error(0x1_0000_0000, 2 << 20, 6 << 20, 7 << 20, enomem());
    let msg = err.to_string();
    assert!(matches!(err, Error::MemlockTooLow { .. }), "{msg}");
    assert!(
        msg.starts_with("the IOMMU mapping of 2097152 bytes was refused: the locked-memory limit (RLIMIT_MEMLOCK) is 7340032 bytes and rixy needs at least 8388608 bytes locked (6291456 mapped already); raise it to at least 8388608 bytes (`ulimit -l 8192`"),
        "{msg}"
    );
    let err = vfio::map_error(0x1_0000_0000, 4 << 20, 6 << 20, 8 << 20, enomem());
    assert!(
        err.to_string().contains("needs at least 10485760 bytes")
            && err.to_string().contains("`ulimit -l 10240`"),
        "{err}"
    );
    // Unlimited (root), or another errno: the IOMMU refused it for its own reasons.
    let err = vfio::map_error(0x1000, 4096, 0, u64::MAX, enomem());
    assert!(matches!(err, Error::IommuMapRefused { .. }), "{err}");
    let err = vfio::map_error(
        0x1000,
        4096,
        0,
        1,
        std::io::Error::from_raw_os_error(libc::EEXIST),
    );
    assert!(matches!(err, Error::IommuMapRefused { .. }), "{err}");
    assert!(err.to_string().contains("at IOVA 0x1000"), "{err}");
}

#[test]
fn a_vector_count_the_device_lacks_is_refused() {
    let err = vfio::check_vectors("0000:00:04.0", 5, 4).unwrap_err();
    assert_eq!(
        err.to_string(),
        "0000:00:04.0 has 4 MSI-X vectors and 5 were asked for (one per receive queue with interrupts): use at most 4 receive queues with interrupts, or none (in QEMU, virtio-net-pci's vectors= raises the count)"
    );
    assert!(vfio::check_vectors("d", 0, 4).is_err());
    assert!(vfio::check_vectors("d", 4, 4).is_ok());
    let none = vfio::check_vectors("d", 1, 0).unwrap_err().to_string();
    assert!(none.contains("no MSI-X"), "{none}");
}

/// The environment variable that tells a child process which fixture to use.
const CHILD: &str = "RIXY_VFIO_TEST_FIXTURE";

/// Runs test `name` of this binary again as user nobody, with [`CHILD`] set to `fixture`, and
/// asserts it passed. Only root can do this; others run the check themselves.
fn rerun_as_nobody(name: &str, fixture: &Path) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, fixture)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "as nobody:\n{text}");
    assert!(text.contains("1 passed"), "the child ran the test:\n{text}");
}

/// Whether this process is root.
fn root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// Runs `check` on a fixture as an unprivileged user: here when not root, in a child as
/// nobody when root (the fixture is built by the parent and stays alive until the child ends).
fn unprivileged(name: &str, build: impl FnOnce() -> Fake, check: impl FnOnce(&Config)) {
    if let Ok(dir) = std::env::var(CHILD) {
        let config: Config = read_config(Path::new(&dir));
        check(&config);
        return;
    }
    let fake = build();
    if root() {
        write_config(&fake);
        rerun_as_nobody(name, fake.sysfs.dir());
    } else {
        check(&fake.config);
    }
}

fn write_config(fake: &Fake) {
    let c = &fake.config;
    std::fs::write(
        fake.sysfs.dir().join("config.txt"),
        format!(
            "{}\n{}\n{}\n",
            c.sysfs_root.display(),
            c.vfio_dir.display(),
            c.hugepage_dir.display()
        ),
    )
    .unwrap();
}

fn read_config(dir: &Path) -> Config {
    let text = std::fs::read_to_string(dir.join("config.txt")).unwrap();
    let mut lines = text.lines().map(PathBuf::from);
    Config {
        sysfs_root: lines.next().unwrap(),
        vfio_dir: lines.next().unwrap(),
        hugepage_dir: lines.next().unwrap(),
        link_timeout: std::time::Duration::ZERO,
        ..Config::default()
    }
}

fn open_err(config: &Config) -> Error {
    match rixy::open(ADDR, config) {
        Ok(dev) => panic!("{} opened", dev.name()),
        Err(e) => e,
    }
}

#[test]
fn unprivileged_a_group_file_not_given_to_the_user_names_the_file_and_the_chown() {
    unprivileged(
        "unprivileged_a_group_file_not_given_to_the_user_names_the_file_and_the_chown",
        || {
            let fake = Fake::new(INTEL, X520, Some(9), &[]);
            fake.vfio_file("9", 0o600);
            fake
        },
        |config| {
            let err = open_err(config);
            let msg = err.to_string();
            assert!(matches!(err, Error::VfioGroupPermission { .. }), "{msg}");
            let file = config.vfio_dir.join("9");
            // SAFETY: getuid has no preconditions.
            let uid = unsafe { libc::getuid() };
            assert!(
                msg.starts_with(&format!(
                    "permission denied on {}: as root, give the group to this user (uid {uid}): `chown {uid} {}`",
                    file.display(),
                    file.display()
                )),
                "{msg}"
            );
            assert!(msg.contains("ci/vfio-bind 0000:00:04.0 USER"), "{msg}");
        },
    );
}

#[test]
fn unprivileged_a_device_that_bypasses_the_iommu_is_refused_with_the_reason() {
    unprivileged(
        "unprivileged_a_device_that_bypasses_the_iommu_is_refused_with_the_reason",
        || {
            let fake = Fake::new(VIRTIO, LEGACY_NET, Some(9), &[]);
            fake.vfio_file("9", 0o666);
            fake
        },
        |config| {
            let err = open_err(config);
            let msg = err.to_string();
            assert!(matches!(err, Error::BypassNeedsRoot { .. }), "{msg}");
            assert!(
                msg.starts_with("0000:00:04.0: legacy virtio uses physical addresses, bypassing the IOMMU, so its DMA memory needs physical addresses, which /proc/self/pagemap shows only to root"),
                "{msg}"
            );
            assert!(msg.contains("iommu_platform=on"), "{msg}");
        },
    );
}

#[test]
fn unprivileged_a_device_bound_to_another_driver_names_vfio_bind() {
    unprivileged(
        "unprivileged_a_device_bound_to_another_driver_names_vfio_bind",
        || {
            let fake = Fake::new(INTEL, X520, Some(9), &[]);
            // Rebind the NIC from vfio-pci to a host driver whose unbind file only root writes.
            let link = fake.sysfs.root().join(ADDR).join("driver");
            std::fs::remove_file(&link).unwrap();
            fake.sysfs.bind(ADDR, "ixgbe");
            let unbind = fake.sysfs.dir().join("drivers/ixgbe/unbind");
            std::fs::set_permissions(&unbind, std::fs::Permissions::from_mode(0o200)).unwrap();
            fake
        },
        |config| {
            let err = open_err(config);
            let msg = err.to_string();
            assert!(matches!(err, Error::DriverNotUnbindable { .. }), "{msg}");
            assert!(
                msg.starts_with(
                    "0000:00:04.0 is bound to kernel driver ixgbe, which this user may not unbind"
                ),
                "{msg}"
            );
            assert!(
                msg.contains("`ci/vfio-bind 0000:00:04.0 USER` and run as USER"),
                "{msg}"
            );
        },
    );
}

/// Runs ci/vfio-bind against a fake tree; returns (success, stderr).
fn vfio_bind(fake: &Fake, args: &[&str]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/vfio-bind");
    let out = Command::new("sh")
        .arg(script)
        .args(args)
        .env("RIXY_SYSFS_PCI", fake.sysfs.dir())
        .env("RIXY_VFIO_DIR", &fake.config.vfio_dir)
        .env("RIXY_NO_MODPROBE", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn vfio_bind_refuses_what_looks_like_this_machines_own_device() {
    let fake = Fake::new(INTEL, X520, Some(5), &[]);
    let dev = fake.sysfs.root().join(ADDR);
    std::fs::remove_file(dev.join("driver")).unwrap();
    fake.sysfs.bind(ADDR, "ixgbe");
    std::fs::write(dev.join("class"), "0x020000\n").unwrap();
    std::fs::create_dir_all(dev.join("net/eth0")).unwrap();
    std::fs::write(dev.join("net/eth0/operstate"), "up\n").unwrap();
    std::fs::write(dev.join("driver_override"), "").unwrap();
    std::fs::write(fake.sysfs.dir().join("drivers_probe"), "").unwrap();
    let (ok, text) = vfio_bind(&fake, &[ADDR, "nobody"]);
    assert!(!ok, "{text}");
    assert!(text.contains("is interface eth0, which is up"), "{text}");
    assert_eq!(
        std::fs::read_to_string(dev.join("driver_override")).unwrap(),
        ""
    );
    assert_eq!(fake.sysfs.unbound("ixgbe"), "", "nothing was unbound");

    // Not a network controller.
    std::fs::write(dev.join("class"), "0x010601\n").unwrap();
    let (ok, text) = vfio_bind(&fake, &["00:04.0"]);
    assert!(!ok && text.contains("not a network controller"), "{text}");

    // A NIC whose interface is down: override written, driver unbound, probe asked for; the
    // fake kernel binds nothing, which the script notices.
    std::fs::write(dev.join("class"), "0x020000\n").unwrap();
    std::fs::write(dev.join("net/eth0/operstate"), "down\n").unwrap();
    let (ok, text) = vfio_bind(&fake, &[ADDR, "nobody"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("is not bound to vfio-pci after drivers_probe"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(dev.join("driver_override")).unwrap(),
        "vfio-pci\n"
    );
    assert_eq!(fake.sysfs.unbound("ixgbe"), format!("{ADDR}\n"));
    assert_eq!(
        std::fs::read_to_string(fake.sysfs.dir().join("drivers_probe")).unwrap(),
        format!("{ADDR}\n")
    );
}

#[test]
fn vfio_bind_gives_the_group_of_a_bound_device_to_the_user() {
    if !root() {
        println!("skipped: handing a group file to another user needs root");
        return;
    }
    let fake = Fake::new(INTEL, X520, Some(5), &[("0000:00:05.0", "e1000e")]);
    let dev = fake.sysfs.root().join(ADDR);
    std::fs::write(dev.join("class"), "0x020000\n").unwrap();
    let group = fake.vfio_file("5", 0o600);
    let (ok, text) = vfio_bind(&fake, &[ADDR, "nobody"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("group") && text.contains("given to nobody"),
        "{text}"
    );
    assert!(
        text.contains("0000:00:05.0 shares IOMMU group 5 and is bound to e1000e"),
        "{text}"
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(group).unwrap().uid(), 65534);
}

#[test]
fn port_io_in_a_region_reaches_its_offset_and_reports_its_domain() {
    use rixy::memory::DmaDomain;
    use rixy::regs::{Bus, DmaMaster, PortIo};
    // A device file whose BAR0 region starts at 0x1000: bytes before it must not be touched.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("device");
    let mut bytes = vec![0xeeu8; 0x1020];
    bytes[0x1004..0x1008].copy_from_slice(&0x1234_5678u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let bus = PortIo::in_region(file, 0x1000, 0x20).with_dma_domain(DmaDomain::Iommu(5));
    // SAFETY: offsets inside the 0x20-byte window, aligned.
    unsafe {
        assert_eq!(bus.read32(4), 0x1234_5678);
        bus.write16(0x10, 0xabcd);
    }
    assert!(bus.take_error().is_none());
    assert_eq!(bus.dma_domain(), DmaDomain::Iommu(5));
    let after = std::fs::read(&path).unwrap();
    assert_eq!(&after[0x1010..0x1012], &[0xcd, 0xab]);
    assert_eq!(
        &after[0x10..0x12],
        &[0xee, 0xee],
        "the file's start is untouched"
    );
    // Without a domain, as from sysfs: physical.
    let file = std::fs::File::open(&path).unwrap();
    assert_eq!(PortIo::new(file, 4).dma_domain(), DmaDomain::Physical);
}
