//! The huge page DMA provider on the real machine. These tests run only as root with hugetlbfs
//! mounted (at /mnt/huge, or where `RIXY_HUGE_DIR` says) and free huge pages; otherwise each
//! prints `skipped: <reason>` and returns. They never reserve huge pages or mount anything:
//! `ci/setup-hugepages` does that, by hand.

use std::fs::File;
use std::os::unix::fs::FileExt;

use rixy::Error;
use rixy::memory::{DmaAllocator, HEADROOM, HugePageAllocator, Mempool};

/// Huge pages the largest test here needs.
const PAGES_NEEDED: usize = 3;

/// The allocator and its page size, or why the tests cannot run here.
fn environment() -> Result<(HugePageAllocator, usize), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root: pagemap frame numbers and mlock need root".into());
    }
    let dir = std::env::var_os("RIXY_HUGE_DIR").unwrap_or_else(|| "/mnt/huge".into());
    let alloc = HugePageAllocator::with_dir(&dir);
    let page = alloc.page_size().map_err(|e| e.to_string())?;
    let free = alloc.free_pages(page).map_err(|e| e.to_string())?;
    if free < PAGES_NEEDED {
        return Err(format!(
            "{free} free huge pages, these tests need {PAGES_NEEDED} (ci/setup-hugepages reserves them)"
        ));
    }
    Ok((alloc, page))
}

macro_rules! require_huge_pages {
    () => {
        match environment() {
            Ok(env) => env,
            Err(reason) => {
                println!("skipped: {reason}");
                return;
            }
        }
    };
}

/// Physical address of `virt` read straight from /proc/self/pagemap, independently of rixy.
fn pagemap_phys(virt: usize) -> u64 {
    let pagemap = File::open("/proc/self/pagemap").unwrap();
    let mut entry = [0u8; 8];
    pagemap
        .read_exact_at(&mut entry, (virt / 4096 * 8) as u64)
        .unwrap();
    let entry = u64::from_le_bytes(entry);
    assert_ne!(entry & (1 << 63), 0, "page at {virt:#x} not present");
    (entry & ((1 << 55) - 1)) * 4096 + (virt % 4096) as u64
}

#[test]
fn device_addresses_come_from_pagemap() {
    let (alloc, page) = require_huge_pages!();
    let region = alloc.allocate(2 * page, false).unwrap();
    assert_eq!(
        region.as_ptr() as usize % page,
        0,
        "region not huge-page aligned"
    );
    for i in 0..2 {
        let base = region.device_addr(i * page).unwrap();
        assert_ne!(base, 0);
        assert_ne!(
            base,
            region.as_ptr() as u64 + (i * page) as u64,
            "virtual address given as device address"
        );
        assert_eq!(base % page as u64, 0, "huge page frame not page-aligned");
        for offset in [1, 4096, page / 2 + 123, page - 1] {
            let virt = region.as_ptr() as usize + i * page + offset;
            assert_eq!(
                region.device_addr(i * page + offset).unwrap(),
                base + offset as u64
            );
            assert_eq!(
                region.device_addr(i * page + offset).unwrap(),
                pagemap_phys(virt)
            );
        }
    }
    // The backing file was unlinked right after mapping.
    let leftovers: Vec<_> = std::fs::read_dir(alloc.dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("rixy-{}-", std::process::id()))
        })
        .collect();
    assert!(leftovers.is_empty(), "files left behind: {leftovers:?}");
}

#[test]
fn contiguous_allocations_stay_in_one_huge_page() {
    let (alloc, page) = require_huge_pages!();
    let region = alloc.allocate(64 * 1024, true).unwrap();
    assert!(region.is_contiguous());
    let first = region.device_addr(0).unwrap();
    let last = region.device_addr(region.len() - 1).unwrap();
    assert_eq!(last - first, region.len() as u64 - 1);
    assert_eq!(
        first / page as u64,
        last / page as u64,
        "contiguous region straddles a huge page"
    );
    assert!(matches!(
        alloc.allocate(page + 1, true),
        Err(Error::ContiguousTooLarge { max, .. }) if max == page
    ));
}

#[test]
fn too_many_pages_is_a_clear_error() {
    let (alloc, page) = require_huge_pages!();
    let free = alloc.free_pages(page).unwrap();
    let err = alloc.allocate((free + 1) * page, false).unwrap_err();
    assert!(
        matches!(err, Error::NoFreeHugePages { requested, .. } if requested == free + 1),
        "{err:?}"
    );
    assert!(err.to_string().contains("ci/setup-hugepages"));
}

#[test]
fn mempool_buffers_sit_on_their_pages() {
    let (alloc, page) = require_huge_pages!();
    let size = 2048;
    // A pool spanning two huge pages.
    let entries = 2 * page / size;
    let pool = Mempool::new(&alloc, entries, size).unwrap();
    let mut packets = Vec::new();
    assert_eq!(pool.alloc_bulk(&mut packets, entries), entries);
    let base = pool.region().as_ptr() as usize;
    for p in &packets {
        let offset = p.pool_index() as usize * size;
        let buffer_start = p.device_addr() - HEADROOM as u64;
        // Consistent with the physical frame of the page the buffer lies in.
        assert_eq!(buffer_start, pagemap_phys(base + offset));
        assert_eq!(p.device_addr(), pagemap_phys(base + offset + HEADROOM));
        // No buffer straddles a huge page, physically or virtually.
        assert_eq!(
            buffer_start / page as u64,
            (buffer_start + size as u64 - 1) / page as u64
        );
        assert_eq!(offset / page, (offset + size - 1) / page);
    }
}
