// GPRC clears when read: a plain `get` would lose the count by accident; only `take` reads it.
use rixy::regs::ixgbe::Registers;
use rixy::regs::MemBus;
use tock_registers::interfaces::Readable;

fn main() {
    let mut regs = Registers::new(MemBus::new(Registers::<MemBus>::SIZE)).unwrap();
    let _ = regs.gprc().get(); //~ E0599 "get" "RcReg"
}
