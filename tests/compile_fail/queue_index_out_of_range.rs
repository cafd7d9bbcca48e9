// There are 128 receive queues: queue 128 is refused when it compiles.
use rixy::regs::ixgbe::RxQueue;

fn main() {
    let _ = RxQueue::at::<128>(); //~ E0080 "RxQueue index out of range (0..128)"
}
