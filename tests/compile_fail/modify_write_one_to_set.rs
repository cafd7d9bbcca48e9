// EIMS is write-1-to-set: a read-modify-write would set every bit already set, so `modify`
// does not exist for it.
use rixy::regs::ixgbe::{EIMS, Registers};
use rixy::regs::MemBus;
use tock_registers::interfaces::ReadWriteable;

fn main() {
    let regs = Registers::new(MemBus::new(Registers::<MemBus>::SIZE)).unwrap();
    regs.eims().modify(EIMS::LSC::SET); //~ E0599 "modify" "access::W1s"
}
