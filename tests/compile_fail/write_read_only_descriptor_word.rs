// The write-back status of a receive descriptor is the device's: the driver reads it only.
use rixy::regs::ixgbe::adv_rx_desc::View;
use rixy::regs::MemBus;
use tock_registers::interfaces::Writeable;

fn main() {
    let view = View::new(MemBus::new(16)).unwrap();
    view.written_back().status_error().set(1); //~ E0599 "set" "STATUS_ERROR" "access::Ro"
}
