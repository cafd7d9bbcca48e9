// @generated from tests/datasheets/good.toml by the register generator (codegen/), as build.rs writes
// registers/*.toml. Kept so that the generated code can be read without building;
// tests/generator.rs fails when the generator's output changes. Renew it with
// RIXY_BLESS=1 cargo test --test generator

/**Sample NIC: registers, fields and descriptor layouts from `registers/sample.toml`.

Source: Sample NIC datasheet. Every item names the section it comes from.*/
#[allow(clippy::all, clippy::pedantic, clippy::unreadable_literal)]
pub mod sample {
    ///A receive queue (0 to 127).
    ///
    /// A register array indexed by this type cannot be reached with a number outside the
    /// range: `new` checks at run time, `at` when it compiles.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub struct RxQueue(u16);
    impl RxQueue {
        /// How many there are.
        pub const COUNT: usize = 0x80_usize;
        /// `n`, if it is in range.
        #[inline]
        pub const fn new(n: usize) -> Option<Self> {
            if n < Self::COUNT { Some(Self(n as u16)) } else { None }
        }
        /// `N`, checked when it compiles.
        #[inline]
        pub const fn at<const N: usize>() -> Self {
            const { assert!(N < 0x80_usize, "RxQueue index out of range (0..128)") };
            Self(N as u16)
        }
        /// The number.
        #[inline]
        pub const fn get(self) -> usize {
            self.0 as usize
        }
        /// Every index, in order.
        pub fn all() -> impl Iterator<Item = Self> {
            (0..Self::COUNT as u16).map(Self)
        }
    }
    impl TryFrom<usize> for RxQueue {
        type Error = crate::Error;
        fn try_from(n: usize) -> Result<Self, crate::Error> {
            Self::new(n)
                .ok_or(crate::Error::IndexOutOfRange {
                    what: "RxQueue",
                    index: n,
                    count: Self::COUNT,
                })
        }
    }
    impl From<RxQueue> for usize {
        fn from(i: RxQueue) -> usize {
            i.get()
        }
    }
    impl core::fmt::Display for RxQueue {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "{}", self.0)
        }
    }
    ///A receive queue with an 82598-compatible register (0 to 15).
    ///
    /// A register array indexed by this type cannot be reached with a number outside the
    /// range: `new` checks at run time, `at` when it compiles.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub struct RxQueue16(u16);
    impl RxQueue16 {
        /// How many there are.
        pub const COUNT: usize = 0x10_usize;
        /// `n`, if it is in range.
        #[inline]
        pub const fn new(n: usize) -> Option<Self> {
            if n < Self::COUNT { Some(Self(n as u16)) } else { None }
        }
        /// `N`, checked when it compiles.
        #[inline]
        pub const fn at<const N: usize>() -> Self {
            const { assert!(N < 0x10_usize, "RxQueue16 index out of range (0..16)") };
            Self(N as u16)
        }
        /// The number.
        #[inline]
        pub const fn get(self) -> usize {
            self.0 as usize
        }
        /// Every index, in order.
        pub fn all() -> impl Iterator<Item = Self> {
            (0..Self::COUNT as u16).map(Self)
        }
    }
    impl TryFrom<usize> for RxQueue16 {
        type Error = crate::Error;
        fn try_from(n: usize) -> Result<Self, crate::Error> {
            Self::new(n)
                .ok_or(crate::Error::IndexOutOfRange {
                    what: "RxQueue16",
                    index: n,
                    count: Self::COUNT,
                })
        }
    }
    impl From<RxQueue16> for usize {
        fn from(i: RxQueue16) -> usize {
            i.get()
        }
    }
    impl core::fmt::Display for RxQueue16 {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "{}", self.0)
        }
    }
    ///The Sample NIC register space (0x20000 bytes) on a bus `B`: MMIO on a mapped BAR, port IO, or a simulator.
    pub struct Registers<B> {
        bus: B,
    }
    impl<B: crate::regs::Bus> Registers<B> {
        /// Size of the register space in bytes.
        pub const SIZE: usize = 0x20000_usize;
        /// Places the register map on `bus`, which must cover the whole register space.
        pub fn new(bus: B) -> Result<Self, crate::Error> {
            if bus.len() < Self::SIZE {
                return Err(crate::Error::BarTooSmall {
                    device: "sample",
                    needed: Self::SIZE,
                    found: bus.len(),
                });
            }
            Ok(Self { bus })
        }
        /// The bus the registers sit on.
        pub fn bus(&self) -> &B {
            &self.bus
        }
        /**CTRL: Device control

Section 8.2.3.1.1 of the Sample NIC datasheet. Offset `0x0`. 32 bits, read/write, reset `0x0`.*/
        #[inline(always)]
        pub fn ctrl(
            &self,
        ) -> crate::regs::Reg<&B, u32, CTRL::Register, crate::regs::access::Rw> {
            // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
            unsafe { crate::regs::Reg::new(&self.bus, 0x0_usize) }
        }
        /**SRRCTL: Split receive control

Section 8.2.3.8.7 of the Sample NIC datasheet. Indexed by [`RxQueue`]; offsets `0x1014 + 0x40·n` for n in 0..64, `0xd014 + 0x40·(n − 64)` for n in 64..128. 32 bits, read/write, reset `0x2`.*/
        #[inline(always)]
        pub fn srrctl(
            &self,
            index: RxQueue,
        ) -> crate::regs::Reg<&B, u32, SRRCTL::Register, crate::regs::access::Rw> {
            let n = index.get();
            let offset = if n < 0x40_usize {
                0x1014_usize + 0x40_usize * n
            } else {
                0xd014_usize + 0x40_usize * (n - 0x40_usize)
            };
            // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
            unsafe { crate::regs::Reg::new(&self.bus, offset) }
        }
        /**SRRCTL_82598: 82598-compatible window onto SRRCTL

Section 8.2.3.8.7 of the Sample NIC datasheet. Indexed by [`RxQueue16`]; offsets `0x2100 + 0x4·n` for n in 0..16. 32 bits, read/write, reset `0x2`. Another address of [`SRRCTL`](Self::srrctl), sharing its fields.*/
        #[inline(always)]
        pub fn srrctl_82598(
            &self,
            index: RxQueue16,
        ) -> crate::regs::Reg<&B, u32, SRRCTL::Register, crate::regs::access::Rw> {
            let n = index.get();
            let offset = 0x2100_usize + 0x4_usize * n;
            // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
            unsafe { crate::regs::Reg::new(&self.bus, offset) }
        }
        /**GPRC: Good packets received

Section 8.2.3.23.18 of the Sample NIC datasheet. Offset `0x4074`. 32 bits, read clears, reset `0x0`. Reading clears it, so the handle is only handed out through `&mut self` and reads with `take`.*/
        #[inline(always)]
        pub fn gprc(
            &mut self,
        ) -> crate::regs::RcReg<&B, u32, GPRC::Register, crate::regs::access::Rc> {
            // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
            unsafe { crate::regs::RcReg::new(&self.bus, 0x4074_usize) }
        }
        /**EICR: Interrupt cause

Section 8.2.3.5.1 of the Sample NIC datasheet. Offset `0x800`. 32 bits, read clears, write 1 to clear, reset `0x0`. Reading clears it, so the handle is only handed out through `&mut self` and reads with `take`.*/
        #[inline(always)]
        pub fn eicr(
            &mut self,
        ) -> crate::regs::RcReg<&B, u32, EICR::Register, crate::regs::access::RcW1c> {
            // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
            unsafe { crate::regs::RcReg::new(&self.bus, 0x800_usize) }
        }
        /**EIMS: Interrupt mask set

Section 8.2.3.5.3 of the Sample NIC datasheet. Offset `0x880`. 32 bits, write 1 to set, reset `0x0`.*/
        #[inline(always)]
        pub fn eims(
            &self,
        ) -> crate::regs::Reg<&B, u32, EIMS::Register, crate::regs::access::W1s> {
            // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
            unsafe { crate::regs::Reg::new(&self.bus, 0x880_usize) }
        }
        /**EIMC: Interrupt mask clear

Section 8.2.3.5.4 of the Sample NIC datasheet. Offset `0x888`. 32 bits, write only, reset `0x0`.*/
        #[inline(always)]
        pub fn eimc(
            &self,
        ) -> crate::regs::Reg<&B, u32, EIMC::Register, crate::regs::access::Wo> {
            // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
            unsafe { crate::regs::Reg::new(&self.bus, 0x888_usize) }
        }
        /**LINKS: Link status

Section 8.2.3.22.20 of the Sample NIC datasheet. Offset `0x42a4`. 32 bits, read only, reset `0x0`.*/
        #[inline(always)]
        pub fn links(
            &self,
        ) -> crate::regs::Reg<&B, u32, LINKS::Register, crate::regs::access::Ro> {
            // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
            unsafe { crate::regs::Reg::new(&self.bus, 0x42a4_usize) }
        }
        /**STATUS8: An 8-bit register

Section 1.1 of the Sample NIC datasheet. Offset `0x10000`. 8 bits, read/write, reset `0x0`.*/
        #[inline(always)]
        pub fn status8(
            &self,
        ) -> crate::regs::Reg<&B, u8, STATUS8::Register, crate::regs::access::Rw> {
            // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
            unsafe { crate::regs::Reg::new(&self.bus, 0x10000_usize) }
        }
    }
    /**Fields of CTRL: Device control

Section 8.2.3.1.1.*/
    #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
    pub mod CTRL {
        #[allow(unused_imports)]
        use tock_registers::fields::{Field, FieldValue, TryFromValue};
        /// The register's name in tock-registers' type system: a field of one register
        /// cannot be used on another.
        #[derive(Clone, Copy, Debug)]
        pub struct Register;
        impl tock_registers::RegisterLongName for Register {}
        /// Width in bits.
        pub const WIDTH: u32 = 32u32;
        /// Value after reset.
        pub const RESET: u32 = 0x0_u32;
        /// Datasheet or specification section.
        pub const SECTION: &str = "8.2.3.1.1";
        ///Link reset (bit 3, read/write).
        pub const LRST: Field<u32, Register> = Field::<
            u32,
            Register,
        >::new(LRST::MASK, LRST::SHIFT);
        ///Link reset (bit 3, read/write).
        pub mod LRST {
            #[allow(unused_imports)]
            use tock_registers::fields::{FieldValue, TryFromValue};
            use super::Register;
            /// Mask of the field, before shifting.
            pub const MASK: u32 = 0x1_u32;
            /// Position of the field's lowest bit.
            pub const SHIFT: usize = 3usize;
            /// Width of the field in bits.
            pub const BITS: u32 = 1u32;
            /// All bits of the field set.
            pub const SET: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, MASK);
            /// All bits of the field clear.
            pub const CLEAR: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, 0);
            /// The field holding `V`, checked when it compiles: a `V` that does not fit the field
            /// is a compile error, never silently masked.
            #[inline]
            pub const fn value<const V: u32>() -> FieldValue<u32, Register> {
                const {
                    assert!(V <= MASK, "value does not fit field CTRL.LRST (1 bits)")
                };
                FieldValue::<u32, Register>::new(MASK, SHIFT, V)
            }
            /// The field holding `v`, or an error naming the field when `v` does not fit.
            #[inline]
            pub fn val_checked(
                v: u32,
            ) -> Result<FieldValue<u32, Register>, crate::Error> {
                if v <= MASK {
                    Ok(FieldValue::<u32, Register>::new(MASK, SHIFT, v))
                } else {
                    Err(crate::Error::FieldOverflow {
                        register: "CTRL",
                        field: stringify!(LRST),
                        bits: BITS,
                        value: v as u64,
                    })
                }
            }
        }
        ///Device reset (bit 26, read/write).
        pub const RST: Field<u32, Register> = Field::<
            u32,
            Register,
        >::new(RST::MASK, RST::SHIFT);
        ///Device reset (bit 26, read/write).
        pub mod RST {
            #[allow(unused_imports)]
            use tock_registers::fields::{FieldValue, TryFromValue};
            use super::Register;
            /// Mask of the field, before shifting.
            pub const MASK: u32 = 0x1_u32;
            /// Position of the field's lowest bit.
            pub const SHIFT: usize = 26usize;
            /// Width of the field in bits.
            pub const BITS: u32 = 1u32;
            /// All bits of the field set.
            pub const SET: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, MASK);
            /// All bits of the field clear.
            pub const CLEAR: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, 0);
            /// The field holding `V`, checked when it compiles: a `V` that does not fit the field
            /// is a compile error, never silently masked.
            #[inline]
            pub const fn value<const V: u32>() -> FieldValue<u32, Register> {
                const {
                    assert!(V <= MASK, "value does not fit field CTRL.RST (1 bits)")
                };
                FieldValue::<u32, Register>::new(MASK, SHIFT, V)
            }
            /// The field holding `v`, or an error naming the field when `v` does not fit.
            #[inline]
            pub fn val_checked(
                v: u32,
            ) -> Result<FieldValue<u32, Register>, crate::Error> {
                if v <= MASK {
                    Ok(FieldValue::<u32, Register>::new(MASK, SHIFT, v))
                } else {
                    Err(crate::Error::FieldOverflow {
                        register: "CTRL",
                        field: stringify!(RST),
                        bits: BITS,
                        value: v as u64,
                    })
                }
            }
        }
    }
    /**Fields of SRRCTL: Split receive control

Section 8.2.3.8.7.*/
    #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
    pub mod SRRCTL {
        #[allow(unused_imports)]
        use tock_registers::fields::{Field, FieldValue, TryFromValue};
        /// The register's name in tock-registers' type system: a field of one register
        /// cannot be used on another.
        #[derive(Clone, Copy, Debug)]
        pub struct Register;
        impl tock_registers::RegisterLongName for Register {}
        /// Width in bits.
        pub const WIDTH: u32 = 32u32;
        /// Value after reset.
        pub const RESET: u32 = 0x2_u32;
        /// Datasheet or specification section.
        pub const SECTION: &str = "8.2.3.8.7";
        ///Receive buffer size in KB (bits 4:0, read/write).
        pub const BSIZEPACKET: Field<u32, Register> = Field::<
            u32,
            Register,
        >::new(BSIZEPACKET::MASK, BSIZEPACKET::SHIFT);
        ///Receive buffer size in KB (bits 4:0, read/write).
        pub mod BSIZEPACKET {
            #[allow(unused_imports)]
            use tock_registers::fields::{FieldValue, TryFromValue};
            use super::Register;
            /// Mask of the field, before shifting.
            pub const MASK: u32 = 0x1f_u32;
            /// Position of the field's lowest bit.
            pub const SHIFT: usize = 0usize;
            /// Width of the field in bits.
            pub const BITS: u32 = 5u32;
            /// All bits of the field set.
            pub const SET: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, MASK);
            /// All bits of the field clear.
            pub const CLEAR: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, 0);
            /// The field holding `V`, checked when it compiles: a `V` that does not fit the field
            /// is a compile error, never silently masked.
            #[inline]
            pub const fn value<const V: u32>() -> FieldValue<u32, Register> {
                const {
                    assert!(
                        V <= MASK, "value does not fit field SRRCTL.BSIZEPACKET (5 bits)"
                    )
                };
                FieldValue::<u32, Register>::new(MASK, SHIFT, V)
            }
            /// The field holding `v`, or an error naming the field when `v` does not fit.
            #[inline]
            pub fn val_checked(
                v: u32,
            ) -> Result<FieldValue<u32, Register>, crate::Error> {
                if v <= MASK {
                    Ok(FieldValue::<u32, Register>::new(MASK, SHIFT, v))
                } else {
                    Err(crate::Error::FieldOverflow {
                        register: "SRRCTL",
                        field: stringify!(BSIZEPACKET),
                        bits: BITS,
                        value: v as u64,
                    })
                }
            }
        }
        ///Descriptor type (bits 27:25, read/write).
        pub const DESCTYPE: Field<u32, Register> = Field::<
            u32,
            Register,
        >::new(DESCTYPE::MASK, DESCTYPE::SHIFT);
        ///Descriptor type (bits 27:25, read/write).
        pub mod DESCTYPE {
            #[allow(unused_imports)]
            use tock_registers::fields::{FieldValue, TryFromValue};
            use super::Register;
            /// Mask of the field, before shifting.
            pub const MASK: u32 = 0x7_u32;
            /// Position of the field's lowest bit.
            pub const SHIFT: usize = 25usize;
            /// Width of the field in bits.
            pub const BITS: u32 = 3u32;
            /// All bits of the field set.
            pub const SET: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, MASK);
            /// All bits of the field clear.
            pub const CLEAR: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, 0);
            ///Legacy (DESCTYPE = 0x0).
            pub const LEGACY: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, 0x0_u32);
            ///Advanced, one buffer (DESCTYPE = 0x1).
            pub const ADV_ONE_BUF: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, 0x1_u32);
            /// The field holding `V`, checked when it compiles: a `V` that does not fit the field
            /// is a compile error, never silently masked.
            #[inline]
            pub const fn value<const V: u32>() -> FieldValue<u32, Register> {
                const {
                    assert!(
                        V <= MASK, "value does not fit field SRRCTL.DESCTYPE (3 bits)"
                    )
                };
                FieldValue::<u32, Register>::new(MASK, SHIFT, V)
            }
            /// The field holding `v`, or an error naming the field when `v` does not fit.
            #[inline]
            pub fn val_checked(
                v: u32,
            ) -> Result<FieldValue<u32, Register>, crate::Error> {
                if v <= MASK {
                    Ok(FieldValue::<u32, Register>::new(MASK, SHIFT, v))
                } else {
                    Err(crate::Error::FieldOverflow {
                        register: "SRRCTL",
                        field: stringify!(DESCTYPE),
                        bits: BITS,
                        value: v as u64,
                    })
                }
            }
            /// The field's named values, for `read_as_enum`.
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            #[repr(u64)]
            pub enum Value {
                ///Legacy
                Legacy = 0,
                ///Advanced, one buffer
                AdvOneBuf = 1,
            }
            impl TryFromValue<u32> for Value {
                type EnumType = Value;
                fn try_from_value(v: u32) -> Option<Value> {
                    match v {
                        0x0_u32 => Some(Value::Legacy),
                        0x1_u32 => Some(Value::AdvOneBuf),
                        _ => None,
                    }
                }
            }
        }
        ///Drop when no descriptors (bit 28, read/write).
        pub const DROP_EN: Field<u32, Register> = Field::<
            u32,
            Register,
        >::new(DROP_EN::MASK, DROP_EN::SHIFT);
        ///Drop when no descriptors (bit 28, read/write).
        pub mod DROP_EN {
            #[allow(unused_imports)]
            use tock_registers::fields::{FieldValue, TryFromValue};
            use super::Register;
            /// Mask of the field, before shifting.
            pub const MASK: u32 = 0x1_u32;
            /// Position of the field's lowest bit.
            pub const SHIFT: usize = 28usize;
            /// Width of the field in bits.
            pub const BITS: u32 = 1u32;
            /// All bits of the field set.
            pub const SET: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, MASK);
            /// All bits of the field clear.
            pub const CLEAR: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, 0);
            /// The field holding `V`, checked when it compiles: a `V` that does not fit the field
            /// is a compile error, never silently masked.
            #[inline]
            pub const fn value<const V: u32>() -> FieldValue<u32, Register> {
                const {
                    assert!(
                        V <= MASK, "value does not fit field SRRCTL.DROP_EN (1 bits)"
                    )
                };
                FieldValue::<u32, Register>::new(MASK, SHIFT, V)
            }
            /// The field holding `v`, or an error naming the field when `v` does not fit.
            #[inline]
            pub fn val_checked(
                v: u32,
            ) -> Result<FieldValue<u32, Register>, crate::Error> {
                if v <= MASK {
                    Ok(FieldValue::<u32, Register>::new(MASK, SHIFT, v))
                } else {
                    Err(crate::Error::FieldOverflow {
                        register: "SRRCTL",
                        field: stringify!(DROP_EN),
                        bits: BITS,
                        value: v as u64,
                    })
                }
            }
        }
    }
    ///Fields of SRRCTL_82598 (another address of SRRCTL): the same as [`SRRCTL`](mod@SRRCTL).
    pub use SRRCTL as SRRCTL_82598;
    /**Fields of GPRC: Good packets received

Section 8.2.3.23.18.*/
    #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
    pub mod GPRC {
        #[allow(unused_imports)]
        use tock_registers::fields::{Field, FieldValue, TryFromValue};
        /// The register's name in tock-registers' type system: a field of one register
        /// cannot be used on another.
        #[derive(Clone, Copy, Debug)]
        pub struct Register;
        impl tock_registers::RegisterLongName for Register {}
        /// Width in bits.
        pub const WIDTH: u32 = 32u32;
        /// Value after reset.
        pub const RESET: u32 = 0x0_u32;
        /// Datasheet or specification section.
        pub const SECTION: &str = "8.2.3.23.18";
    }
    /**Fields of EICR: Interrupt cause

Section 8.2.3.5.1.*/
    #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
    pub mod EICR {
        #[allow(unused_imports)]
        use tock_registers::fields::{Field, FieldValue, TryFromValue};
        /// The register's name in tock-registers' type system: a field of one register
        /// cannot be used on another.
        #[derive(Clone, Copy, Debug)]
        pub struct Register;
        impl tock_registers::RegisterLongName for Register {}
        /// Width in bits.
        pub const WIDTH: u32 = 32u32;
        /// Value after reset.
        pub const RESET: u32 = 0x0_u32;
        /// Datasheet or specification section.
        pub const SECTION: &str = "8.2.3.5.1";
        ///Link status change (bit 20, read clears, write 1 to clear).
        pub const LSC: Field<u32, Register> = Field::<
            u32,
            Register,
        >::new(LSC::MASK, LSC::SHIFT);
        ///Link status change (bit 20, read clears, write 1 to clear).
        pub mod LSC {
            #[allow(unused_imports)]
            use tock_registers::fields::{FieldValue, TryFromValue};
            use super::Register;
            /// Mask of the field, before shifting.
            pub const MASK: u32 = 0x1_u32;
            /// Position of the field's lowest bit.
            pub const SHIFT: usize = 20usize;
            /// Width of the field in bits.
            pub const BITS: u32 = 1u32;
            /// All bits of the field set.
            pub const SET: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, MASK);
            /// All bits of the field clear.
            pub const CLEAR: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, 0);
            /// The field holding `V`, checked when it compiles: a `V` that does not fit the field
            /// is a compile error, never silently masked.
            #[inline]
            pub const fn value<const V: u32>() -> FieldValue<u32, Register> {
                const {
                    assert!(V <= MASK, "value does not fit field EICR.LSC (1 bits)")
                };
                FieldValue::<u32, Register>::new(MASK, SHIFT, V)
            }
            /// The field holding `v`, or an error naming the field when `v` does not fit.
            #[inline]
            pub fn val_checked(
                v: u32,
            ) -> Result<FieldValue<u32, Register>, crate::Error> {
                if v <= MASK {
                    Ok(FieldValue::<u32, Register>::new(MASK, SHIFT, v))
                } else {
                    Err(crate::Error::FieldOverflow {
                        register: "EICR",
                        field: stringify!(LSC),
                        bits: BITS,
                        value: v as u64,
                    })
                }
            }
        }
    }
    /**Fields of EIMS: Interrupt mask set

Section 8.2.3.5.3.*/
    #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
    pub mod EIMS {
        #[allow(unused_imports)]
        use tock_registers::fields::{Field, FieldValue, TryFromValue};
        /// The register's name in tock-registers' type system: a field of one register
        /// cannot be used on another.
        #[derive(Clone, Copy, Debug)]
        pub struct Register;
        impl tock_registers::RegisterLongName for Register {}
        /// Width in bits.
        pub const WIDTH: u32 = 32u32;
        /// Value after reset.
        pub const RESET: u32 = 0x0_u32;
        /// Datasheet or specification section.
        pub const SECTION: &str = "8.2.3.5.3";
    }
    /**Fields of EIMC: Interrupt mask clear

Section 8.2.3.5.4.*/
    #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
    pub mod EIMC {
        #[allow(unused_imports)]
        use tock_registers::fields::{Field, FieldValue, TryFromValue};
        /// The register's name in tock-registers' type system: a field of one register
        /// cannot be used on another.
        #[derive(Clone, Copy, Debug)]
        pub struct Register;
        impl tock_registers::RegisterLongName for Register {}
        /// Width in bits.
        pub const WIDTH: u32 = 32u32;
        /// Value after reset.
        pub const RESET: u32 = 0x0_u32;
        /// Datasheet or specification section.
        pub const SECTION: &str = "8.2.3.5.4";
        ///Clears mask bits (bits 30:0, write only).
        pub const MASK: Field<u32, Register> = Field::<
            u32,
            Register,
        >::new(MASK::MASK, MASK::SHIFT);
        ///Clears mask bits (bits 30:0, write only).
        pub mod MASK {
            #[allow(unused_imports)]
            use tock_registers::fields::{FieldValue, TryFromValue};
            use super::Register;
            /// Mask of the field, before shifting.
            pub const MASK: u32 = 0x7fffffff_u32;
            /// Position of the field's lowest bit.
            pub const SHIFT: usize = 0usize;
            /// Width of the field in bits.
            pub const BITS: u32 = 31u32;
            /// All bits of the field set.
            pub const SET: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, MASK);
            /// All bits of the field clear.
            pub const CLEAR: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, 0);
            /// The field holding `V`, checked when it compiles: a `V` that does not fit the field
            /// is a compile error, never silently masked.
            #[inline]
            pub const fn value<const V: u32>() -> FieldValue<u32, Register> {
                const {
                    assert!(V <= MASK, "value does not fit field EIMC.MASK (31 bits)")
                };
                FieldValue::<u32, Register>::new(MASK, SHIFT, V)
            }
            /// The field holding `v`, or an error naming the field when `v` does not fit.
            #[inline]
            pub fn val_checked(
                v: u32,
            ) -> Result<FieldValue<u32, Register>, crate::Error> {
                if v <= MASK {
                    Ok(FieldValue::<u32, Register>::new(MASK, SHIFT, v))
                } else {
                    Err(crate::Error::FieldOverflow {
                        register: "EIMC",
                        field: stringify!(MASK),
                        bits: BITS,
                        value: v as u64,
                    })
                }
            }
        }
    }
    /**Fields of LINKS: Link status

Section 8.2.3.22.20.*/
    #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
    pub mod LINKS {
        #[allow(unused_imports)]
        use tock_registers::fields::{Field, FieldValue, TryFromValue};
        /// The register's name in tock-registers' type system: a field of one register
        /// cannot be used on another.
        #[derive(Clone, Copy, Debug)]
        pub struct Register;
        impl tock_registers::RegisterLongName for Register {}
        /// Width in bits.
        pub const WIDTH: u32 = 32u32;
        /// Value after reset.
        pub const RESET: u32 = 0x0_u32;
        /// Datasheet or specification section.
        pub const SECTION: &str = "8.2.3.22.20";
        ///Link speed (bits 29:28, read only).
        pub const SPEED: Field<u32, Register> = Field::<
            u32,
            Register,
        >::new(SPEED::MASK, SPEED::SHIFT);
        ///Link speed (bits 29:28, read only).
        pub mod SPEED {
            #[allow(unused_imports)]
            use tock_registers::fields::{FieldValue, TryFromValue};
            use super::Register;
            /// Mask of the field, before shifting.
            pub const MASK: u32 = 0x3_u32;
            /// Position of the field's lowest bit.
            pub const SHIFT: usize = 28usize;
            /// Width of the field in bits.
            pub const BITS: u32 = 2u32;
            /// All bits of the field set.
            pub const SET: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, MASK);
            /// All bits of the field clear.
            pub const CLEAR: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, 0);
            ///10 Gb/s (SPEED = 0x3).
            pub const SPEED_10G: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, 0x3_u32);
            /// The field holding `V`, checked when it compiles: a `V` that does not fit the field
            /// is a compile error, never silently masked.
            #[inline]
            pub const fn value<const V: u32>() -> FieldValue<u32, Register> {
                const {
                    assert!(V <= MASK, "value does not fit field LINKS.SPEED (2 bits)")
                };
                FieldValue::<u32, Register>::new(MASK, SHIFT, V)
            }
            /// The field holding `v`, or an error naming the field when `v` does not fit.
            #[inline]
            pub fn val_checked(
                v: u32,
            ) -> Result<FieldValue<u32, Register>, crate::Error> {
                if v <= MASK {
                    Ok(FieldValue::<u32, Register>::new(MASK, SHIFT, v))
                } else {
                    Err(crate::Error::FieldOverflow {
                        register: "LINKS",
                        field: stringify!(SPEED),
                        bits: BITS,
                        value: v as u64,
                    })
                }
            }
            /// The field's named values, for `read_as_enum`.
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            #[repr(u64)]
            pub enum Value {
                ///10 Gb/s
                Speed10g = 3,
            }
            impl TryFromValue<u32> for Value {
                type EnumType = Value;
                fn try_from_value(v: u32) -> Option<Value> {
                    match v {
                        0x3_u32 => Some(Value::Speed10g),
                        _ => None,
                    }
                }
            }
        }
        ///Link up (bit 30, read only).
        pub const UP: Field<u32, Register> = Field::<
            u32,
            Register,
        >::new(UP::MASK, UP::SHIFT);
        ///Link up (bit 30, read only).
        pub mod UP {
            #[allow(unused_imports)]
            use tock_registers::fields::{FieldValue, TryFromValue};
            use super::Register;
            /// Mask of the field, before shifting.
            pub const MASK: u32 = 0x1_u32;
            /// Position of the field's lowest bit.
            pub const SHIFT: usize = 30usize;
            /// Width of the field in bits.
            pub const BITS: u32 = 1u32;
            /// All bits of the field set.
            pub const SET: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, MASK);
            /// All bits of the field clear.
            pub const CLEAR: FieldValue<u32, Register> = FieldValue::<
                u32,
                Register,
            >::new(MASK, SHIFT, 0);
            /// The field holding `V`, checked when it compiles: a `V` that does not fit the field
            /// is a compile error, never silently masked.
            #[inline]
            pub const fn value<const V: u32>() -> FieldValue<u32, Register> {
                const {
                    assert!(V <= MASK, "value does not fit field LINKS.UP (1 bits)")
                };
                FieldValue::<u32, Register>::new(MASK, SHIFT, V)
            }
            /// The field holding `v`, or an error naming the field when `v` does not fit.
            #[inline]
            pub fn val_checked(
                v: u32,
            ) -> Result<FieldValue<u32, Register>, crate::Error> {
                if v <= MASK {
                    Ok(FieldValue::<u32, Register>::new(MASK, SHIFT, v))
                } else {
                    Err(crate::Error::FieldOverflow {
                        register: "LINKS",
                        field: stringify!(UP),
                        bits: BITS,
                        value: v as u64,
                    })
                }
            }
        }
    }
    /**Fields of STATUS8: An 8-bit register

Section 1.1.*/
    #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
    pub mod STATUS8 {
        #[allow(unused_imports)]
        use tock_registers::fields::{Field, FieldValue, TryFromValue};
        /// The register's name in tock-registers' type system: a field of one register
        /// cannot be used on another.
        #[derive(Clone, Copy, Debug)]
        pub struct Register;
        impl tock_registers::RegisterLongName for Register {}
        /// Width in bits.
        pub const WIDTH: u32 = 8u32;
        /// Value after reset.
        pub const RESET: u8 = 0x0_u8;
        /// Datasheet or specification section.
        pub const SECTION: &str = "1.1";
    }
    ///The memory image of one ADV_RX_DESC: 16 bytes, aligned to 16.
    #[repr(C, align(16))]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct AdvRxDesc(pub [u8; 16]);
    const _: () = assert!(core::mem::size_of:: < AdvRxDesc > () == 0x10_usize);
    impl Default for AdvRxDesc {
        fn default() -> Self {
            Self([0; 16])
        }
    }
    impl crate::regs::Descriptor for AdvRxDesc {
        type View = adv_rx_desc::View<crate::regs::Mmio>;
        const SIZE: usize = 0x10_usize;
        const ALIGN: usize = 16;
        #[inline(always)]
        unsafe fn view(ptr: core::ptr::NonNull<u8>) -> Self::View {
            adv_rx_desc::View {
                // SAFETY: `view`'s caller guarantees that `ptr` points to the descriptor's bytes, live and aligned.
                bus: unsafe { crate::regs::Mmio::new(ptr, 0x10_usize) },
            }
        }
    }
    /**Advanced receive descriptor

Section 7.1.6 of the Sample NIC datasheet. 16 bytes.*/
    #[allow(non_snake_case)]
    pub mod adv_rx_desc {
        /// Size in bytes.
        pub const SIZE: usize = 0x10_usize;
        /// Alignment in bytes.
        pub const ALIGN: usize = 16;
        ///Typed access to one ADV_RX_DESC in memory shared with the device, through a bus that covers its 16 bytes. Its formats: [`to_device`](Self::to_device), [`written_back`](Self::written_back).
        pub struct View<B> {
            pub(super) bus: B,
        }
        impl<B: crate::regs::Bus> View<B> {
            /// Views the descriptor at the start of `bus`, if the bus covers all of it.
            #[inline(always)]
            pub fn new(bus: B) -> Result<Self, crate::Error> {
                if bus.len() < SIZE {
                    return Err(crate::Error::BarTooSmall {
                        device: stringify!(AdvRxDesc),
                        needed: SIZE,
                        found: bus.len(),
                    });
                }
                Ok(Self { bus })
            }
            /// The bus the view reads and writes through.
            pub fn bus(&self) -> &B {
                &self.bus
            }
            ///The ADV_RX_DESC in its TO_DEVICE format (section 7.1.6.1): Read format.
            #[inline(always)]
            pub fn to_device(&self) -> to_device::View<'_, B> {
                to_device::View { bus: &self.bus }
            }
            ///The ADV_RX_DESC in its WRITTEN_BACK format (section 7.1.6.2): Write-back format.
            #[inline(always)]
            pub fn written_back(&self) -> written_back::View<'_, B> {
                written_back::View {
                    bus: &self.bus,
                }
            }
        }
        /**The TO_DEVICE format of ADV_RX_DESC: Read format

Section 7.1.6.1.*/
        #[allow(non_snake_case)]
        pub mod to_device {
            ///Byte offset of TO_DEVICE.PKT_ADDR in the descriptor.
            pub const PKT_ADDR_OFFSET: usize = 0x0_usize;
            ///Byte offset of TO_DEVICE.HDR_ADDR in the descriptor.
            pub const HDR_ADDR_OFFSET: usize = 0x8_usize;
            ///One ADV_RX_DESC read as its TO_DEVICE format; made by the descriptor's [`View`](super::View).
            pub struct View<'a, B> {
                pub(super) bus: &'a B,
            }
            impl<'a, B: crate::regs::Bus> View<'a, B> {
                ///PKT_ADDR (TO_DEVICE format): Packet buffer address. Bytes 0..8 of the descriptor, write only.
                #[inline(always)]
                pub fn pkt_addr(
                    &self,
                ) -> crate::regs::Reg<
                    &'a B,
                    u64,
                    PKT_ADDR::Register,
                    crate::regs::access::Wo,
                > {
                    // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
                    unsafe { crate::regs::Reg::new(self.bus, 0x0_usize) }
                }
                ///HDR_ADDR (TO_DEVICE format): Header buffer address. Bytes 8..16 of the descriptor, write only.
                #[inline(always)]
                pub fn hdr_addr(
                    &self,
                ) -> crate::regs::Reg<
                    &'a B,
                    u64,
                    HDR_ADDR::Register,
                    crate::regs::access::Wo,
                > {
                    // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
                    unsafe { crate::regs::Reg::new(self.bus, 0x8_usize) }
                }
            }
            /**Fields of TO_DEVICE.PKT_ADDR: Packet buffer address (in the TO_DEVICE format: Read format)

Section 7.1.6.1.*/
            #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
            pub mod PKT_ADDR {
                #[allow(unused_imports)]
                use tock_registers::fields::{Field, FieldValue, TryFromValue};
                /// The register's name in tock-registers' type system: a field of one register
                /// cannot be used on another.
                #[derive(Clone, Copy, Debug)]
                pub struct Register;
                impl tock_registers::RegisterLongName for Register {}
                /// Width in bits.
                pub const WIDTH: u32 = 64u32;
                /// Value after reset.
                pub const RESET: u64 = 0x0_u64;
                /// Datasheet or specification section.
                pub const SECTION: &str = "7.1.6.1";
            }
            /**Fields of TO_DEVICE.HDR_ADDR: Header buffer address (in the TO_DEVICE format: Read format)

Section 7.1.6.1.*/
            #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
            pub mod HDR_ADDR {
                #[allow(unused_imports)]
                use tock_registers::fields::{Field, FieldValue, TryFromValue};
                /// The register's name in tock-registers' type system: a field of one register
                /// cannot be used on another.
                #[derive(Clone, Copy, Debug)]
                pub struct Register;
                impl tock_registers::RegisterLongName for Register {}
                /// Width in bits.
                pub const WIDTH: u32 = 64u32;
                /// Value after reset.
                pub const RESET: u64 = 0x0_u64;
                /// Datasheet or specification section.
                pub const SECTION: &str = "7.1.6.1";
            }
        }
        /**The WRITTEN_BACK format of ADV_RX_DESC: Write-back format

Section 7.1.6.2.*/
        #[allow(non_snake_case)]
        pub mod written_back {
            ///Byte offset of WRITTEN_BACK.INFO in the descriptor.
            pub const INFO_OFFSET: usize = 0x0_usize;
            ///Byte offset of WRITTEN_BACK.HASH in the descriptor.
            pub const HASH_OFFSET: usize = 0x4_usize;
            ///Byte offset of WRITTEN_BACK.STATUS_ERROR in the descriptor.
            pub const STATUS_ERROR_OFFSET: usize = 0x8_usize;
            ///Byte offset of WRITTEN_BACK.LENGTH in the descriptor.
            pub const LENGTH_OFFSET: usize = 0xc_usize;
            ///Byte offset of WRITTEN_BACK.VLAN in the descriptor.
            pub const VLAN_OFFSET: usize = 0xe_usize;
            ///One ADV_RX_DESC read as its WRITTEN_BACK format; made by the descriptor's [`View`](super::View).
            pub struct View<'a, B> {
                pub(super) bus: &'a B,
            }
            impl<'a, B: crate::regs::Bus> View<'a, B> {
                ///INFO (WRITTEN_BACK format): Packet info. Bytes 0..4 of the descriptor, read only.
                #[inline(always)]
                pub fn info(
                    &self,
                ) -> crate::regs::Reg<
                    &'a B,
                    u32,
                    INFO::Register,
                    crate::regs::access::Ro,
                > {
                    // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
                    unsafe { crate::regs::Reg::new(self.bus, 0x0_usize) }
                }
                ///HASH (WRITTEN_BACK format): RSS hash. Bytes 4..8 of the descriptor, read only.
                #[inline(always)]
                pub fn hash(
                    &self,
                ) -> crate::regs::Reg<
                    &'a B,
                    u32,
                    HASH::Register,
                    crate::regs::access::Ro,
                > {
                    // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
                    unsafe { crate::regs::Reg::new(self.bus, 0x4_usize) }
                }
                ///STATUS_ERROR (WRITTEN_BACK format): Status and errors. Bytes 8..12 of the descriptor, read only.
                #[inline(always)]
                pub fn status_error(
                    &self,
                ) -> crate::regs::Reg<
                    &'a B,
                    u32,
                    STATUS_ERROR::Register,
                    crate::regs::access::Ro,
                > {
                    // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
                    unsafe { crate::regs::Reg::new(self.bus, 0x8_usize) }
                }
                ///LENGTH (WRITTEN_BACK format): Packet length. Bytes 12..14 of the descriptor, read only.
                #[inline(always)]
                pub fn length(
                    &self,
                ) -> crate::regs::Reg<
                    &'a B,
                    u16,
                    LENGTH::Register,
                    crate::regs::access::Ro,
                > {
                    // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
                    unsafe { crate::regs::Reg::new(self.bus, 0xc_usize) }
                }
                ///VLAN (WRITTEN_BACK format): VLAN tag. Bytes 14..16 of the descriptor, read only.
                #[inline(always)]
                pub fn vlan(
                    &self,
                ) -> crate::regs::Reg<
                    &'a B,
                    u16,
                    VLAN::Register,
                    crate::regs::access::Ro,
                > {
                    // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
                    unsafe { crate::regs::Reg::new(self.bus, 0xe_usize) }
                }
            }
            /**Fields of WRITTEN_BACK.INFO: Packet info (in the WRITTEN_BACK format: Write-back format)

Section 7.1.6.2.*/
            #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
            pub mod INFO {
                #[allow(unused_imports)]
                use tock_registers::fields::{Field, FieldValue, TryFromValue};
                /// The register's name in tock-registers' type system: a field of one register
                /// cannot be used on another.
                #[derive(Clone, Copy, Debug)]
                pub struct Register;
                impl tock_registers::RegisterLongName for Register {}
                /// Width in bits.
                pub const WIDTH: u32 = 32u32;
                /// Value after reset.
                pub const RESET: u32 = 0x0_u32;
                /// Datasheet or specification section.
                pub const SECTION: &str = "7.1.6.2";
            }
            /**Fields of WRITTEN_BACK.HASH: RSS hash (in the WRITTEN_BACK format: Write-back format)

Section 7.1.6.2.*/
            #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
            pub mod HASH {
                #[allow(unused_imports)]
                use tock_registers::fields::{Field, FieldValue, TryFromValue};
                /// The register's name in tock-registers' type system: a field of one register
                /// cannot be used on another.
                #[derive(Clone, Copy, Debug)]
                pub struct Register;
                impl tock_registers::RegisterLongName for Register {}
                /// Width in bits.
                pub const WIDTH: u32 = 32u32;
                /// Value after reset.
                pub const RESET: u32 = 0x0_u32;
                /// Datasheet or specification section.
                pub const SECTION: &str = "7.1.6.2";
            }
            /**Fields of WRITTEN_BACK.STATUS_ERROR: Status and errors (in the WRITTEN_BACK format: Write-back format)

Section 7.1.6.2.*/
            #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
            pub mod STATUS_ERROR {
                #[allow(unused_imports)]
                use tock_registers::fields::{Field, FieldValue, TryFromValue};
                /// The register's name in tock-registers' type system: a field of one register
                /// cannot be used on another.
                #[derive(Clone, Copy, Debug)]
                pub struct Register;
                impl tock_registers::RegisterLongName for Register {}
                /// Width in bits.
                pub const WIDTH: u32 = 32u32;
                /// Value after reset.
                pub const RESET: u32 = 0x0_u32;
                /// Datasheet or specification section.
                pub const SECTION: &str = "7.1.6.2";
                ///Descriptor done (bit 0, read only).
                pub const DD: Field<u32, Register> = Field::<
                    u32,
                    Register,
                >::new(DD::MASK, DD::SHIFT);
                ///Descriptor done (bit 0, read only).
                pub mod DD {
                    #[allow(unused_imports)]
                    use tock_registers::fields::{FieldValue, TryFromValue};
                    use super::Register;
                    /// Mask of the field, before shifting.
                    pub const MASK: u32 = 0x1_u32;
                    /// Position of the field's lowest bit.
                    pub const SHIFT: usize = 0usize;
                    /// Width of the field in bits.
                    pub const BITS: u32 = 1u32;
                    /// All bits of the field set.
                    pub const SET: FieldValue<u32, Register> = FieldValue::<
                        u32,
                        Register,
                    >::new(MASK, SHIFT, MASK);
                    /// All bits of the field clear.
                    pub const CLEAR: FieldValue<u32, Register> = FieldValue::<
                        u32,
                        Register,
                    >::new(MASK, SHIFT, 0);
                    /// The field holding `V`, checked when it compiles: a `V` that does not fit the field
                    /// is a compile error, never silently masked.
                    #[inline]
                    pub const fn value<const V: u32>() -> FieldValue<u32, Register> {
                        const {
                            assert!(
                                V <= MASK,
                                "value does not fit field WRITTEN_BACK.STATUS_ERROR.DD (1 bits)"
                            )
                        };
                        FieldValue::<u32, Register>::new(MASK, SHIFT, V)
                    }
                    /// The field holding `v`, or an error naming the field when `v` does not fit.
                    #[inline]
                    pub fn val_checked(
                        v: u32,
                    ) -> Result<FieldValue<u32, Register>, crate::Error> {
                        if v <= MASK {
                            Ok(FieldValue::<u32, Register>::new(MASK, SHIFT, v))
                        } else {
                            Err(crate::Error::FieldOverflow {
                                register: "WRITTEN_BACK.STATUS_ERROR",
                                field: stringify!(DD),
                                bits: BITS,
                                value: v as u64,
                            })
                        }
                    }
                }
                ///End of packet (bit 1, read only).
                pub const EOP: Field<u32, Register> = Field::<
                    u32,
                    Register,
                >::new(EOP::MASK, EOP::SHIFT);
                ///End of packet (bit 1, read only).
                pub mod EOP {
                    #[allow(unused_imports)]
                    use tock_registers::fields::{FieldValue, TryFromValue};
                    use super::Register;
                    /// Mask of the field, before shifting.
                    pub const MASK: u32 = 0x1_u32;
                    /// Position of the field's lowest bit.
                    pub const SHIFT: usize = 1usize;
                    /// Width of the field in bits.
                    pub const BITS: u32 = 1u32;
                    /// All bits of the field set.
                    pub const SET: FieldValue<u32, Register> = FieldValue::<
                        u32,
                        Register,
                    >::new(MASK, SHIFT, MASK);
                    /// All bits of the field clear.
                    pub const CLEAR: FieldValue<u32, Register> = FieldValue::<
                        u32,
                        Register,
                    >::new(MASK, SHIFT, 0);
                    /// The field holding `V`, checked when it compiles: a `V` that does not fit the field
                    /// is a compile error, never silently masked.
                    #[inline]
                    pub const fn value<const V: u32>() -> FieldValue<u32, Register> {
                        const {
                            assert!(
                                V <= MASK,
                                "value does not fit field WRITTEN_BACK.STATUS_ERROR.EOP (1 bits)"
                            )
                        };
                        FieldValue::<u32, Register>::new(MASK, SHIFT, V)
                    }
                    /// The field holding `v`, or an error naming the field when `v` does not fit.
                    #[inline]
                    pub fn val_checked(
                        v: u32,
                    ) -> Result<FieldValue<u32, Register>, crate::Error> {
                        if v <= MASK {
                            Ok(FieldValue::<u32, Register>::new(MASK, SHIFT, v))
                        } else {
                            Err(crate::Error::FieldOverflow {
                                register: "WRITTEN_BACK.STATUS_ERROR",
                                field: stringify!(EOP),
                                bits: BITS,
                                value: v as u64,
                            })
                        }
                    }
                }
            }
            /**Fields of WRITTEN_BACK.LENGTH: Packet length (in the WRITTEN_BACK format: Write-back format)

Section 7.1.6.2.*/
            #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
            pub mod LENGTH {
                #[allow(unused_imports)]
                use tock_registers::fields::{Field, FieldValue, TryFromValue};
                /// The register's name in tock-registers' type system: a field of one register
                /// cannot be used on another.
                #[derive(Clone, Copy, Debug)]
                pub struct Register;
                impl tock_registers::RegisterLongName for Register {}
                /// Width in bits.
                pub const WIDTH: u32 = 16u32;
                /// Value after reset.
                pub const RESET: u16 = 0x0_u16;
                /// Datasheet or specification section.
                pub const SECTION: &str = "7.1.6.2";
            }
            /**Fields of WRITTEN_BACK.VLAN: VLAN tag (in the WRITTEN_BACK format: Write-back format)

Section 7.1.6.2.*/
            #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
            pub mod VLAN {
                #[allow(unused_imports)]
                use tock_registers::fields::{Field, FieldValue, TryFromValue};
                /// The register's name in tock-registers' type system: a field of one register
                /// cannot be used on another.
                #[derive(Clone, Copy, Debug)]
                pub struct Register;
                impl tock_registers::RegisterLongName for Register {}
                /// Width in bits.
                pub const WIDTH: u32 = 16u32;
                /// Value after reset.
                pub const RESET: u16 = 0x0_u16;
                /// Datasheet or specification section.
                pub const SECTION: &str = "7.1.6.2";
            }
        }
    }
    ///The memory image of one VIRTQ_USED_ELEM: 8 bytes, aligned to 4.
    #[repr(C, align(4))]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct VirtqUsedElem(pub [u8; 8]);
    const _: () = assert!(core::mem::size_of:: < VirtqUsedElem > () == 0x8_usize);
    impl Default for VirtqUsedElem {
        fn default() -> Self {
            Self([0; 8])
        }
    }
    impl crate::regs::Descriptor for VirtqUsedElem {
        type View = virtq_used_elem::View<crate::regs::Mmio>;
        const SIZE: usize = 0x8_usize;
        const ALIGN: usize = 4;
        #[inline(always)]
        unsafe fn view(ptr: core::ptr::NonNull<u8>) -> Self::View {
            virtq_used_elem::View {
                // SAFETY: `view`'s caller guarantees that `ptr` points to the descriptor's bytes, live and aligned.
                bus: unsafe { crate::regs::Mmio::new(ptr, 0x8_usize) },
            }
        }
    }
    /**Used ring element

Section 2.4.8 of the Sample NIC datasheet. 8 bytes.*/
    #[allow(non_snake_case)]
    pub mod virtq_used_elem {
        /// Size in bytes.
        pub const SIZE: usize = 0x8_usize;
        /// Alignment in bytes.
        pub const ALIGN: usize = 4;
        ///Byte offset of ID in the descriptor.
        pub const ID_OFFSET: usize = 0x0_usize;
        ///Byte offset of LEN in the descriptor.
        pub const LEN_OFFSET: usize = 0x4_usize;
        ///Typed access to one VIRTQ_USED_ELEM in memory shared with the device, through a bus that covers its 8 bytes.
        pub struct View<B> {
            pub(super) bus: B,
        }
        impl<B: crate::regs::Bus> View<B> {
            /// Views the descriptor at the start of `bus`, if the bus covers all of it.
            #[inline(always)]
            pub fn new(bus: B) -> Result<Self, crate::Error> {
                if bus.len() < SIZE {
                    return Err(crate::Error::BarTooSmall {
                        device: stringify!(VirtqUsedElem),
                        needed: SIZE,
                        found: bus.len(),
                    });
                }
                Ok(Self { bus })
            }
            /// The bus the view reads and writes through.
            pub fn bus(&self) -> &B {
                &self.bus
            }
            ///ID: Head of the used chain. Bytes 0..4 of the descriptor, read only.
            #[inline(always)]
            pub fn id(
                &self,
            ) -> crate::regs::Reg<&B, u32, ID::Register, crate::regs::access::Ro> {
                // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
                unsafe { crate::regs::Reg::new(&self.bus, 0x0_usize) }
            }
            ///LEN: Bytes written. Bytes 4..8 of the descriptor, read only.
            #[inline(always)]
            pub fn len(
                &self,
            ) -> crate::regs::Reg<&B, u32, LEN::Register, crate::regs::access::Ro> {
                // SAFETY: the generator checked that this offset is aligned and lies inside the declared space, and `new` checked that the bus covers all of that space.
                unsafe { crate::regs::Reg::new(&self.bus, 0x4_usize) }
            }
        }
        /**Fields of ID: Head of the used chain (in the descriptor: Used ring element)

Section 2.4.8.*/
        #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
        pub mod ID {
            #[allow(unused_imports)]
            use tock_registers::fields::{Field, FieldValue, TryFromValue};
            /// The register's name in tock-registers' type system: a field of one register
            /// cannot be used on another.
            #[derive(Clone, Copy, Debug)]
            pub struct Register;
            impl tock_registers::RegisterLongName for Register {}
            /// Width in bits.
            pub const WIDTH: u32 = 32u32;
            /// Value after reset.
            pub const RESET: u32 = 0x0_u32;
            /// Datasheet or specification section.
            pub const SECTION: &str = "2.4.8";
        }
        /**Fields of LEN: Bytes written (in the descriptor: Used ring element)

Section 2.4.8.*/
        #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
        pub mod LEN {
            #[allow(unused_imports)]
            use tock_registers::fields::{Field, FieldValue, TryFromValue};
            /// The register's name in tock-registers' type system: a field of one register
            /// cannot be used on another.
            #[derive(Clone, Copy, Debug)]
            pub struct Register;
            impl tock_registers::RegisterLongName for Register {}
            /// Width in bits.
            pub const WIDTH: u32 = 32u32;
            /// Value after reset.
            pub const RESET: u32 = 0x0_u32;
            /// Datasheet or specification section.
            pub const SECTION: &str = "2.4.8";
        }
    }
    ///Legacy used-ring alignment (section 4.1.4.8).
    pub const QUEUE_ALIGN: usize = 0x1000;
    /// Every register of the device, for code that decodes accesses by offset (the simulator).
    #[allow(non_camel_case_types)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    #[repr(u16)]
    pub enum RegisterId {
        ///Device control (section 8.2.3.1.1).
        CTRL,
        ///Split receive control (section 8.2.3.8.7).
        SRRCTL,
        ///82598-compatible window onto SRRCTL (section 8.2.3.8.7).
        SRRCTL_82598,
        ///Good packets received (section 8.2.3.23.18).
        GPRC,
        ///Interrupt cause (section 8.2.3.5.1).
        EICR,
        ///Interrupt mask set (section 8.2.3.5.3).
        EIMS,
        ///Interrupt mask clear (section 8.2.3.5.4).
        EIMC,
        ///Link status (section 8.2.3.22.20).
        LINKS,
        ///An 8-bit register (section 1.1).
        STATUS8,
    }
    /// What the datasheet file says of one register.
    pub use crate::regs::RegisterInfo;
    static INFO: [RegisterInfo<RegisterId>; 9usize] = [
        RegisterInfo {
            name: "CTRL",
            width: 32u32,
            access: crate::regs::Access::Rw,
            reset: 0,
            section: "8.2.3.1.1",
            doc: "Device control",
            count: 1usize,
            alias_of: None,
        },
        RegisterInfo {
            name: "SRRCTL",
            width: 32u32,
            access: crate::regs::Access::Rw,
            reset: 2,
            section: "8.2.3.8.7",
            doc: "Split receive control",
            count: 128usize,
            alias_of: None,
        },
        RegisterInfo {
            name: "SRRCTL_82598",
            width: 32u32,
            access: crate::regs::Access::Rw,
            reset: 2,
            section: "8.2.3.8.7",
            doc: "82598-compatible window onto SRRCTL",
            count: 16usize,
            alias_of: Some(RegisterId::SRRCTL),
        },
        RegisterInfo {
            name: "GPRC",
            width: 32u32,
            access: crate::regs::Access::Rc,
            reset: 0,
            section: "8.2.3.23.18",
            doc: "Good packets received",
            count: 1usize,
            alias_of: None,
        },
        RegisterInfo {
            name: "EICR",
            width: 32u32,
            access: crate::regs::Access::RcW1c,
            reset: 0,
            section: "8.2.3.5.1",
            doc: "Interrupt cause",
            count: 1usize,
            alias_of: None,
        },
        RegisterInfo {
            name: "EIMS",
            width: 32u32,
            access: crate::regs::Access::W1s,
            reset: 0,
            section: "8.2.3.5.3",
            doc: "Interrupt mask set",
            count: 1usize,
            alias_of: None,
        },
        RegisterInfo {
            name: "EIMC",
            width: 32u32,
            access: crate::regs::Access::Wo,
            reset: 0,
            section: "8.2.3.5.4",
            doc: "Interrupt mask clear",
            count: 1usize,
            alias_of: None,
        },
        RegisterInfo {
            name: "LINKS",
            width: 32u32,
            access: crate::regs::Access::Ro,
            reset: 0,
            section: "8.2.3.22.20",
            doc: "Link status",
            count: 1usize,
            alias_of: None,
        },
        RegisterInfo {
            name: "STATUS8",
            width: 8u32,
            access: crate::regs::Access::Rw,
            reset: 0,
            section: "1.1",
            doc: "An 8-bit register",
            count: 1usize,
            alias_of: None,
        },
    ];
    impl RegisterId {
        /// The register's declaration.
        #[inline]
        pub fn info(self) -> &'static RegisterInfo<RegisterId> {
            &INFO[self as usize]
        }
        /// Every register, in declaration order.
        pub fn all() -> impl Iterator<Item = RegisterId> {
            MAP.iter()
                .map(|&(_, id, _)| id)
                .filter({
                    let mut seen = [false; 9usize];
                    move |id| !core::mem::replace(&mut seen[*id as usize], true)
                })
        }
    }
    /// Every register element by offset: (offset, register, element index), sorted by offset.
    pub static MAP: [(u32, RegisterId, u16); 151usize] = [
        (0, RegisterId::CTRL, 0),
        (2048, RegisterId::EICR, 0),
        (2176, RegisterId::EIMS, 0),
        (2184, RegisterId::EIMC, 0),
        (4116, RegisterId::SRRCTL, 0),
        (4180, RegisterId::SRRCTL, 1),
        (4244, RegisterId::SRRCTL, 2),
        (4308, RegisterId::SRRCTL, 3),
        (4372, RegisterId::SRRCTL, 4),
        (4436, RegisterId::SRRCTL, 5),
        (4500, RegisterId::SRRCTL, 6),
        (4564, RegisterId::SRRCTL, 7),
        (4628, RegisterId::SRRCTL, 8),
        (4692, RegisterId::SRRCTL, 9),
        (4756, RegisterId::SRRCTL, 10),
        (4820, RegisterId::SRRCTL, 11),
        (4884, RegisterId::SRRCTL, 12),
        (4948, RegisterId::SRRCTL, 13),
        (5012, RegisterId::SRRCTL, 14),
        (5076, RegisterId::SRRCTL, 15),
        (5140, RegisterId::SRRCTL, 16),
        (5204, RegisterId::SRRCTL, 17),
        (5268, RegisterId::SRRCTL, 18),
        (5332, RegisterId::SRRCTL, 19),
        (5396, RegisterId::SRRCTL, 20),
        (5460, RegisterId::SRRCTL, 21),
        (5524, RegisterId::SRRCTL, 22),
        (5588, RegisterId::SRRCTL, 23),
        (5652, RegisterId::SRRCTL, 24),
        (5716, RegisterId::SRRCTL, 25),
        (5780, RegisterId::SRRCTL, 26),
        (5844, RegisterId::SRRCTL, 27),
        (5908, RegisterId::SRRCTL, 28),
        (5972, RegisterId::SRRCTL, 29),
        (6036, RegisterId::SRRCTL, 30),
        (6100, RegisterId::SRRCTL, 31),
        (6164, RegisterId::SRRCTL, 32),
        (6228, RegisterId::SRRCTL, 33),
        (6292, RegisterId::SRRCTL, 34),
        (6356, RegisterId::SRRCTL, 35),
        (6420, RegisterId::SRRCTL, 36),
        (6484, RegisterId::SRRCTL, 37),
        (6548, RegisterId::SRRCTL, 38),
        (6612, RegisterId::SRRCTL, 39),
        (6676, RegisterId::SRRCTL, 40),
        (6740, RegisterId::SRRCTL, 41),
        (6804, RegisterId::SRRCTL, 42),
        (6868, RegisterId::SRRCTL, 43),
        (6932, RegisterId::SRRCTL, 44),
        (6996, RegisterId::SRRCTL, 45),
        (7060, RegisterId::SRRCTL, 46),
        (7124, RegisterId::SRRCTL, 47),
        (7188, RegisterId::SRRCTL, 48),
        (7252, RegisterId::SRRCTL, 49),
        (7316, RegisterId::SRRCTL, 50),
        (7380, RegisterId::SRRCTL, 51),
        (7444, RegisterId::SRRCTL, 52),
        (7508, RegisterId::SRRCTL, 53),
        (7572, RegisterId::SRRCTL, 54),
        (7636, RegisterId::SRRCTL, 55),
        (7700, RegisterId::SRRCTL, 56),
        (7764, RegisterId::SRRCTL, 57),
        (7828, RegisterId::SRRCTL, 58),
        (7892, RegisterId::SRRCTL, 59),
        (7956, RegisterId::SRRCTL, 60),
        (8020, RegisterId::SRRCTL, 61),
        (8084, RegisterId::SRRCTL, 62),
        (8148, RegisterId::SRRCTL, 63),
        (8448, RegisterId::SRRCTL_82598, 0),
        (8452, RegisterId::SRRCTL_82598, 1),
        (8456, RegisterId::SRRCTL_82598, 2),
        (8460, RegisterId::SRRCTL_82598, 3),
        (8464, RegisterId::SRRCTL_82598, 4),
        (8468, RegisterId::SRRCTL_82598, 5),
        (8472, RegisterId::SRRCTL_82598, 6),
        (8476, RegisterId::SRRCTL_82598, 7),
        (8480, RegisterId::SRRCTL_82598, 8),
        (8484, RegisterId::SRRCTL_82598, 9),
        (8488, RegisterId::SRRCTL_82598, 10),
        (8492, RegisterId::SRRCTL_82598, 11),
        (8496, RegisterId::SRRCTL_82598, 12),
        (8500, RegisterId::SRRCTL_82598, 13),
        (8504, RegisterId::SRRCTL_82598, 14),
        (8508, RegisterId::SRRCTL_82598, 15),
        (16500, RegisterId::GPRC, 0),
        (17060, RegisterId::LINKS, 0),
        (53268, RegisterId::SRRCTL, 64),
        (53332, RegisterId::SRRCTL, 65),
        (53396, RegisterId::SRRCTL, 66),
        (53460, RegisterId::SRRCTL, 67),
        (53524, RegisterId::SRRCTL, 68),
        (53588, RegisterId::SRRCTL, 69),
        (53652, RegisterId::SRRCTL, 70),
        (53716, RegisterId::SRRCTL, 71),
        (53780, RegisterId::SRRCTL, 72),
        (53844, RegisterId::SRRCTL, 73),
        (53908, RegisterId::SRRCTL, 74),
        (53972, RegisterId::SRRCTL, 75),
        (54036, RegisterId::SRRCTL, 76),
        (54100, RegisterId::SRRCTL, 77),
        (54164, RegisterId::SRRCTL, 78),
        (54228, RegisterId::SRRCTL, 79),
        (54292, RegisterId::SRRCTL, 80),
        (54356, RegisterId::SRRCTL, 81),
        (54420, RegisterId::SRRCTL, 82),
        (54484, RegisterId::SRRCTL, 83),
        (54548, RegisterId::SRRCTL, 84),
        (54612, RegisterId::SRRCTL, 85),
        (54676, RegisterId::SRRCTL, 86),
        (54740, RegisterId::SRRCTL, 87),
        (54804, RegisterId::SRRCTL, 88),
        (54868, RegisterId::SRRCTL, 89),
        (54932, RegisterId::SRRCTL, 90),
        (54996, RegisterId::SRRCTL, 91),
        (55060, RegisterId::SRRCTL, 92),
        (55124, RegisterId::SRRCTL, 93),
        (55188, RegisterId::SRRCTL, 94),
        (55252, RegisterId::SRRCTL, 95),
        (55316, RegisterId::SRRCTL, 96),
        (55380, RegisterId::SRRCTL, 97),
        (55444, RegisterId::SRRCTL, 98),
        (55508, RegisterId::SRRCTL, 99),
        (55572, RegisterId::SRRCTL, 100),
        (55636, RegisterId::SRRCTL, 101),
        (55700, RegisterId::SRRCTL, 102),
        (55764, RegisterId::SRRCTL, 103),
        (55828, RegisterId::SRRCTL, 104),
        (55892, RegisterId::SRRCTL, 105),
        (55956, RegisterId::SRRCTL, 106),
        (56020, RegisterId::SRRCTL, 107),
        (56084, RegisterId::SRRCTL, 108),
        (56148, RegisterId::SRRCTL, 109),
        (56212, RegisterId::SRRCTL, 110),
        (56276, RegisterId::SRRCTL, 111),
        (56340, RegisterId::SRRCTL, 112),
        (56404, RegisterId::SRRCTL, 113),
        (56468, RegisterId::SRRCTL, 114),
        (56532, RegisterId::SRRCTL, 115),
        (56596, RegisterId::SRRCTL, 116),
        (56660, RegisterId::SRRCTL, 117),
        (56724, RegisterId::SRRCTL, 118),
        (56788, RegisterId::SRRCTL, 119),
        (56852, RegisterId::SRRCTL, 120),
        (56916, RegisterId::SRRCTL, 121),
        (56980, RegisterId::SRRCTL, 122),
        (57044, RegisterId::SRRCTL, 123),
        (57108, RegisterId::SRRCTL, 124),
        (57172, RegisterId::SRRCTL, 125),
        (57236, RegisterId::SRRCTL, 126),
        (57300, RegisterId::SRRCTL, 127),
        (65536, RegisterId::STATUS8, 0),
    ];
    /// The register (and array element) that starts at `offset`, if any.
    pub fn lookup(offset: usize) -> Option<(RegisterId, usize)> {
        let offset = u32::try_from(offset).ok()?;
        MAP.binary_search_by_key(&offset, |&(o, _, _)| o)
            .ok()
            .map(|i| (MAP[i].1, MAP[i].2 as usize))
    }
}
