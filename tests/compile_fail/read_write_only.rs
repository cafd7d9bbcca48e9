// EIMC (interrupt mask clear) is write-only: it has no value to read.
use rixy::regs::ixgbe::Registers;
use rixy::regs::MemBus;
use tock_registers::interfaces::Readable;

fn main() {
    let regs = Registers::new(MemBus::new(Registers::<MemBus>::SIZE)).unwrap();
    let _ = regs.eimc().get(); //~ E0599 "get" "access::Wo"
}
