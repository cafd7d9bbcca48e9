//! The control queue (VirtIO 1.0 5.1.6.5): one command at a time, synchronously. A command is a
//! chain of three descriptors over the queue's scratch space (the bytes after its used ring): the
//! `virtio_net_ctrl` header and the command's one-byte argument, device-readable, then the ack
//! byte, device-writable.

use std::time::{Duration, Instant};

use tock_registers::interfaces::{Readable, Writeable};

use super::Virtio;
use super::transport::Transport;
use crate::regs::virtio::{NetCtrlAck, NetCtrlHdr, net_ctrl_ack, net_ctrl_hdr};
use crate::regs::{Bus, Descriptor};
use crate::{Error, Result};

/// Where the header, the argument and the ack sit in the scratch space: each at its own 8-byte
/// boundary, so each window is aligned for any access.
const HDR_AT: usize = 0;
const DATA_AT: usize = 8;
const ACK_AT: usize = 16;
/// Bytes of scratch space the control queue needs.
pub(super) const SCRATCH: usize = 24;
/// Bytes of a receive-mode command's argument: one on/off byte (5.1.6.5.1).
const DATA_LEN: usize = 1;

const _: () = assert!(HDR_AT + net_ctrl_hdr::SIZE <= DATA_AT);
const _: () = assert!(DATA_AT + DATA_LEN <= ACK_AT);
const _: () = assert!(ACK_AT + net_ctrl_ack::SIZE <= SCRATCH);

/// How long the device may take to answer a command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Receive-mode commands of class VIRTIO_NET_CTRL_RX (5.1.6.5.1).
#[derive(Clone, Copy, Debug)]
pub(super) enum RxMode {
    /// VIRTIO_NET_CTRL_RX_PROMISC.
    Promisc,
}

/// Switches a receive mode on or off (5.1.6.5.1). Needs VIRTIO_NET_F_CTRL_RX.
pub(super) fn rx_mode<T: Transport>(dev: &mut Virtio<T>, mode: RxMode, on: bool) -> Result<()> {
    let failed = |problem: String| Error::DeviceFailed {
        device: dev.name.clone(),
        problem,
    };
    let (Some(ctrl), true) = (dev.ctrl.as_mut(), dev.features.ctrl_rx) else {
        return Err(failed(format!(
            "cannot switch promiscuous mode {}: the device does not offer VIRTIO_NET_F_CTRL_RX (virtio 1.0, 5.1.3){}; QEMU offers it unless ctrl_rx=off",
            if on { "on" } else { "off" },
            if dev.features.ctrl_vq {
                ""
            } else {
                " nor a control queue (VIRTIO_NET_F_CTRL_VQ)"
            }
        )));
    };
    let command = match mode {
        RxMode::Promisc => net_ctrl_hdr::COMMAND::COMMAND::PROMISC,
    };

    // SAFETY: SCRATCH bytes after the queue were allocated with it (`Virtqueue::new`), and the
    // windows below lie inside them (the asserts above); they are used only within this
    // function, while `ctrl` (and so the region) is borrowed. HDR_AT and ACK_AT are multiples of
    // 8, so the views are aligned.
    let (hdr, data, ack) = unsafe {
        (
            NetCtrlHdr::view(ctrl.scratch(HDR_AT, net_ctrl_hdr::SIZE).base()),
            ctrl.scratch(DATA_AT, DATA_LEN),
            NetCtrlAck::view(ctrl.scratch(ACK_AT, net_ctrl_ack::SIZE).base()),
        )
    };
    hdr.class().write(net_ctrl_hdr::CLASS::CLASS::RX);
    hdr.command().write(command);
    // SAFETY: offset 0 of a one-byte window.
    unsafe { data.write8(0, u8::from(on)) };

    let addr = |offset| {
        ctrl.scratch_device_addr(offset)
            .ok_or_else(|| failed("the control queue's scratch space has no device address".into()))
    };
    let (hdr_addr, data_addr, ack_addr) = (addr(HDR_AT)?, addr(DATA_AT)?, addr(ACK_AT)?);
    // 5.1.6.5, legacy: header, argument and ack each in a descriptor of their own, which every
    // device accepts with or without ANY_LAYOUT. The queue holds one command at a time, so the
    // chain is always buffer 0 (split: descriptors 0, 1, 2).
    let parts = [
        (hdr_addr, net_ctrl_hdr::SIZE, false),
        (data_addr, DATA_LEN, false),
        (ack_addr, net_ctrl_ack::SIZE, true),
    ];
    if ctrl.size().get() < parts.len() || !ctrl.add_chain(0, &parts) {
        return Err(failed(format!(
            "the control queue has {} entries, a command needs {}",
            ctrl.size(),
            parts.len()
        )));
    }
    if ctrl.publish() {
        let index = ctrl.index();
        dev.doorbell(index)?;
    }

    // The device answers through the used ring (3.2.2); QEMU does so before the notification
    // returns, other devices may take a while.
    let ctrl = dev
        .ctrl
        .as_mut()
        .ok_or_else(|| failed("the control queue went away".into()))?;
    let start = Instant::now();
    let used = loop {
        match ctrl.pop_used() {
            Some(Ok(used)) => break used,
            Some(Err(used)) => {
                return Err(failed(format!(
                    "the device answered a control command with used buffer id {}, which is not the command's",
                    used.id
                )));
            }
            None => {}
        }
        if start.elapsed() >= COMMAND_TIMEOUT {
            return Err(failed(format!(
                "the device did not answer a control command within {} ms",
                COMMAND_TIMEOUT.as_millis()
            )));
        }
        std::thread::sleep(Duration::from_micros(100));
    };
    // 2.4.8: `len` is what the device wrote into the writable part: exactly the ack byte. A
    // device that wrote nothing has not answered, whatever the byte holds.
    if used.id != 0 || used.len as usize != net_ctrl_ack::SIZE {
        return Err(failed(format!(
            "the device answered a control command with used entry id {} length {}, expected id 0 length {}",
            used.id,
            used.len,
            net_ctrl_ack::SIZE
        )));
    }
    match ack.ack().read_as_enum(net_ctrl_ack::ACK::ACK) {
        Some(net_ctrl_ack::ACK::ACK::Value::Ok) => Ok(()),
        other => Err(failed(format!(
            "the device refused to switch {mode:?} {} (ack {:?}, virtio 1.0, 5.1.6.5)",
            if on { "on" } else { "off" },
            other.map_or_else(|| format!("{:#04x}", ack.ack().get()), |v| format!("{v:?}"))
        ))),
    }
}
