//! rixy-pktgen: sends sequence-numbered UDP/IPv4 test frames, like ixy's pktgen.
//!
//! Every buffer of the generator's mempool is filled with the frame once, at start; per packet
//! only the length and the sequence number are written, and with `--flows` the 2-byte UDP source
//! port (`rixy::frame` has the layout). With `--queues N`, N threads send, each on its own
//! transmit queue from its own mempool, while the main thread prints the rate lines.
//! `rixy-pktgen --help` lists the options.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use rixy::apps::cli::PktgenArgs;
use rixy::apps::stats::{CoarseClock, Console, Meter};
use rixy::apps::stop::Stop;
use rixy::apps::{self, AppError, AppResult, DRAIN_TIMEOUT, ModelWatch};
use rixy::frame::{self, FrameSpec};
use rixy::memory::DEFAULT_BUFFER_SIZE;
use rixy::{Config, Device, Mempool, Packet, Result};

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
    if args.queues > 1 && args.queue != 0 {
        return Err(AppError::Usage(format!(
            "--queue {} and --queues {}: with several queues, thread i sends on queue i; leave out --queue",
            args.queue, args.queues
        )));
    }
    let tx_queues = if args.queues > 1 {
        args.queues
    } else {
        args.queue.checked_add(1).ok_or_else(|| {
            AppError::Usage(format!("transmit queue {} does not exist", args.queue))
        })?
    };
    let config = Config {
        tx_queues,
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
        len: usize::from(args.size),
        ..FrameSpec::default()
    };
    spec.validate()?;
    spec.check_flows(args.flows)?;

    let threads = u32::from(args.queues);
    let mut generators = Vec::new();
    for i in 0..threads {
        let share = |total: u64| {
            total / u64::from(threads) + u64::from(u64::from(i) < total % u64::from(threads))
        };
        generators.push(Generator::new(
            dev.mempool(POOL_SIZE, DEFAULT_BUFFER_SIZE)?,
            &spec,
            args,
            (i, threads),
            args.count.map(share),
            args.rate.map(share),
        )?);
    }

    let start = Instant::now();
    stop.run_for(args.duration, start);
    let first = dev.stats();
    let mut meter = Meter::new(dev.name(), first, start);
    let sent = if args.queues == 1 {
        let mut generator = generators.pop().expect("one generator per queue");
        let mut clock = CoarseClock::default();
        loop {
            if !generator.turn(start, &stop, |pending| dev.tx_batch(args.queue, pending))? {
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
        generator.sent
    } else {
        send_in_threads(&mut dev, generators, start, &stop, &mut meter, &console)?
    };

    let stats = apps::wait_until_sent(&mut dev, &meter, sent, DRAIN_TIMEOUT)?;
    let mut extras = vec![format!("sent: {sent}")];
    extras.extend(apps::queues_extra(&dev));
    extras.push(apps::notifications_extra(&dev));
    extras.extend(apps::wire_extra(&dev));
    console.line(&meter.totals_line(stats, Instant::now(), &extras));
    Ok(())
}

/// How often the main thread looks at the clock while the queue threads send.
const MAIN_TICK: Duration = Duration::from_millis(10);

/// Every generator on a thread of its own, generator i on transmit queue i, until each is done
/// or `stop`; this thread prints the rate lines. Returns how many packets the queues took.
fn send_in_threads(
    dev: &mut Device,
    generators: Vec<Generator>,
    start: Instant,
    stop: &Stop,
    meter: &mut Meter,
    console: &Console,
) -> AppResult<u64> {
    let (_rx, tx) = dev.take_queues()?;
    let done = AtomicBool::new(false);
    let running = AtomicUsize::new(generators.len());
    let outcomes: Vec<AppResult<u64>> = std::thread::scope(|s| {
        let workers: Vec<_> = (generators.into_iter().zip(tx))
            .map(|(mut generator, mut queue)| {
                let (done, running) = (&done, &running);
                s.spawn(move || {
                    let mut outcome = Ok(());
                    while !done.load(Ordering::Relaxed) {
                        match generator.turn(start, stop, |pending| queue.tx_batch(pending)) {
                            Ok(true) => {}
                            Ok(false) => break,
                            Err(e) => {
                                // A failed queue stops the others: the app ends with its error.
                                done.store(true, Ordering::Relaxed);
                                outcome = Err(e);
                                break;
                            }
                        }
                    }
                    running.fetch_sub(1, Ordering::Relaxed);
                    outcome.map(|()| generator.sent)
                })
            })
            .collect();
        let mut clock = CoarseClock::default();
        while running.load(Ordering::Relaxed) > 0 && !done.load(Ordering::Relaxed) {
            std::thread::sleep(MAIN_TICK);
            let Some(now) = clock.poll() else { continue };
            if stop.due(now) {
                break;
            }
            if meter.due(now) {
                console.line(&meter.rate_line(dev.stats(), now));
            }
        }
        done.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .map(|w| w.join().expect("a sending thread panicked"))
            .collect()
    });
    let mut sent = 0;
    for outcome in outcomes {
        sent += outcome?;
    }
    Ok(sent)
}

/// One sending loop's state: its pool of pre-filled frames, its sequence numbers and flows,
/// and how far it got.
struct Generator {
    pool: Mempool,
    spec: FrameSpec,
    batch: usize,
    flows: u32,
    /// The next sequence number; each generator of N numbers its frames i, i + N, ...
    seq: u32,
    stride: u32,
    /// The flow of the next frame, `seq mod flows`, kept without a division per packet.
    flow: u32,
    /// How far the flow moves per frame: `stride mod flows`.
    flow_step: u32,
    count: Option<u64>,
    rate: Option<u64>,
    generated: u64,
    sent: u64,
    pending: VecDeque<Packet>,
}

impl Generator {
    /// Generator `i` of `n`, sending `count` packets at `rate` (its shares of the app's).
    /// Every buffer of `pool` is filled with the frame once; afterwards a packet only needs its
    /// length and its sequence number (and source port with flows).
    fn new(
        pool: Mempool,
        spec: &FrameSpec,
        args: &PktgenArgs,
        (i, n): (u32, u32),
        count: Option<u64>,
        rate: Option<u64>,
    ) -> AppResult<Generator> {
        let mut all: Vec<Packet> = Vec::with_capacity(POOL_SIZE);
        pool.alloc_bulk(&mut all, POOL_SIZE);
        for packet in &mut all {
            packet.set_len(spec.len)?;
            spec.write(packet, 0)?;
        }
        drop(all);
        Ok(Generator {
            pool,
            spec: *spec,
            batch: args.batch as usize,
            flows: args.flows,
            seq: i,
            stride: n,
            flow: i % args.flows,
            flow_step: n % args.flows,
            count,
            rate,
            generated: 0,
            sent: 0,
            pending: VecDeque::with_capacity(args.batch as usize),
        })
    }

    /// One turn: a new batch when the last one is gone (paced by `rate` since `start`), then
    /// one `send` of what is pending. `false` once `count` packets were sent.
    fn turn(
        &mut self,
        start: Instant,
        stop: &Stop,
        send: impl FnOnce(&mut VecDeque<Packet>) -> Result<usize>,
    ) -> AppResult<bool> {
        if self.count.is_some_and(|count| self.sent >= count) {
            return Ok(false);
        }
        if self.pending.is_empty() {
            let mut want = self.batch as u64;
            if let Some(count) = self.count {
                want = want.min(count - self.generated);
            }
            if let Some(rate) = self.rate {
                let now = Instant::now();
                let due = paced_total(rate, now - start).saturating_sub(self.generated);
                if due == 0 {
                    // Sleep until the next packet is due (bounded), then look at the clock.
                    let next = Duration::from_secs_f64((self.generated + 1) as f64 / rate as f64);
                    std::thread::sleep(
                        (start + next)
                            .saturating_duration_since(now)
                            .min(MAX_PACING_SLEEP),
                    );
                    if stop.due(Instant::now()) {
                        return Ok(false);
                    }
                }
                want = want.min(due);
            }
            self.pool.alloc_bulk(&mut self.pending, want as usize);
            for packet in self.pending.iter_mut() {
                packet.set_len(self.spec.len)?;
                frame::write_seq(packet, self.seq);
                if self.flows > 1 {
                    // check_flows made sure every flow has a port.
                    let port = self.spec.flow_port(self.flow).unwrap_or(self.spec.src_port);
                    frame::write_src_port(packet, port);
                    self.flow += self.flow_step;
                    if self.flow >= self.flows {
                        self.flow -= self.flows;
                    }
                }
                self.seq = self.seq.wrapping_add(self.stride);
            }
            self.generated += self.pending.len() as u64;
        }
        if !self.pending.is_empty() {
            self.sent += send(&mut self.pending)? as u64;
        }
        Ok(true)
    }
}

/// Packets a generator pacing at `rate` per second should have sent after `elapsed`.
fn paced_total(rate: u64, elapsed: Duration) -> u64 {
    let total = elapsed.as_nanos() * u128::from(rate) / 1_000_000_000;
    u64::try_from(total).unwrap_or(u64::MAX)
}
