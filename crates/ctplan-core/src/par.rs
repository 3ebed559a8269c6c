//! Parallel writes into one buffer from rayon tasks that each own a disjoint set of indices
//! which no `par_chunks_mut` split can express (strided columns, one row per output channel).
//!
//! [`SharedMut`] borrows the buffer mutably for its whole life, so nothing else can read or
//! write it meanwhile, and hands out only the sub-slices a task asks for, checked against the
//! buffer's bounds. What the type cannot check is that two tasks' sub-slices never overlap:
//! that is the caller's promise, stated at each `unsafe` use.
//!
//! ```
//! use ctplan_core::par::SharedMut;
//! use rayon::prelude::*;
//! // Four tasks each fill one strided column of a 4 × 3 buffer.
//! let mut buf = vec![0u32; 12];
//! let shared = SharedMut::new(&mut buf);
//! (0..4usize).into_par_iter().for_each(|col| {
//!     for row in 0..3 {
//!         // SAFETY: task `col` writes only index row·4 + col, which no other task touches.
//!         unsafe { shared.slice(row * 4 + col, 1)[0] = (row * 4 + col) as u32 };
//!     }
//! });
//! assert_eq!(buf, (0..12).collect::<Vec<u32>>());
//! ```

use std::marker::PhantomData;

/// A mutable buffer shared by parallel tasks that write disjoint parts of it.
pub struct SharedMut<'a, T> {
    ptr: *mut T,
    len: usize,
    _buf: PhantomData<&'a mut [T]>,
}

// SAFETY: a `SharedMut` is a `&mut [T]` split among tasks; sending or sharing it is sound when
// `T` may be sent, given the disjointness that every `slice` call promises.
unsafe impl<T: Send> Send for SharedMut<'_, T> {}
unsafe impl<T: Send> Sync for SharedMut<'_, T> {}

impl<'a, T> SharedMut<'a, T> {
    /// Share `buf` among tasks for as long as the `SharedMut` lives.
    pub fn new(buf: &'a mut [T]) -> SharedMut<'a, T> {
        SharedMut {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
            _buf: PhantomData,
        }
    }

    /// The buffer's length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sub-slice `start .. start + len` of the buffer.
    ///
    /// # Panics
    /// If the range is not inside the buffer.
    ///
    /// # Safety
    /// While the returned slice lives, no other slice returned by this method may overlap it
    /// (every task reads and writes only indices that no other task touches).
    #[allow(clippy::mut_from_ref)] // the disjointness is the caller's documented promise
    pub unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
        assert!(
            start <= self.len && len <= self.len - start,
            "SharedMut::slice: {start}..{} outside a buffer of {}",
            start + len,
            self.len
        );
        // SAFETY: in bounds (checked above); the buffer is borrowed mutably for 'a, so no
        // other reference to it exists; disjointness from other live slices is the caller's.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "outside a buffer")]
    fn a_range_past_the_end_panics() {
        let mut buf = vec![0f32; 4];
        let s = SharedMut::new(&mut buf);
        // SAFETY: the only slice taken.
        let _ = unsafe { s.slice(2, 3) };
    }
}
