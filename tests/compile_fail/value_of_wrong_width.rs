// A 16-bit value written into a 32-bit register.
use rixy::regs::ixgbe::Registers;
use rixy::regs::MemBus;
use tock_registers::interfaces::Writeable;

fn main() {
    let regs = Registers::new(MemBus::new(Registers::<MemBus>::SIZE)).unwrap();
    let value: u16 = 0x1234;
    regs.ctrl().set(value); //~ E0308 "u32" "u16"
}
