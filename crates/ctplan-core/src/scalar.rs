//! Voxel scalar types. Every file format here stores one of these; reading keeps the stored type
//! so that a read–write round trip is bit-exact.

use std::fmt;

/// The scalar types a volume may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarType {
    /// Unsigned 8-bit integer (masks, label maps).
    U8,
    /// Signed 8-bit integer.
    I8,
    /// Unsigned 16-bit integer.
    U16,
    /// Signed 16-bit integer (CT in Hounsfield units).
    I16,
    /// Unsigned 32-bit integer.
    U32,
    /// Signed 32-bit integer.
    I32,
    /// Unsigned 64-bit integer.
    U64,
    /// Signed 64-bit integer.
    I64,
    /// 32-bit IEEE float (rescaled CT, distance maps).
    F32,
    /// 64-bit IEEE float.
    F64,
}

impl ScalarType {
    /// Bytes per voxel.
    pub fn size(self) -> usize {
        match self {
            ScalarType::U8 | ScalarType::I8 => 1,
            ScalarType::U16 | ScalarType::I16 => 2,
            ScalarType::U32 | ScalarType::I32 | ScalarType::F32 => 4,
            ScalarType::U64 | ScalarType::I64 | ScalarType::F64 => 8,
        }
    }

    /// Short lower-case name (`u8`, `i16`, `f32`, …).
    pub fn name(self) -> &'static str {
        match self {
            ScalarType::U8 => "u8",
            ScalarType::I8 => "i8",
            ScalarType::U16 => "u16",
            ScalarType::I16 => "i16",
            ScalarType::U32 => "u32",
            ScalarType::I32 => "i32",
            ScalarType::U64 => "u64",
            ScalarType::I64 => "i64",
            ScalarType::F32 => "f32",
            ScalarType::F64 => "f64",
        }
    }
}

impl fmt::Display for ScalarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Run `$body` with the type alias `$t` bound to the Rust type of a [`ScalarType`] value.
#[macro_export]
macro_rules! with_scalar_type {
    ($st:expr, $t:ident => $body:expr) => {
        match $st {
            $crate::ScalarType::U8 => {
                type $t = u8;
                $body
            }
            $crate::ScalarType::I8 => {
                type $t = i8;
                $body
            }
            $crate::ScalarType::U16 => {
                type $t = u16;
                $body
            }
            $crate::ScalarType::I16 => {
                type $t = i16;
                $body
            }
            $crate::ScalarType::U32 => {
                type $t = u32;
                $body
            }
            $crate::ScalarType::I32 => {
                type $t = i32;
                $body
            }
            $crate::ScalarType::U64 => {
                type $t = u64;
                $body
            }
            $crate::ScalarType::I64 => {
                type $t = i64;
                $body
            }
            $crate::ScalarType::F32 => {
                type $t = f32;
                $body
            }
            $crate::ScalarType::F64 => {
                type $t = f64;
                $body
            }
        }
    };
}

/// A plain-old-data voxel type.
pub trait Scalar:
    bytemuck::Pod + Copy + Default + PartialOrd + Send + Sync + fmt::Debug + 'static
{
    /// The [`ScalarType`] tag of this Rust type, so generic code can name the stored type.
    const TYPE: ScalarType;
    /// Lossy conversion to `f64` (for interpolation and statistics).
    fn to_f64(self) -> f64;
    /// Conversion from `f64`, rounding to nearest and saturating for integer types.
    fn from_f64(v: f64) -> Self;
    /// True if the value is non-zero (foreground for masks).
    fn is_nonzero(self) -> bool;
    /// Reverse the byte order in place (for big-endian files).
    fn swap_bytes_in_place(data: &mut [Self]);
}

macro_rules! int_scalar {
    ($t:ty, $v:ident) => {
        impl Scalar for $t {
            const TYPE: ScalarType = ScalarType::$v;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                // `as` saturates and maps NaN to 0.
                v.round() as $t
            }
            fn is_nonzero(self) -> bool {
                self != 0
            }
            fn swap_bytes_in_place(data: &mut [Self]) {
                for x in data {
                    *x = x.swap_bytes();
                }
            }
        }
    };
}
int_scalar!(u8, U8);
int_scalar!(i8, I8);
int_scalar!(u16, U16);
int_scalar!(i16, I16);
int_scalar!(u32, U32);
int_scalar!(i32, I32);
int_scalar!(u64, U64);
int_scalar!(i64, I64);

macro_rules! float_scalar {
    ($t:ty, $v:ident, $bits:ty) => {
        impl Scalar for $t {
            const TYPE: ScalarType = ScalarType::$v;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn is_nonzero(self) -> bool {
                self != 0.0
            }
            fn swap_bytes_in_place(data: &mut [Self]) {
                for x in data {
                    *x = <$t>::from_bits(x.to_bits().swap_bytes());
                }
            }
        }
    };
}
float_scalar!(f32, F32, u32);
float_scalar!(f64, F64, u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_f64_rounds_and_saturates() {
        assert_eq!(u8::from_f64(300.0), 255);
        assert_eq!(u8::from_f64(-3.0), 0);
        assert_eq!(i16::from_f64(-1.6), -2);
        assert_eq!(i32::from_f64(f64::NAN), 0);
    }

    #[test]
    fn swap_bytes_round_trips() {
        let mut v = [1.5f32, -2.25];
        f32::swap_bytes_in_place(&mut v);
        assert_ne!(v[0], 1.5);
        f32::swap_bytes_in_place(&mut v);
        assert_eq!(v, [1.5, -2.25]);
    }
}
