//! Buffer accounting counted independently: every buffer of the pools must turn up exactly once
//! among the pools' free stacks (walked), the devices' rings (walked) and the packets the test
//! holds. A leaked buffer is missing, a double free or a buffer posted while still in use turns
//! up twice.

use std::collections::HashMap;

use rixy::memory::HEADROOM;
use rixy::{Device, Mempool, Packet};

/// Checks that each buffer of `pools` is in exactly one place: a pool's free stack, one of the
/// `devices`' rings, or `held` (the packets the test holds). An error names what is wrong.
pub fn check_buffers<'a>(
    pools: &[&Mempool],
    devices: &[&Device],
    held: impl IntoIterator<Item = &'a Packet>,
) -> Result<(), String> {
    check_buffers_and(pools, devices, held, Vec::new())
}

/// As [`check_buffers`], with more places: `(address, where)` pairs found by walking something
/// else that holds buffers (a queue handle's ring, say).
pub fn check_buffers_and<'a>(
    pools: &[&Mempool],
    devices: &[&Device],
    held: impl IntoIterator<Item = &'a Packet>,
    more: Vec<(u64, String)>,
) -> Result<(), String> {
    // Every buffer of every pool, by the data address the pool's region gives it.
    let mut place: HashMap<u64, String> = HashMap::new();
    let mut seen_pools: Vec<&Mempool> = Vec::new();
    for &pool in pools {
        if seen_pools.iter().any(|p| p.same_pool(pool)) {
            continue;
        }
        seen_pools.push(pool);
        for i in 0..pool.capacity() {
            let offset = i * pool.buffer_size() + HEADROOM;
            let addr = pool
                .region()
                .device_addr(offset)
                .ok_or_else(|| format!("pool {}: buffer {i} has no device address", pool.id()))?;
            place.insert(addr, String::new());
        }
    }
    let mut found: Vec<(u64, String)> = Vec::new();
    for pool in &seen_pools {
        let name = format!("free in pool {}", pool.id());
        found.extend(
            pool.free_buffer_addrs()
                .into_iter()
                .map(|a| (a, name.clone())),
        );
    }
    for device in devices {
        let name = format!("in a ring of {}", device.name());
        found.extend(
            device
                .held_buffer_addrs()
                .into_iter()
                .map(|a| (a, name.clone())),
        );
    }
    found.extend(
        held.into_iter()
            .map(|p| (p.device_addr(), "held by the test".to_string())),
    );
    found.extend(more);
    for (addr, name) in found {
        match place.get_mut(&addr) {
            None => {
                return Err(format!(
                    "buffer {addr:#x} ({name}) belongs to none of the pools"
                ));
            }
            Some(p) if !p.is_empty() => {
                return Err(format!("buffer {addr:#x} is both {p} and {name}"));
            }
            Some(p) => *p = name,
        }
    }
    let mut lost: Vec<u64> = place
        .iter()
        .filter(|(_, p)| p.is_empty())
        .map(|(&a, _)| a)
        .collect();
    if lost.is_empty() {
        Ok(())
    } else {
        lost.sort_unstable();
        Err(format!(
            "{} of {} buffers are nowhere (lost), the first at {:#x}",
            lost.len(),
            place.len(),
            lost[0]
        ))
    }
}
