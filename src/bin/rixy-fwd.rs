//! rixy-fwd: forwards packets in both directions between two devices, like ixy's forwarder.
//!
//! Each turn of the loop receives a batch on one device, touches every packet, sends the batch
//! on the other device and frees what that device's transmit ring cannot take; then the same
//! the other way. With `--queues N` the devices' queues are taken out as handles and N threads
//! do this, thread i from receive queue i to transmit queue i, while the main thread prints
//! the rate lines. `rixy-fwd --help` lists the options.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use rixy::apps::cli::FwdArgs;
use rixy::apps::stats::{CoarseClock, Console, Meter};
use rixy::apps::stop::Stop;
use rixy::apps::{self, AppError, AppResult, DRAIN_TIMEOUT, Idle, ModelWatch, WAIT_SLICE};
use rixy::frame;
use rixy::pci::PciAddress;
use rixy::{Config, Device, Mempool, Packet, Result, RxQueue, TxQueue};

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
        rx_queues: args.queues,
        tx_queues: args.queues,
        ..args.wait.apply(args.devices.config())
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
    let start = Instant::now();
    stop.run_for(args.duration, start);
    let [dev0, dev1] = &mut devs;
    let first = [dev0.stats(), dev1.stats()];
    let mut meters = [
        Meter::new(dev0.name(), first[0], start),
        Meter::new(dev1.name(), first[1], start),
    ];
    // ways[0]: received on devs[0], sent on devs[1]; ways[1] the other way.
    let interrupts = args.wait.interrupts;
    let ways = if args.queues == 1 {
        forward_in_one_thread(dev0, dev1, batch, interrupts, &stop, &mut meters, &console)?
    } else {
        forward_in_threads(
            dev0,
            dev1,
            batch,
            args.wait.interrupts,
            &stop,
            &mut meters,
            &console,
        )?
    };

    // Each device sends what the other received: wait for both rings to empty.
    let stats = [
        apps::wait_until_sent(dev0, &meters[0], ways[1].sent, DRAIN_TIMEOUT)?,
        apps::wait_until_sent(dev1, &meters[1], ways[0].sent, DRAIN_TIMEOUT)?,
    ];
    let now = Instant::now();
    for (i, dev) in [&*dev0, &*dev1].into_iter().enumerate() {
        let way = ways[i];
        let other = meters[1 - i].name();
        let mut extras = vec![format!(
            "app: {} received, {} sent to {other}, {} freed",
            way.received, way.sent, way.freed
        )];
        extras.extend(apps::queues_extra(dev));
        extras.push(apps::notifications_extra(dev));
        extras.extend(apps::wire_extra(dev));
        console.line(&meters[i].totals_line(stats[i], now, &extras));
    }
    Ok(())
}

/// The forwarding loop on one queue pair per device, in this thread, until `stop`. With
/// interrupts, after a run of turns that received nothing on either device it sleeps until
/// either device's receive interrupt fires ([`rixy::wait_any`]).
fn forward_in_one_thread(
    dev0: &mut Device,
    dev1: &mut Device,
    batch: usize,
    interrupts: bool,
    stop: &Stop,
    meters: &mut [Meter; 2],
    console: &Console,
) -> AppResult<[Direction; 2]> {
    let mut packets: VecDeque<Packet> = VecDeque::with_capacity(batch);
    let mut ways = [Direction::default(); 2];
    let mut clock = CoarseClock::default();
    let mut idle = Idle::default();
    loop {
        let got = forward(dev0, dev1, &mut packets, batch, &mut ways[0])?
            + forward(dev1, dev0, &mut packets, batch, &mut ways[1])?;
        if interrupts && idle.should_wait(got) {
            rixy::wait_any(&mut [(&mut *dev0, 0), (&mut *dev1, 0)], WAIT_SLICE)?;
        }
        if let Some(now) = clock.poll() {
            if stop.due(now) {
                return Ok(ways);
            }
            if meters[0].due(now) {
                console.line(&meters[0].rate_line(dev0.stats(), now));
                console.line(&meters[1].rate_line(dev1.stats(), now));
            }
        }
    }
}

/// How often the main thread looks at the clock while the queue threads forward.
const MAIN_TICK: Duration = Duration::from_millis(10);

/// The forwarding loop on threads: without interrupts, thread i forwards receive queue i of
/// each device to transmit queue i of the other; with interrupts, each direction of each queue
/// pair has a thread of its own, which sleeps on its receive queue's interrupt while idle. This
/// thread prints the rate lines and says when to stop; the queues go back to their devices
/// when the threads end.
fn forward_in_threads(
    dev0: &mut Device,
    dev1: &mut Device,
    batch: usize,
    interrupts: bool,
    stop: &Stop,
    meters: &mut [Meter; 2],
    console: &Console,
) -> AppResult<[Direction; 2]> {
    let (rx0, tx0) = dev0.take_queues()?;
    let (rx1, tx1) = dev1.take_queues()?;
    let done = AtomicBool::new(false);
    let outcomes: Vec<Result<[Direction; 2]>> = std::thread::scope(|s| {
        let pairs = (rx0.into_iter().zip(tx1)).zip(rx1.into_iter().zip(tx0));
        let mut workers = Vec::new();
        for (mut there, mut back) in pairs {
            let done = &done;
            if interrupts {
                for (way, mut queues) in [(0, there), (1, back)] {
                    workers.push(s.spawn(move || {
                        let outcome = forward_waiting(&mut queues, batch, done);
                        done.store(true, Ordering::Relaxed);
                        let mut ways = [Direction::default(); 2];
                        outcome.map(|d| {
                            ways[way] = d;
                            ways
                        })
                    }));
                }
            } else {
                workers.push(s.spawn(move || {
                    let outcome = forward_queues(&mut there, &mut back, batch, done);
                    // A failed queue stops the others: the app ends with its error.
                    done.store(true, Ordering::Relaxed);
                    outcome
                }));
            }
        }
        let mut clock = CoarseClock::default();
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(MAIN_TICK);
            let Some(now) = clock.poll() else { continue };
            if stop.due(now) {
                break;
            }
            if meters[0].due(now) {
                console.line(&meters[0].rate_line(dev0.stats(), now));
                console.line(&meters[1].rate_line(dev1.stats(), now));
            }
        }
        done.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .map(|w| w.join().expect("a forwarding thread panicked"))
            .collect()
    });
    let mut ways = [Direction::default(); 2];
    for outcome in outcomes {
        let [there, back] = outcome?;
        for (way, add) in ways.iter_mut().zip([there, back]) {
            way.received += add.received;
            way.sent += add.sent;
            way.freed += add.freed;
        }
    }
    Ok(ways)
}

/// One direction of one queue pair, with interrupts: poll while packets come, sleep on the
/// receive queue's interrupt after a run of empty batches.
fn forward_waiting(
    (rx, tx): &mut (RxQueue, TxQueue),
    batch: usize,
    done: &AtomicBool,
) -> Result<Direction> {
    let mut packets: VecDeque<Packet> = VecDeque::with_capacity(batch);
    let mut way = Direction::default();
    let mut idle = Idle::default();
    while !done.load(Ordering::Relaxed) {
        let received = rx.rx_batch(&mut packets, batch)?;
        if idle.should_wait(received) {
            rx.wait(WAIT_SLICE)?;
        }
        pass_on(&mut packets, received, &mut way, |p| tx.tx_batch(p))?;
    }
    Ok(way)
}

/// One thread's loop: receive queue i of each device to transmit queue i of the other.
fn forward_queues(
    there: &mut (RxQueue, TxQueue),
    back: &mut (RxQueue, TxQueue),
    batch: usize,
    done: &AtomicBool,
) -> Result<[Direction; 2]> {
    let mut packets: VecDeque<Packet> = VecDeque::with_capacity(batch);
    let mut ways = [Direction::default(); 2];
    while !done.load(Ordering::Relaxed) {
        for ((rx, tx), way) in [&mut *there, &mut *back].into_iter().zip(&mut ways) {
            let received = rx.rx_batch(&mut packets, batch)?;
            pass_on(&mut packets, received, way, |p| tx.tx_batch(p))?;
        }
    }
    Ok(ways)
}

/// One batch from `rx` to `tx`: receive, then [`pass_on`]; how many it received.
#[inline]
fn forward(
    rx: &mut Device,
    tx: &mut Device,
    packets: &mut VecDeque<Packet>,
    batch: usize,
    way: &mut Direction,
) -> Result<usize> {
    let received = rx.rx_batch(0, packets, batch)?;
    pass_on(packets, received, way, |p| tx.tx_batch(0, p))?;
    Ok(received)
}

/// What the forwarder does with the `received` packets of a batch: touch each, `send` them,
/// count, and free what the transmit ring could not take, in one go.
#[inline]
fn pass_on(
    packets: &mut VecDeque<Packet>,
    received: usize,
    way: &mut Direction,
    send: impl FnOnce(&mut VecDeque<Packet>) -> Result<usize>,
) -> Result<()> {
    if received == 0 {
        return Ok(());
    }
    for packet in packets.iter_mut() {
        frame::touch(packet);
    }
    let sent = send(packets)?;
    way.received += received as u64;
    way.sent += sent as u64;
    way.freed += packets.len() as u64;
    Mempool::free_bulk(packets.drain(..));
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
