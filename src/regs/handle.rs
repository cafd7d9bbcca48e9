//! The typed register handles the generated code hands out.
//!
//! A handle is a bus plus an offset: it never holds a Rust reference into device memory. Which
//! tock-registers traits it implements follows its access marker, so the whole typed field API
//! (`read`, `write`, `modify`, `is_set`, `matches_all`, `extract`) works where the datasheet
//! allows it and does not compile where it does not.

use core::marker::PhantomData;

use tock_registers::fields::FieldValue;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{LocalRegisterCopy, RegisterLongName};

use super::access;
use super::bus::{Bus, Word};

/// What a handle's type parameters are about: width `T`, fields `R`, access mode `A`. They hold
/// no data; `fn() -> _` keeps the handle `Send` whatever they are.
type Marker<T, R, A> = PhantomData<(fn() -> T, fn() -> R, fn() -> A)>;

/// A register of width `T`, with fields `R`, access mode `A`, on bus `B`.
pub struct Reg<B, T, R, A> {
    bus: B,
    offset: usize,
    _marker: Marker<T, R, A>,
}

impl<B: Bus, T: Word, R: RegisterLongName, A> Reg<B, T, R, A> {
    /// A handle on the `T` at `offset`.
    ///
    /// # Safety
    /// `offset` must be aligned to `T` and `offset + size_of::<T>() <= bus.len()`.
    #[inline(always)]
    pub unsafe fn new(bus: B, offset: usize) -> Self {
        Self {
            bus,
            offset,
            _marker: PhantomData,
        }
    }

    /// The register's byte offset on its bus.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl<B: Bus, T: Word, R: RegisterLongName, A: access::Readable> Readable for Reg<B, T, R, A> {
    type T = T;
    type R = R;
    #[inline(always)]
    fn get(&self) -> T {
        // SAFETY: `new`'s contract keeps the offset inside the bus and aligned.
        unsafe { T::read_from(&self.bus, self.offset) }
    }
}

impl<B: Bus, T: Word, R: RegisterLongName, A: access::Writable> Writeable for Reg<B, T, R, A> {
    type T = T;
    type R = R;
    #[inline(always)]
    fn set(&self, value: T) {
        // SAFETY: `new`'s contract keeps the offset inside the bus and aligned.
        unsafe { T::write_to(&self.bus, self.offset, value) }
    }
}

macro_rules! write_ones {
    ($marker:ty, $verb:literal) => {
        impl<B: Bus, T: Word, R: RegisterLongName> Reg<B, T, R, $marker> {
            #[doc = concat!("Writes `value`: every 1 bit ", $verb, " that bit, every 0 bit changes nothing.")]
            #[inline(always)]
            pub fn set(&self, value: T) {
                // SAFETY: `new`'s contract keeps the offset inside the bus and aligned.
                unsafe { T::write_to(&self.bus, self.offset, value) }
            }
            #[doc = concat!("Writes the ones of `fields`: each ", $verb, " its bit.")]
            #[inline(always)]
            pub fn write(&self, fields: FieldValue<T, R>) {
                self.set(fields.value);
            }
        }
    };
}
write_ones!(access::W1c, "clears");
write_ones!(access::W1s, "sets");

/// A register whose read has a side effect (it clears): it can only be read with
/// [`take`](RcReg::take), which needs `&mut`, and the register block only hands it out
/// through `&mut self`. A value read is a value gone from the device; it must not be read by
/// accident.
pub struct RcReg<B, T, R, A> {
    reg: Reg<B, T, R, A>,
}

impl<B: Bus, T: Word, R: RegisterLongName, A> RcReg<B, T, R, A> {
    /// A handle on the read-clears `T` at `offset`.
    ///
    /// # Safety
    /// As [`Reg::new`].
    #[inline(always)]
    pub unsafe fn new(bus: B, offset: usize) -> Self {
        Self {
            // SAFETY: the caller upholds the same contract.
            reg: unsafe { Reg::new(bus, offset) },
        }
    }

    /// Reads the register, which clears it on the device.
    #[inline(always)]
    pub fn take(&mut self) -> T {
        // SAFETY: `new`'s contract keeps the offset inside the bus and aligned.
        unsafe { T::read_from(&self.reg.bus, self.reg.offset) }
    }

    /// Reads the register (clearing it) into a local copy with the typed field API.
    #[inline(always)]
    pub fn take_local(&mut self) -> LocalRegisterCopy<T, R> {
        LocalRegisterCopy::new(self.take())
    }

    /// The register's byte offset on its bus.
    pub fn offset(&self) -> usize {
        self.reg.offset
    }
}

impl<B: Bus, T: Word, R: RegisterLongName> RcReg<B, T, R, access::RcW1c> {
    /// Writes `value`: every 1 bit clears that bit, every 0 bit changes nothing.
    #[inline(always)]
    pub fn set(&self, value: T) {
        // SAFETY: `new`'s contract keeps the offset inside the bus and aligned.
        unsafe { T::write_to(&self.reg.bus, self.reg.offset, value) }
    }
    /// Writes the ones of `fields`: each clears its bit.
    #[inline(always)]
    pub fn write(&self, fields: FieldValue<T, R>) {
        self.set(fields.value);
    }
}
