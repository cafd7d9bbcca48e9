//! Legacy virtio-net (VirtIO 1.0 section 4.1.4.8, "legacy interface"), over a port-IO BAR.

pub mod layout;
