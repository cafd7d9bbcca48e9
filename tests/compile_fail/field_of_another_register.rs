// A field of RXDCTL written into CTRL: the field's register type differs.
use rixy::regs::ixgbe::{RXDCTL, Registers};
use rixy::regs::MemBus;
use tock_registers::interfaces::ReadWriteable;

fn main() {
    let regs = Registers::new(MemBus::new(Registers::<MemBus>::SIZE)).unwrap();
    regs.ctrl().modify(RXDCTL::ENABLE::SET); //~ E0308 "CTRL::Register" "RXDCTL::Register"
}
