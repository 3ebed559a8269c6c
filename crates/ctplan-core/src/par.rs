//! Parallel writes into one buffer from rayon tasks that each own a disjoint set of indices
//! which no `par_chunks_mut` split can express (strided columns, one row per output channel).

/// A raw pointer to a buffer's first element that rayon tasks may share. Every use writes
/// through `unsafe` code that states why the tasks' indices are disjoint and in bounds.
#[derive(Clone, Copy)]
pub struct SharedMut(*mut f32);

// SAFETY: the pointer is only dereferenced for disjoint indices (see the type's doc).
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer to `buf`'s first element.
    pub fn new(buf: &mut [f32]) -> SharedMut {
        SharedMut(buf.as_mut_ptr())
    }

    /// A method (not a field access) so that closures capture the whole `Sync` wrapper.
    pub fn get(self) -> *mut f32 {
        self.0
    }
}
