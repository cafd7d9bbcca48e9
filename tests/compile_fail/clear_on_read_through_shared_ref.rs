// A read that clears changes the device, so it needs the register block mutably.
use rixy::regs::ixgbe::Registers;
use rixy::regs::MemBus;

fn packets(regs: &Registers<MemBus>) -> u32 {
    regs.gprc().take() //~ E0596 "regs"
}

fn main() {
    let regs = Registers::new(MemBus::new(Registers::<MemBus>::SIZE)).unwrap();
    let _ = packets(&regs);
}
