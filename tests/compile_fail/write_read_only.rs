// LINKS is read-only: the link state is the device's to report.
use rixy::regs::ixgbe::Registers;
use rixy::regs::MemBus;
use tock_registers::interfaces::Writeable;

fn main() {
    let regs = Registers::new(MemBus::new(Registers::<MemBus>::SIZE)).unwrap();
    regs.links().set(0); //~ E0599 "set" "access::Ro"
}
