//! `rixy-latency SEND RECEIVE [--count N] [--interval-us U]`: the round trip of one test frame
//! at a time through whatever links SEND to RECEIVE (in the QEMU guest: a link, rixy-fwd, a
//! link), like the paper's latency measurement (ixy, section 6.4) but with the clock of one
//! process: each frame is stamped with its send time by this process, which then polls RECEIVE
//! until that frame (by sequence number) comes back, and only then sends the next, `U`
//! microseconds after the previous one at the earliest. Both devices are polled, never slept on:
//! what varies between runs is the thing in the middle (a polling forwarder, or one sleeping on
//! interrupts).
//!
//! Prints one line `latency: N samples, lost L, min A us, median B us, p99 C us, max D us` and,
//! with `--samples FILE`, every round trip in microseconds, one per line. A frame that does not
//! come back within a second counts as lost; five lost in a row end the run with an error. Run as `ci/qemu/latency` and `tests/qemu.rs` do.
//!
//! Under TCG the times are the emulator's, not a machine's: compare modes with each other, not
//! with the paper's figures.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rixy::frame::{self, FrameSpec};
use rixy::{Config, Device, Packet};

struct Args {
    send: String,
    receive: String,
    count: u32,
    interval: Duration,
    samples: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: rixy-latency SEND RECEIVE [--count N] [--interval-us U] [--samples FILE]";
    let mut positional = Vec::new();
    let mut count = 1000;
    let mut interval = Duration::from_millis(1);
    let mut samples = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value; {usage}"));
        match a.as_str() {
            "--count" => {
                count = value("--count")?
                    .parse()
                    .map_err(|e| format!("--count: {e}"))?;
            }
            "--interval-us" => {
                let us: u64 = value("--interval-us")?
                    .parse()
                    .map_err(|e| format!("--interval-us: {e}"))?;
                interval = Duration::from_micros(us);
            }
            "--samples" => samples = Some(value("--samples")?),
            "-h" | "--help" => return Err(usage.into()),
            _ if a.starts_with("--") => return Err(format!("unknown option {a}; {usage}")),
            _ => positional.push(a),
        }
    }
    let [send, receive]: [String; 2] = positional
        .try_into()
        .map_err(|_| format!("two devices wanted; {usage}"))?;
    if count == 0 {
        return Err("--count must be at least 1".into());
    }
    Ok(Args {
        send,
        receive,
        count,
        interval,
        samples,
    })
}

/// Frames lost in a row after which the path counts as broken (rather than waiting a second for
/// each of the rest).
const GIVE_UP_AFTER: u32 = 5;

/// The `q`-quantile (0..=1) of sorted `v`, nearest rank.
fn quantile(v: &[f64], q: f64) -> f64 {
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn run(args: &Args) -> Result<String, String> {
    let config = Config::default();
    let mut tx = rixy::open(&args.send, &config).map_err(|e| e.to_string())?;
    let mut rx: Device = rixy::open(&args.receive, &config).map_err(|e| e.to_string())?;
    let pool = tx.mempool(64, 2048).map_err(|e| e.to_string())?;
    let spec = FrameSpec {
        src_mac: tx.mac(),
        ..FrameSpec::default()
    };
    let lost_after = Duration::from_secs(1);
    let mut rtts: Vec<f64> = Vec::with_capacity(args.count as usize);
    let mut lost = 0u32;
    let mut lost_in_a_row = 0u32;
    let mut stale = 0u64;
    let mut received: Vec<Packet> = Vec::with_capacity(64);
    let mut pending: VecDeque<Packet> = VecDeque::new();
    // Frames an earlier run left on the way (QEMU's link sockets keep what a stopped receiver
    // did not take) go first, and this run's sequence numbers start where no earlier run's
    // are likely to be: a frame counts only when its own number comes back.
    let drain_until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < drain_until {
        received.clear();
        rx.rx_batch(0, &mut received, 32)
            .map_err(|e| e.to_string())?;
    }
    let first = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x8000_0000, |d| d.subsec_nanos() | 0x8000_0000);
    let mut next_send = Instant::now();
    for seq in (0..args.count).map(|i| first.wrapping_add(i)) {
        while Instant::now() < next_send {
            std::hint::spin_loop();
        }
        let mut p = pool.alloc().ok_or("the send pool is empty")?;
        p.set_len(spec.len).map_err(|e| e.to_string())?;
        spec.write(&mut p, seq).map_err(|e| e.to_string())?;
        pending.push_back(p);
        let sent = Instant::now();
        next_send = sent + args.interval;
        while !pending.is_empty() {
            tx.tx_batch(0, &mut pending).map_err(|e| e.to_string())?;
        }
        // Poll until this frame comes back; earlier ones that come late are counted apart.
        let mut back = false;
        while !back && sent.elapsed() < lost_after {
            received.clear();
            rx.rx_batch(0, &mut received, 32)
                .map_err(|e| e.to_string())?;
            let now = Instant::now();
            for f in received.drain(..) {
                match frame::seq(&f) {
                    Some(s) if s == seq => {
                        rtts.push(now.duration_since(sent).as_secs_f64() * 1e6);
                        back = true;
                    }
                    _ => stale += 1,
                }
            }
        }
        if back {
            lost_in_a_row = 0;
        } else {
            lost += 1;
            lost_in_a_row += 1;
            if lost_in_a_row == GIVE_UP_AFTER {
                return Err(format!(
                    "{GIVE_UP_AFTER} frames in a row did not come back within {lost_after:?} ({} came back before): is the path from {} to {} up?",
                    rtts.len(),
                    args.send,
                    args.receive
                ));
            }
        }
        // Reap the send ring's finished buffers now and then (an empty batch does that).
        tx.tx_batch(0, &mut pending).map_err(|e| e.to_string())?;
    }
    if let Some(path) = &args.samples {
        let text: String = rtts.iter().map(|r| format!("{r:.1}\n")).collect();
        std::fs::write(path, text).map_err(|e| format!("{path}: {e}"))?;
    }
    if rtts.is_empty() {
        return Err(format!("none of {} frames came back", args.count));
    }
    let mut sorted = rtts.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(format!(
        "latency: {} samples, lost {lost}, late {stale}, min {:.1} us, median {:.1} us, p99 {:.1} us, max {:.1} us",
        sorted.len(),
        sorted[0],
        quantile(&sorted, 0.5),
        quantile(&sorted, 0.99),
        sorted[sorted.len() - 1]
    ))
}

fn main() -> ExitCode {
    let outcome = parse_args().and_then(|args| run(&args));
    match outcome {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(super::quantile(&v, 0.5), 50.0);
        assert_eq!(super::quantile(&v, 0.99), 99.0);
        assert_eq!(super::quantile(&v, 1.0), 100.0);
        assert_eq!(super::quantile(&[7.0], 0.99), 7.0);
    }
}
