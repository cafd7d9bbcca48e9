// Register arrays take their index type, not a bare number that could be out of range.
use rixy::regs::ixgbe::Registers;
use rixy::regs::MemBus;

fn main() {
    let regs = Registers::new(MemBus::new(Registers::<MemBus>::SIZE)).unwrap();
    let _ = regs.rdbal(3); //~ E0308 "RxQueue"
}
