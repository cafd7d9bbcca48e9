// There are 128 receive queues: queue 128 is refused when it compiles.
use rixy::regs::ixgbe::RxQueue;

fn main() {
    let _ = RxQueue::at::<128>();
}
