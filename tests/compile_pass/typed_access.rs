// What the register types allow.
use rixy::regs::MemBus;
use rixy::regs::ixgbe::{
    self, CTRL, EICR, EIMC, EIMS, LINKS, RXDCTL, Registers, RxQueue, TXDCTL, TxQueue,
};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

fn main() {
    let mut regs = Registers::new(MemBus::new(Registers::<MemBus>::SIZE)).unwrap();
    let q = RxQueue::at::<127>();
    regs.rxdctl(q).modify(RXDCTL::ENABLE::SET);
    regs.txdctl(TxQueue::at::<0>())
        .modify(TXDCTL::PTHRESH::value::<0x7F>() + TXDCTL::ENABLE::SET);
    let _enabled: bool = regs.rxdctl(q).is_set(RXDCTL::ENABLE);
    regs.ctrl().write(CTRL::RST::SET + CTRL::LRST::SET);
    regs.eimc().write(EIMC::CAUSES::SET);
    regs.eims().write(EIMS::LSC::SET);
    let _speed = regs
        .links()
        .read_as_enum::<LINKS::LINK_SPEED::Value>(LINKS::LINK_SPEED);
    let _packets: u32 = regs.gprc().take();
    let causes = regs.eicr().take_local();
    if causes.is_set(EICR::LSC) {
        regs.eicr().write(EICR::LSC::SET);
    }
    let view = ixgbe::adv_rx_desc::View::new(MemBus::new(16)).unwrap();
    view.to_device().pkt_addr().set(0x1000);
    let _len: u16 = view.written_back().pkt_len().get();
}
