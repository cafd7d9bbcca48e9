//! rixy-fwd: forwards packets in both directions between two devices, like ixy's forwarder.
//!
//! Each turn of the loop receives a batch on one device, touches every packet, sends the batch
//! on the other device and frees what that device's transmit ring cannot take; then the same
//! the other way. `rixy-fwd --help` lists the options.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use rixy::apps::cli::FwdArgs;
use rixy::apps::stats::{CoarseClock, Console, Meter};
use rixy::apps::stop::Stop;
use rixy::apps::{self, AppError, AppResult, DRAIN_TIMEOUT, ModelWatch};
use rixy::frame;
use rixy::pci::PciAddress;
use rixy::{Config, Device, Packet, Result};

/// What the forwarder did with the packets it received on one device.
#[derive(Clone, Copy, Debug, Default)]
struct Direction {
    /// Packets received.
    received: u64,
    /// Packets the other device's transmit ring took.
    sent: u64,
    /// Packets freed because that ring was full.
    freed: u64,
}

fn main() -> ExitCode {
    apps::init_logging();
    let watch = ModelWatch::default();
    let outcome = run(&FwdArgs::parse(), &watch);
    apps::exit_code(watch.finish(outcome))
}

fn run(args: &FwdArgs, watch: &ModelWatch) -> AppResult<()> {
    if same_device(&args.device1, &args.device2) {
        return Err(AppError::Usage(format!(
            "{} is given twice: rixy-fwd forwards between two different devices",
            args.device1
        )));
    }
    let mut stop = Stop::install()?;
    let config = Config {
        rx_ring_size: args.rx_ring as usize,
        tx_ring_size: args.tx_ring as usize,
        ..args.devices.config()
    };
    let mut devs = [
        watch.open(&args.device1, &config, &args.devices)?,
        watch.open(&args.device2, &config, &args.devices)?,
    ];
    let console = Console::Stdout;
    for dev in &devs {
        console.line(&apps::memory_line(dev));
        if !dev.link().up {
            console.line(&format!("[{}] link is down; forwarding anyway", dev.name()));
        }
    }

    let batch = args.batch as usize;
    let mut packets: VecDeque<Packet> = VecDeque::with_capacity(batch);
    // ways[0]: received on devs[0], sent on devs[1]; ways[1] the other way.
    let mut ways = [Direction::default(); 2];
    let start = Instant::now();
    stop.run_for(args.duration, start);
    let [dev0, dev1] = &mut devs;
    let first = [dev0.stats(), dev1.stats()];
    let mut meters = [
        Meter::new(dev0.name(), first[0], start),
        Meter::new(dev1.name(), first[1], start),
    ];
    let mut clock = CoarseClock::default();

    loop {
        forward(dev0, dev1, &mut packets, batch, &mut ways[0])?;
        forward(dev1, dev0, &mut packets, batch, &mut ways[1])?;
        if let Some(now) = clock.poll() {
            if stop.due(now) {
                break;
            }
            if meters[0].due(now) {
                console.line(&meters[0].rate_line(dev0.stats(), now));
                console.line(&meters[1].rate_line(dev1.stats(), now));
            }
        }
    }

    // Each device sends what the other received: wait for both rings to empty.
    let stats = [
        apps::wait_until_sent(dev0, 0, &meters[0], ways[1].sent, DRAIN_TIMEOUT)?,
        apps::wait_until_sent(dev1, 0, &meters[1], ways[0].sent, DRAIN_TIMEOUT)?,
    ];
    let now = Instant::now();
    for (i, dev) in [&*dev0, &*dev1].into_iter().enumerate() {
        let way = ways[i];
        let other = meters[1 - i].name();
        let mut extras = vec![format!(
            "app: {} received, {} sent to {other}, {} freed",
            way.received, way.sent, way.freed
        )];
        extras.extend(apps::wire_extra(dev));
        console.line(&meters[i].totals_line(stats[i], now, &extras));
    }
    Ok(())
}

/// One batch from `rx` to `tx`: receive, touch, send, free what did not fit.
#[inline]
fn forward(
    rx: &mut Device,
    tx: &mut Device,
    packets: &mut VecDeque<Packet>,
    batch: usize,
    way: &mut Direction,
) -> Result<()> {
    let received = rx.rx_batch(0, packets, batch)?;
    if received == 0 {
        return Ok(());
    }
    for packet in packets.iter_mut() {
        frame::touch(packet);
    }
    let sent = tx.tx_batch(0, packets)?;
    way.received += received as u64;
    way.sent += sent as u64;
    way.freed += packets.len() as u64;
    // Packets the ring could not take go back to their pool.
    packets.clear();
    Ok(())
}

/// Whether two device arguments name the same device (PCI addresses compared as addresses, so
/// `03:00.0` and `0000:03:00.0` are the same).
fn same_device(a: &str, b: &str) -> bool {
    match (PciAddress::parse(a), PciAddress::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
