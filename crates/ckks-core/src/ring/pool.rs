//! A process-wide pool of large polynomial buffers, so that operations reuse memory that is
//! already mapped instead of asking the allocator for fresh pages.
//!
//! A key switch at `N = 2^16` allocates about 60 MB of short-lived polynomials (the tensor
//! product, the ModUp digits, the inner product, ModDown's outputs). Returned to the allocator,
//! such blocks are given back to the kernel after a short delay (mimalloc purges freed memory
//! after 10 ms), and the next operation faults the same amount in again: the kernel clears
//! every page (`clear_page`), and the process zeroes it a second time. The pool keeps the most
//! recently freed buffers, up to a byte limit ([`set_buffer_pool_limit`], default
//! [`DEFAULT_LIMIT`]), and hands them out again, best fit by capacity.
//!
//! Buffers below [`MIN_WORDS`] words are left to the allocator (its small-object pages are not
//! purged in between). Stale contents are never observable: [`take_zeroed`] clears, and
//! [`take`] is for callers that overwrite every word.

use rayon::prelude::*;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Smallest buffer the pool keeps: `2^15` words (256 KiB), one limb at `N = 2^15`.
pub const MIN_WORDS: usize = 1 << 15;

/// Default limit of the bytes held by the pool (buffers not in use).
pub const DEFAULT_LIMIT: usize = 256 << 20;

/// Words from which a buffer is filled on all threads.
const PAR_FILL: usize = 1 << 16;

static LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_LIMIT);

#[derive(Default)]
struct Pool {
    /// Free buffers, the most recently returned last.
    free: VecDeque<Vec<u64>>,
    /// Sum of their capacities, in bytes.
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: VecDeque::new(),
    bytes: 0,
});

fn lock() -> std::sync::MutexGuard<'static, Pool> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets the most bytes the pool holds in free buffers (0 disables it and releases what it
/// holds). Memory in use is not limited by this; it bounds what is kept for reuse.
pub fn set_buffer_pool_limit(bytes: usize) {
    LIMIT.store(bytes, Ordering::Relaxed);
    let evicted = evict(&mut lock(), bytes);
    drop(evicted);
}

/// Bytes currently held in free buffers.
pub fn buffer_pool_bytes() -> usize {
    lock().bytes
}

/// Removes the oldest buffers until at most `limit` bytes remain; returns them so that they
/// are freed after the lock is released.
fn evict(pool: &mut Pool, limit: usize) -> Vec<Vec<u64>> {
    let mut out = Vec::new();
    while pool.bytes > limit {
        match pool.free.pop_front() {
            Some(v) => {
                pool.bytes -= v.capacity() * 8;
                out.push(v);
            }
            None => break,
        }
    }
    out
}

impl Pool {
    /// The best-fitting free buffer for `len` words: the smallest that holds them and is not
    /// twice as large.
    fn reuse(&mut self, len: usize) -> Option<Vec<u64>> {
        let best = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len && v.capacity() <= 2 * len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i)?;
        let v = self.free.remove(best)?;
        self.bytes -= v.capacity() * 8;
        Some(v)
    }

    /// Keeps `v`, then evicts the oldest buffers beyond `limit` bytes (returned, to be freed
    /// outside the lock).
    fn keep(&mut self, v: Vec<u64>, limit: usize) -> Vec<Vec<u64>> {
        self.bytes += v.capacity() * 8;
        self.free.push_back(v);
        evict(self, limit)
    }
}

/// A buffer of `len` words whose contents are unspecified (stale values of earlier
/// polynomials, or zeros when fresh): the caller writes every word before reading it.
pub(crate) fn take(len: usize) -> Vec<u64> {
    let reused = if len >= MIN_WORDS {
        lock().reuse(len)
    } else {
        None
    };
    match reused {
        Some(mut v) => {
            if v.len() >= len {
                v.truncate(len);
            } else {
                v.resize(len, 0);
            }
            v
        }
        None => filled(len, |_| 0),
    }
}

/// A buffer of `len` zeros.
pub(crate) fn take_zeroed(len: usize) -> Vec<u64> {
    let mut v = take(len);
    fill_zero(&mut v);
    v
}

/// A copy of `src` in a pooled buffer.
pub(crate) fn take_copy(src: &[u64]) -> Vec<u64> {
    let mut v = take(src.len());
    if v.len() >= PAR_FILL {
        v.par_chunks_mut(PAR_FILL / 4)
            .zip(src.par_chunks(PAR_FILL / 4))
            .for_each(|(d, s)| d.copy_from_slice(s));
    } else {
        v.copy_from_slice(src);
    }
    v
}

/// Zeroes a buffer, on all threads when large.
pub(crate) fn fill_zero(v: &mut [u64]) {
    if v.len() >= PAR_FILL {
        v.par_chunks_mut(PAR_FILL / 4).for_each(|c| c.fill(0));
    } else {
        v.fill(0);
    }
}

/// Returns a buffer for reuse (dropped instead when small or when the pool is disabled).
pub(crate) fn give(v: Vec<u64>) {
    let limit = LIMIT.load(Ordering::Relaxed);
    if v.capacity() < MIN_WORDS || v.capacity() * 8 > limit {
        return;
    }
    let evicted = lock().keep(v, limit);
    drop(evicted);
}

/// A fresh vector of `len` words from `word(i)`, written on all threads when large (a
/// multi-megabyte buffer is otherwise faulted in and written by one thread, a serial part
/// that caps the speed-up of every parallel operation that allocates its output).
pub(crate) fn filled(len: usize, word: impl Fn(usize) -> u64 + Sync + Send) -> Vec<u64> {
    let mut data = Vec::with_capacity(len);
    if len >= PAR_FILL {
        data.par_extend((0..len).into_par_iter().map(word));
    } else {
        data.extend((0..len).map(word));
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Best fit by capacity, nothing more than twice the request, oldest evicted first.
    #[test]
    fn best_fit_and_eviction() {
        let mut pool = Pool::default();
        let words = |v: &Vec<Vec<u64>>| v.iter().map(|b| b.capacity()).collect::<Vec<_>>();
        assert!(pool.keep(Vec::with_capacity(400), 1 << 20).is_empty());
        assert!(pool.keep(Vec::with_capacity(100), 1 << 20).is_empty());
        assert!(pool.keep(Vec::with_capacity(150), 1 << 20).is_empty());
        assert_eq!(pool.bytes, 650 * 8);
        assert_eq!(pool.reuse(90).map(|v| v.capacity()), Some(100));
        assert!(pool.reuse(160).is_none()); // 400 is more than twice 160
        assert_eq!(pool.reuse(150).map(|v| v.capacity()), Some(150));
        assert_eq!(pool.bytes, 400 * 8);
        // over the limit: the oldest (400) goes first
        let evicted = pool.keep(Vec::with_capacity(300), 350 * 8);
        assert_eq!(words(&evicted), vec![400]);
        assert_eq!(pool.bytes, 300 * 8);
    }

    /// Pooled buffers come back with the requested length, zeroed or copied when asked.
    #[test]
    fn take_lengths_and_contents() {
        let len = MIN_WORDS * 3;
        let mut v = take(len);
        assert_eq!(v.len(), len);
        v.iter_mut().for_each(|x| *x = 7);
        give(v);
        let w = take_zeroed(len - 5);
        assert_eq!(w.len(), len - 5);
        assert!(w.iter().all(|&x| x == 0));
        give(w);
        let c = take_copy(&vec![3u64; len + 7]);
        assert!(c.len() == len + 7 && c.iter().all(|&x| x == 3));
        assert_eq!(take(10).len(), 10);
    }
}
