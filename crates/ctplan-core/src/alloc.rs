//! A bound on single allocations while untrusted lengths are parsed.
//!
//! A parser that trusts a length field allocates what the field says before it finds the file
//! too short: a 39 KB DICOM file whose element claims 4 GB costs 4 GB. Checking every length
//! against the bytes present before the parser runs (what `ctplan-dicom`'s guard does) works
//! only as long as the check reads the stream exactly as the parser does, and every
//! disagreement is a new hole. This module bounds the allocation itself: inside
//! [`with_limit`], any single allocation on the calling thread larger than the limit fails, and
//! a parser that reserves fallibly (`try_reserve_exact`, as dicom-rs does for every value)
//! returns an error instead of allocating. The bound holds whatever the parser's reading rules.
//!
//! It takes effect in a binary whose global allocator is [`Capped`]:
//!
//! ```
//! use ctplan_core::alloc::{Capped, with_limit};
//! #[global_allocator]
//! static ALLOC: Capped = Capped;
//!
//! fn main() {
//!     let refused = with_limit(1 << 20, || Vec::<u8>::new().try_reserve_exact(1 << 30).is_err());
//!     assert!(refused);
//!     assert!(Vec::<u8>::new().try_reserve_exact(1 << 24).is_ok());
//! }
//! ```
//!
//! Without it (a binary with the system allocator) [`with_limit`] only runs its closure. An
//! infallible allocation over the limit aborts, as running out of memory does: the limit is for
//! code that reserves fallibly, with a generous slack over what a valid input needs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// The largest single allocation this thread may make now.
    static LIMIT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The system allocator, refusing on each thread any single allocation larger than that
/// thread's current [`with_limit`] bound.
pub struct Capped;

fn allowed(size: usize) -> bool {
    // `try_with`: during thread teardown the limit is gone; nothing is bounded then.
    LIMIT.try_with(|l| size <= l.get()).unwrap_or(true)
}

// SAFETY: every call is forwarded to `System` unchanged, or answered with null (an allocation
// failure, which `GlobalAlloc` allows) before `System` is called.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !allowed(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !allowed(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() && !allowed(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `dealloc`; a null return leaves `ptr` valid, as `GlobalAlloc` requires.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Run `f` with every single allocation on this thread bounded to `bytes` (where the global
/// allocator is [`Capped`]). Nested calls keep the smaller bound; the previous bound is back
/// when `f` returns or unwinds.
pub fn with_limit<T>(bytes: u64, f: impl FnOnce() -> T) -> T {
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            LIMIT.with(|l| l.set(self.0));
        }
    }
    let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    let _restore = Restore(LIMIT.with(|l| l.replace(l.get().min(bytes))));
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limit is per thread, nests to the smaller bound and is restored afterwards. (The
    /// test binary uses the system allocator, so only the bookkeeping is checked here; the
    /// refusal itself is the doctest's, which installs [`Capped`].)
    #[test]
    fn the_limit_nests_and_is_restored() {
        let now = || LIMIT.with(|l| l.get());
        assert_eq!(now(), usize::MAX);
        with_limit(100, || {
            assert_eq!(now(), 100);
            with_limit(1000, || assert_eq!(now(), 100));
            with_limit(10, || assert_eq!(now(), 10));
            assert_eq!(now(), 100);
            std::thread::spawn(move || assert_eq!(LIMIT.with(|l| l.get()), usize::MAX))
                .join()
                .unwrap();
            assert!(allowed(100) && !allowed(101));
        });
        assert_eq!(now(), usize::MAX);
        let _ = std::panic::catch_unwind(|| with_limit(5, || panic!("unwinds")));
        assert_eq!(now(), usize::MAX);
    }
}
