//! DMA memory on huge pages, with physical addresses from `/proc/self/pagemap`.
//!
//! Without an IOMMU a NIC reaches memory by physical address, so DMA memory must (a) not move,
//! (b) stay resident and (c) have physical addresses the process can learn. Huge pages on
//! hugetlbfs give all three: the kernel neither swaps nor migrates them once they are faulted in
//! and locked, and each 2 MiB page is one physically contiguous frame, so a buffer that does not
//! straddle a page boundary is contiguous for the device.
//!
//! Each allocation creates a file on the hugetlbfs mount, maps it shared, unlinks it at once (the
//! mapping keeps the pages; nothing is left behind if the process dies), locks it with `mlock`
//! and reads one pagemap entry per huge page. Allocations are rounded up to whole huge pages, so
//! ask for few, large regions.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{DeviceAddresses, DmaAllocator, DmaDomain, DmaRegion, base_page_size, round_up};
use crate::error::{Error, Result};

/// Where rixy expects hugetlbfs to be mounted (`ci/setup-hugepages` mounts it there).
pub const DEFAULT_HUGE_DIR: &str = "/mnt/huge";

/// Where the kernel reports huge page counts, one directory per page size
/// (Documentation/admin-guide/mm/hugetlbpage.rst).
const DEFAULT_HUGE_SYSFS: &str = "/sys/kernel/mm/hugepages";

/// `f_type` of a hugetlbfs mount as `statfs` reports it (`HUGETLBFS_MAGIC`,
/// include/uapi/linux/magic.h).
const HUGETLBFS_MAGIC: u32 = 0x9584_58f6;

/// pagemap entry bit 63: page present in RAM (Documentation/admin-guide/mm/pagemap.rst).
const PAGEMAP_PRESENT: u64 = 1 << 63;

/// pagemap entry bits 0-54: page frame number when present (same document). Since Linux 4.2 the
/// field reads as zero without CAP_SYS_ADMIN.
const PAGEMAP_PFN_MASK: u64 = (1 << 55) - 1;

/// Bytes per pagemap entry: one little-endian `u64` per base page.
const PAGEMAP_ENTRY_SIZE: u64 = 8;

/// Makes file names unique among the allocations of one process.
static NEXT_FILE: AtomicUsize = AtomicUsize::new(0);

/// DMA memory on a hugetlbfs mount, addressed physically (for hardware without an IOMMU).
///
/// Needs root: `mlock` of large regions and pagemap frame numbers both require privileges, and
/// huge pages must have been reserved (`ci/setup-hugepages`).
#[derive(Clone, Debug)]
pub struct HugePageAllocator {
    dir: PathBuf,
    sysfs: PathBuf,
}

impl Default for HugePageAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl HugePageAllocator {
    /// An allocator using the hugetlbfs mount at [`DEFAULT_HUGE_DIR`].
    pub fn new() -> Self {
        Self::with_dir(DEFAULT_HUGE_DIR)
    }

    /// An allocator using the hugetlbfs mount at `dir`.
    pub fn with_dir(dir: impl Into<PathBuf>) -> Self {
        HugePageAllocator {
            dir: dir.into(),
            sysfs: PathBuf::from(DEFAULT_HUGE_SYSFS),
        }
    }

    /// The hugetlbfs directory allocations are made in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The huge page size of the mount, in bytes; an error if `dir` is not a hugetlbfs mount.
    pub fn page_size(&self) -> Result<usize> {
        let not_mounted = || Error::HugetlbfsNotMounted {
            path: self.dir.clone(),
        };
        let mut c_path = self.dir.as_os_str().as_bytes().to_vec();
        c_path.push(0);
        let c_path = std::ffi::CStr::from_bytes_with_nul(&c_path).map_err(|_| not_mounted())?;
        // SAFETY: all-zero bytes are a valid `statfs` (plain integers).
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c_path` is NUL-terminated and `st` is a writable `statfs`.
        let rc = unsafe { libc::statfs(c_path.as_ptr(), &mut st) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            return Err(match err.kind() {
                ErrorKind::NotFound | ErrorKind::NotADirectory => not_mounted(),
                ErrorKind::PermissionDenied => Error::PermissionDenied {
                    path: self.dir.clone(),
                },
                _ => Error::Io {
                    what: "statfs of the huge page directory",
                    path: self.dir.clone(),
                    source: err,
                },
            });
        }
        // The magic is a 32-bit constant; `f_type`'s width differs between targets.
        if st.f_type as u32 != HUGETLBFS_MAGIC {
            return Err(not_mounted());
        }
        let page = st.f_bsize as usize;
        if !page.is_power_of_two() || page < base_page_size() {
            return Err(Error::Io {
                what: "statfs reported an impossible huge page size for",
                path: self.dir.clone(),
                source: std::io::Error::other(format!("block size {page}")),
            });
        }
        Ok(page)
    }

    /// Huge pages of `page_size` bytes that are free and not reserved by another mapping: how
    /// many a new allocation can still get.
    pub fn free_pages(&self, page_size: usize) -> Result<usize> {
        available_pages(&self.sysfs, page_size)
    }

    /// Virtual-to-device address table for a freshly mapped and locked region.
    fn translate(&self, virt: usize, pages: usize, page_size: usize) -> Result<Vec<u64>> {
        let pagemap_path = Path::new("/proc/self/pagemap");
        let pagemap = File::open(pagemap_path).map_err(|e| Error::io("open", pagemap_path, e))?;
        (0..pages)
            .map(|i| physical_address(&pagemap, virt + i * page_size))
            .collect()
    }
}

impl DmaAllocator for HugePageAllocator {
    fn allocate(&self, size: usize, contiguous: bool) -> Result<DmaRegion> {
        let page_size = self.page_size()?;
        if contiguous && size > page_size {
            return Err(Error::ContiguousTooLarge {
                size,
                max: page_size,
            });
        }
        let map_len = round_up(size, page_size)?;
        let pages = map_len / page_size;
        let free = self.free_pages(page_size)?;
        if free < pages {
            return Err(Error::NoFreeHugePages {
                requested: pages,
                free,
                page_size,
            });
        }

        let name = format!(
            "rixy-{}-{}",
            std::process::id(),
            NEXT_FILE.fetch_add(1, Ordering::Relaxed)
        );
        let path = self.dir.join(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io("create a huge page file", &path, e))?;
        // The file goes away whatever happens next: a mapping keeps its pages without a name.
        let unlink = Unlink(&path);
        file.set_len(map_len as u64)
            .map_err(|e| Error::io("size the huge page file", &path, e))?;

        // SAFETY: a new shared mapping of a file we just created and sized to `map_len`, at an
        // address of the kernel's choosing; MAP_HUGETLB makes the kernel refuse the mapping
        // unless the file really is on hugetlbfs. Checked against MAP_FAILED below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_HUGETLB,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENOMEM) {
                return Err(Error::NoFreeHugePages {
                    requested: pages,
                    free: self.free_pages(page_size).unwrap_or(0),
                    page_size,
                });
            }
            return Err(Error::io("mmap the huge page file", &path, err));
        }
        drop(unlink);
        drop(file);
        let virt = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| Error::Os {
            what: "mmap of huge pages",
            source: std::io::Error::other("mmap returned address 0"),
        })?;
        // SAFETY: `virt..virt+map_len` is the mapping made above, owned by nobody else, readable,
        // writable and zero-filled by hugetlbfs; `size <= map_len`. The identity addresses are a
        // placeholder replaced below before the region leaves this function; if anything fails
        // first, dropping the region unmaps the pages.
        let mut region = unsafe {
            DmaRegion::from_mmap(
                virt,
                size,
                map_len,
                DeviceAddresses::Identity,
                DmaDomain::Physical,
                false,
            )
        };

        // SAFETY: locks the mapping made above, which is valid for `map_len` bytes.
        if unsafe { libc::mlock(virt.as_ptr().cast(), map_len) } != 0 {
            return Err(Error::Os {
                what: "mlock of huge pages (run as root, or raise RLIMIT_MEMLOCK)",
                source: std::io::Error::last_os_error(),
            });
        }
        // mlock has faulted every page in already; writing one byte per page makes sure each has a
        // frame before pagemap is asked, whatever the locking details.
        for i in 0..pages {
            // SAFETY: `i * page_size < map_len`, inside the mapping, which nothing else uses yet;
            // writing the zero that is already there changes no contents.
            unsafe { virt.as_ptr().add(i * page_size).write_volatile(0) };
        }
        let bases = self.translate(virt.as_ptr() as usize, pages, page_size)?;
        let consecutive = bases
            .windows(2)
            .all(|w| w[0].checked_add(page_size as u64) == Some(w[1]));
        region.addresses = if pages == 1 {
            DeviceAddresses::Linear { base: bases[0] }
        } else {
            DeviceAddresses::Pages {
                page_size,
                bases: bases.into_boxed_slice(),
            }
        };
        region.contiguous = consecutive;
        Ok(region)
    }
}

/// Removes a file when dropped.
struct Unlink<'a>(&'a Path);

impl Drop for Unlink<'_> {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(self.0) {
            log::warn!("could not remove huge page file {}: {e}", self.0.display());
        }
    }
}

/// Free, unreserved huge pages of `page_size` bytes according to `sysfs`
/// (`<sysfs>/hugepages-<kB>kB/{free,resv}_hugepages`): `free_hugepages` still counts pages that
/// existing mappings have reserved but not yet touched, so those are subtracted.
pub(crate) fn available_pages(sysfs: &Path, page_size: usize) -> Result<usize> {
    let dir = sysfs.join(format!("hugepages-{}kB", page_size / 1024));
    let read = |name: &str| -> Result<usize> {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::io("read huge page count", &path, e))?;
        text.trim().parse().map_err(|_| Error::Io {
            what: "parse huge page count in",
            path,
            source: std::io::Error::other(format!("not a number: {:?}", text.trim())),
        })
    };
    let free = read("free_hugepages")?;
    let reserved = read("resv_hugepages").unwrap_or(0);
    Ok(free.saturating_sub(reserved))
}

/// The page frame number in a pagemap entry, if the entry has one.
pub(crate) fn pagemap_frame(entry: u64) -> Option<u64> {
    let frame = entry & PAGEMAP_PFN_MASK;
    (entry & PAGEMAP_PRESENT != 0 && frame != 0).then_some(frame)
}

/// The physical address of the byte at `virt`, from an open `/proc/self/pagemap`.
pub(crate) fn physical_address(pagemap: &File, virt: usize) -> Result<u64> {
    let page = base_page_size();
    let mut entry = [0u8; PAGEMAP_ENTRY_SIZE as usize];
    pagemap
        .read_exact_at(&mut entry, (virt / page) as u64 * PAGEMAP_ENTRY_SIZE)
        .map_err(|e| Error::io("read", Path::new("/proc/self/pagemap"), e))?;
    let frame =
        pagemap_frame(u64::from_le_bytes(entry)).ok_or(Error::NoPhysicalAddress { virt })?;
    Ok(frame * page as u64 + (virt % page) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagemap_entries() {
        assert_eq!(pagemap_frame(PAGEMAP_PRESENT | 0x1234), Some(0x1234));
        // not present
        assert_eq!(pagemap_frame(0x1234), None);
        // present but frame hidden (not root)
        assert_eq!(pagemap_frame(PAGEMAP_PRESENT), None);
        // flag bits 55-62 are not part of the frame
        assert_eq!(pagemap_frame(PAGEMAP_PRESENT | (0xff << 55) | 7), Some(7));
        assert_eq!(pagemap_frame(u64::MAX), Some(PAGEMAP_PFN_MASK));
    }

    #[test]
    fn pagemap_of_a_plain_page() {
        // Reads this process's own pagemap only; no huge pages, no devices.
        let mut data = vec![1u8; 2 * base_page_size()];
        let virt = data.as_mut_ptr() as usize + 100;
        let pagemap = File::open("/proc/self/pagemap").unwrap();
        match physical_address(&pagemap, virt) {
            Ok(phys) => {
                assert_ne!(phys, 0);
                assert_eq!(phys as usize % base_page_size(), virt % base_page_size());
            }
            Err(Error::NoPhysicalAddress { virt: v }) => {
                assert_eq!(v, virt);
                println!("skipped: pagemap hides frame numbers from this process (not root)");
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
        data[0] = 2;
    }

    #[test]
    fn counts_free_minus_reserved() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("hugepages-2048kB");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("free_hugepages"), "10\n").unwrap();
        std::fs::write(dir.join("resv_hugepages"), "3\n").unwrap();
        assert_eq!(available_pages(tmp.path(), 2 << 20).unwrap(), 7);
        std::fs::write(dir.join("resv_hugepages"), "12\n").unwrap();
        assert_eq!(available_pages(tmp.path(), 2 << 20).unwrap(), 0);
        std::fs::write(dir.join("free_hugepages"), "lots\n").unwrap();
        assert!(available_pages(tmp.path(), 2 << 20).is_err());
        assert!(available_pages(tmp.path(), 1 << 30).is_err());
    }

    #[test]
    fn not_mounted_says_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        for dir in [tmp.path().to_path_buf(), tmp.path().join("missing")] {
            let alloc = HugePageAllocator::with_dir(&dir);
            let err = alloc.allocate(4096, false).unwrap_err();
            assert!(
                matches!(&err, Error::HugetlbfsNotMounted { path } if *path == dir),
                "{err}"
            );
            assert!(err.to_string().contains("ci/setup-hugepages"), "{err}");
        }
        // Nothing was created in a directory that is not hugetlbfs.
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
