// 0x1FF does not fit the 7-bit PTHRESH field: tock-registers' `.val()` would mask it silently;
// rixy's checked builder refuses it when it compiles.
use rixy::regs::ixgbe::TXDCTL;

fn main() {
    let _ = TXDCTL::PTHRESH::value::<0x1FF>(); //~ E0080 "does not fit field TXDCTL.PTHRESH (7 bits)"
}
