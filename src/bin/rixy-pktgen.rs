//! rixy-pktgen: sends sequence-numbered UDP/IPv4 test frames, like ixy's pktgen.
//!
//! Every buffer of the generator's mempool is filled with the frame once, at start; per packet
//! only the length and the sequence number are written, and with `--flows` the 2-byte UDP source
//! port (`rixy::frame` has the layout).
//! `rixy-pktgen --help` lists the options.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use rixy::apps::cli::PktgenArgs;
use rixy::apps::stats::{CoarseClock, Console, Meter};
use rixy::apps::stop::Stop;
use rixy::apps::{self, AppError, AppResult, DRAIN_TIMEOUT, ModelWatch};
use rixy::frame::{self, FrameSpec};
use rixy::memory::DEFAULT_BUFFER_SIZE;
use rixy::{Config, Packet};

/// Buffers in the generator's mempool, as many as ixy's pktgen uses: a full transmit ring plus
/// room for the batch being built.
const POOL_SIZE: usize = 2048;

/// Pacing never sleeps longer than this at once, so that stop conditions and rate lines stay
/// timely at low rates.
const MAX_PACING_SLEEP: Duration = Duration::from_millis(10);

fn main() -> ExitCode {
    apps::init_logging();
    let watch = ModelWatch::default();
    let outcome = run(&PktgenArgs::parse(), &watch);
    apps::exit_code(watch.finish(outcome))
}

fn run(args: &PktgenArgs, watch: &ModelWatch) -> AppResult<()> {
    let mut stop = Stop::install()?;
    let spec_len = usize::from(args.size);
    let config = Config {
        tx_queues: args.queue.checked_add(1).ok_or_else(|| {
            AppError::Usage(format!("transmit queue {} does not exist", args.queue))
        })?,
        ..args.devices.config()
    };
    let mut dev = watch.open(&args.device, &config, &args.devices)?;
    let console = Console::Stdout;
    console.line(&apps::memory_line(&dev));
    if !dev.link().up {
        console.line(&format!("[{}] link is down; sending anyway", dev.name()));
    }

    let spec = FrameSpec {
        dst_mac: args.dst_mac,
        src_mac: args.src_mac.unwrap_or_else(|| dev.mac()),
        len: spec_len,
        ..FrameSpec::default()
    };
    spec.validate()?;
    spec.check_flows(args.flows)?;

    // Fill every buffer with the frame once; afterwards a packet only needs its length and its
    // sequence number.
    let pool = dev.mempool(POOL_SIZE, DEFAULT_BUFFER_SIZE)?;
    let mut all: Vec<Packet> = Vec::with_capacity(POOL_SIZE);
    pool.alloc_bulk(&mut all, POOL_SIZE);
    for packet in &mut all {
        packet.set_len(spec_len)?;
        spec.write(packet, 0)?;
    }
    drop(all);

    let batch = args.batch as usize;
    let mut pending: VecDeque<Packet> = VecDeque::with_capacity(batch);
    let mut seq: u32 = 0;
    // The flow of the next packet, seq mod flows, counted without a division per packet.
    let mut flow: u32 = 0;
    let mut generated: u64 = 0;
    let mut sent: u64 = 0;
    let start = Instant::now();
    stop.run_for(args.duration, start);
    let first = dev.stats();
    let mut meter = Meter::new(dev.name(), first, start);
    let mut clock = CoarseClock::default();

    loop {
        if pending.is_empty() {
            let mut want = batch as u64;
            if let Some(count) = args.count {
                want = want.min(count - generated);
            }
            if let Some(rate) = args.rate {
                let now = Instant::now();
                let due = paced_total(rate, now - start).saturating_sub(generated);
                if due == 0 {
                    // Sleep until the next packet is due (bounded), then look at the clock.
                    let next = Duration::from_secs_f64((generated + 1) as f64 / rate as f64);
                    std::thread::sleep(
                        (start + next)
                            .saturating_duration_since(now)
                            .min(MAX_PACING_SLEEP),
                    );
                    if stop.due(Instant::now()) {
                        break;
                    }
                }
                want = want.min(due);
            }
            pool.alloc_bulk(&mut pending, want as usize);
            for packet in pending.iter_mut() {
                packet.set_len(spec_len)?;
                frame::write_seq(packet, seq);
                if args.flows > 1 {
                    // check_flows made sure every flow has a port.
                    let port = spec.flow_port(flow).unwrap_or(spec.src_port);
                    frame::write_src_port(packet, port);
                    flow += 1;
                    if flow == args.flows {
                        flow = 0;
                    }
                }
                seq = seq.wrapping_add(1);
            }
            generated += pending.len() as u64;
        }
        if !pending.is_empty() {
            sent += dev.tx_batch(args.queue, &mut pending)? as u64;
        }
        if args.count.is_some_and(|count| sent >= count) {
            break;
        }
        if let Some(now) = clock.poll() {
            if stop.due(now) {
                break;
            }
            if meter.due(now) {
                console.line(&meter.rate_line(dev.stats(), now));
            }
        }
    }

    // What the ring did not take is never sent: it goes back to the pool uncounted.
    drop(pending);
    let stats = apps::wait_until_sent(&mut dev, args.queue, &meter, sent, DRAIN_TIMEOUT)?;
    let mut extras = vec![format!("sent: {sent}")];
    extras.extend(apps::wire_extra(&dev));
    console.line(&meter.totals_line(stats, Instant::now(), &extras));
    Ok(())
}

/// Packets a generator pacing at `rate` per second should have sent after `elapsed`.
fn paced_total(rate: u64, elapsed: Duration) -> u64 {
    let total = elapsed.as_nanos() * u128::from(rate) / 1_000_000_000;
    u64::try_from(total).unwrap_or(u64::MAX)
}
