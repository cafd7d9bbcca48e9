// RDBAL is indexed by receive queues; a transmit queue number does not fit it.
use rixy::regs::ixgbe::{Registers, TxQueue};
use rixy::regs::MemBus;

fn main() {
    let regs = Registers::new(MemBus::new(Registers::<MemBus>::SIZE)).unwrap();
    let _ = regs.rdbal(TxQueue::at::<0>()); //~ E0308 "RxQueue" "TxQueue"
}
