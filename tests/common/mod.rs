//! What several integration tests share: a fake sysfs PCI tree in a temporary directory
//! (nothing here touches the machine's real /sys), and buffer accounting ([`accounting`]).

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub mod accounting;

/// Size of the fake memory BAR0: the 82599's register space.
pub const BAR_SIZE: u64 = 0x20000;

/// A fake `/sys/bus/pci/devices` (and `drivers`) under a temporary directory.
pub struct FakeSysfs {
    tmp: tempfile::TempDir,
}

impl FakeSysfs {
    /// An empty tree.
    pub fn new() -> FakeSysfs {
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir(tmp.path().join("devices")).unwrap();
        FakeSysfs { tmp }
    }

    /// The devices directory (what `Config::sysfs_root` and `--sysfs-root` take).
    pub fn root(&self) -> PathBuf {
        self.tmp.path().join("devices")
    }

    /// [`FakeSysfs::root`] as a command-line argument.
    pub fn root_arg(&self) -> String {
        self.root().to_str().unwrap().to_string()
    }

    /// The temporary directory itself, for other files a test needs.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// Adds a device with this vendor, device id and class code, and a 128 KiB memory BAR0
    /// whose contents are plain file memory (registers that never change by themselves, as a
    /// dead device's). Its config space is readable by everyone, as in the real sysfs, and
    /// writable by root only.
    pub fn add(&self, address: &str, vendor: u16, device: u16, class: u8) -> PathBuf {
        let dir = self.root().join(address);
        fs::create_dir(&dir).unwrap();
        let mut config = vec![0u8; 256];
        config[0..2].copy_from_slice(&vendor.to_le_bytes());
        config[2..4].copy_from_slice(&device.to_le_bytes());
        config[0x0b] = class;
        fs::write(dir.join("config"), &config).unwrap();
        fs::write(
            dir.join("resource"),
            "0x00000000fe000000 0x00000000fe01ffff 0x0000000000040200\n",
        )
        .unwrap();
        fs::File::create(dir.join("resource0"))
            .and_then(|f| f.set_len(BAR_SIZE))
            .unwrap();
        for (file, mode) in [("config", 0o644), ("resource", 0o444), ("resource0", 0o600)] {
            fs::set_permissions(dir.join(file), fs::Permissions::from_mode(mode)).unwrap();
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    /// Binds the device at `address` to a kernel driver `driver`: a `driver` link to
    /// `drivers/<driver>`, which holds empty `unbind` and `bind` files, as in the real tree.
    pub fn bind(&self, address: &str, driver: &str) {
        let drv = self.tmp.path().join("drivers").join(driver);
        fs::create_dir_all(&drv).unwrap();
        fs::write(drv.join("unbind"), b"").unwrap();
        fs::write(drv.join("bind"), b"").unwrap();
        std::os::unix::fs::symlink(&drv, self.root().join(address).join("driver")).unwrap();
    }

    /// What was written to `driver`'s `unbind` file: the addresses unbound from it.
    pub fn unbound(&self, driver: &str) -> String {
        fs::read_to_string(self.tmp.path().join("drivers").join(driver).join("unbind")).unwrap()
    }

    /// What was written to `driver`'s `bind` file: the addresses given (back) to it.
    pub fn bound(&self, driver: &str) -> String {
        fs::read_to_string(self.tmp.path().join("drivers").join(driver).join("bind")).unwrap()
    }
}
