//! Output precision: the report keeps full precision and rounds only when it is written (JSON,
//! Markdown, pictures, the terminal summary), always through these functions, so that every
//! output shows the same digits.

use serde::Serializer;

/// `x` to 0.01 (mm, mL, L, ratios).
pub fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `x` to 0.001 (seconds).
pub fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `x` to 0.0001 (fractions, nodule volumes).
pub fn r4(x: f64) -> f64 {
    (x * 10000.0).round() / 10000.0
}

/// Serialize to 0.01.
pub(crate) fn ser2<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(r2(*x))
}

/// Serialize to 0.0001.
pub(crate) fn ser4<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(r4(*x))
}

/// Serialize an optional value to 0.01.
pub(crate) fn ser_opt2<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&x.map(r2), s)
}

/// Serialize a point to 0.01 per coordinate.
pub(crate) fn ser_point2<S: Serializer>(x: &[f64; 3], s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&x.map(r2), s)
}

/// Serialize stage timings to 0.001 s.
pub(crate) fn ser_seconds<S: Serializer>(x: &[(String, f64)], s: S) -> Result<S::Ok, S::Error> {
    let v: Vec<(&str, f64)> = x.iter().map(|(k, t)| (k.as_str(), r3(*t))).collect();
    serde::Serialize::serialize(&v, s)
}

/// `x` to 0.1 (the total lung volume).
pub fn r1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Serialize to 0.1.
pub(crate) fn ser1<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(r1(*x))
}
