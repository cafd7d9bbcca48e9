//! rixy-pcap: captures packets from a device into a pcap file, like ixy's pcap.
//!
//! The file is opened before the device, so a path that cannot be written fails before any
//! hardware is touched. `rixy-pcap --help` lists the options.

use std::fs::File;
use std::io::{self, BufWriter};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use rixy::apps::cli::PcapArgs;
use rixy::apps::pcap::{self, PcapWriter};
use rixy::apps::stats::{CoarseClock, Console, Meter};
use rixy::apps::stop::Stop;
use rixy::apps::{self, AppError, AppResult, Idle, ModelWatch, WAIT_SLICE};
use rixy::{Mempool, Packet};

/// Bytes buffered before a write to the file.
const WRITE_BUFFER: usize = 1 << 20;

fn main() -> ExitCode {
    apps::init_logging();
    let watch = ModelWatch::default();
    let outcome = run(&PcapArgs::parse(), &watch);
    apps::exit_code(watch.finish(outcome))
}

fn run(args: &PcapArgs, watch: &ModelWatch) -> AppResult<()> {
    let mut stop = Stop::install()?;
    let (file, console) = if args.to_stdout() {
        // Write to a duplicate of the stdout descriptor, bypassing the line buffering of
        // `io::Stdout`, which suits text, not a binary stream.
        let fd = io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| create_error(&args.file, source))?;
        (File::from(fd), Console::Stderr)
    } else {
        let file = File::create(&args.file).map_err(|source| create_error(&args.file, source))?;
        (file, Console::Stdout)
    };
    let write_error = |source| AppError::WriteCapture {
        path: args.file.clone(),
        source,
    };
    let mut writer =
        PcapWriter::new(BufWriter::with_capacity(WRITE_BUFFER, file)).map_err(write_error)?;

    let config = args.wait.apply(args.devices.config());
    let mut dev = watch.open(&args.device, &config, &args.devices)?;
    console.line(&apps::memory_line(&dev));
    if !dev.link().up {
        console.line(&format!("[{}] link is down; capturing anyway", dev.name()));
    }

    let batch = args.batch as usize;
    let mut packets: Vec<Packet> = Vec::with_capacity(batch);
    let mut captured: u64 = 0;
    let start = Instant::now();
    stop.run_for(args.duration, start);
    let first = dev.stats();
    let mut meter = Meter::new(dev.name(), first, start);
    let mut clock = CoarseClock::default();
    let mut reader_gone = false;
    let mut idle = Idle::default();

    'capture: loop {
        let want = args
            .count
            .map_or(batch, |count| batch.min((count - captured) as usize));
        let got = dev.rx_batch(0, &mut packets, want)?;
        if args.wait.interrupts && idle.should_wait(got) {
            dev.rx_wait(0, WAIT_SLICE)?;
        }
        if got > 0 {
            let time = pcap::now();
            for packet in &packets {
                match writer.write_packet(time, packet) {
                    Ok(()) => captured += 1,
                    // `rixy-pcap dev - | head -c ...`: the reader has what it wanted.
                    Err(e) if args.to_stdout() && e.kind() == io::ErrorKind::BrokenPipe => {
                        reader_gone = true;
                        break 'capture;
                    }
                    Err(e) => return Err(write_error(e)),
                }
            }
            // The batch goes back to its pool in one go.
            Mempool::free_bulk(packets.drain(..));
        }
        if args.count.is_some_and(|count| captured >= count) {
            break;
        }
        if let Some(now) = clock.poll() {
            if stop.due(now) {
                break;
            }
            if meter.due(now) {
                console.line(&meter.rate_line(dev.stats(), now));
                // A reader following the file (tshark -r, tail -f) sees every second's packets.
                if let Err(e) = writer.flush() {
                    if !(args.to_stdout() && e.kind() == io::ErrorKind::BrokenPipe) {
                        return Err(write_error(e));
                    }
                    reader_gone = true;
                    break;
                }
            }
        }
    }

    if !reader_gone {
        writer.into_inner().map_err(write_error)?;
    }
    let mut extras = vec![format!("captured: {captured}")];
    extras.push(apps::notifications_extra(&dev));
    extras.extend(apps::wire_extra(&dev));
    console.line(&meter.totals_line(dev.stats(), Instant::now(), &extras));
    Ok(())
}

fn create_error(path: &Path, source: io::Error) -> AppError {
    AppError::CreateCapture {
        path: path.to_path_buf(),
        source,
    }
}
