//! Memory for request bodies: reused under load, given back once the load has passed.
//!
//! Request bodies of hundreds of KB come and go with every conversation turn, three times each
//! (the client's bytes, the Kiro body, its copy with the account's profileArn). glibc's heap
//! would keep such blocks after use (an idle gateway sat at ~850 MB after a 1000 × 300 KB load,
//! see BENCHMARKS.md), so `main` has glibc serve blocks of 128 KiB and more from mmap, which
//! returns them on free; but a fresh mapping costs a page fault per 4 KiB written and an
//! `munmap`, about a third of the CPU of a 300 KB request. So:
//!
//! - the large buffers come from a small pool ([`buffer`], [`into_bytes`], [`recycle`]) whose
//!   pages stay mapped between requests, bounded in count and size;
//! - `free` leaves up to [`HEAP_KEPT`] of free heap mapped instead of handing it back after
//!   every request (which cost the next request a page fault per 4 KiB);
//! - [`TrimService`] empties the pool and `malloc_trim`s the heap as soon as no request is in
//!   flight, so an idle gateway holds no more than it needs.

use crate::metrics::ACTIVE_REQUESTS;
use async_trait::async_trait;
use bytes::Bytes;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Smaller buffers come from the heap, which reuses them without page faults.
pub const POOLED_MIN: usize = 128 * 1024;
/// Larger ones are rare enough to map and unmap each time.
const POOLED_MAX: usize = 8 * 1024 * 1024;
/// Pooled capacities are multiples of this.
const GRANULE: usize = 32 * 1024;
/// Free buffers kept; beyond that they go back to the OS.
const POOL_SLOTS: usize = 64;

/// Free large buffers, waiting for the next request.
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    pub const fn new() -> Self {
        BufferPool {
            free: Mutex::new(Vec::new()),
        }
    }

    fn free(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // A panic while holding the lock leaves a valid Vec behind: keep using it.
        self.free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An empty buffer with room for at least `capacity` bytes.
    pub fn buffer(&self, capacity: usize) -> Vec<u8> {
        if !(POOLED_MIN..=POOLED_MAX).contains(&capacity) {
            return Vec::with_capacity(capacity);
        }
        let reused = {
            let mut free = self.free();
            let best = free
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= capacity)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            best.map(|i| free.swap_remove(i))
        };
        // Rounded up a little, so that bodies of similar sizes can share buffers; not to a
        // power of two, which would keep up to twice the memory resident per request.
        reused.unwrap_or_else(|| Vec::with_capacity(capacity.div_ceil(GRANULE) * GRANULE))
    }

    /// Takes a buffer back for reuse (or frees it when it is not worth keeping).
    pub fn recycle(&self, mut buf: Vec<u8>) {
        if !(POOLED_MIN..=POOLED_MAX).contains(&buf.capacity()) {
            return;
        }
        buf.clear();
        let mut free = self.free();
        if free.len() < POOL_SLOTS {
            free.push(buf);
        }
    }

    /// Frees every pooled buffer.
    pub fn release(&self) {
        let free = std::mem::take(&mut *self.free());
        drop(free);
    }
}

impl Default for BufferPool {
    fn default() -> Self {
        Self::new()
    }
}

/// The process's pool.
static POOL: BufferPool = BufferPool::new();

/// An empty buffer with room for at least `capacity` bytes, from the process's pool.
pub fn buffer(capacity: usize) -> Vec<u8> {
    POOL.buffer(capacity)
}

/// Gives a buffer back to the process's pool.
pub fn recycle(buf: Vec<u8>) {
    POOL.recycle(buf)
}

/// Empties the process's pool.
pub fn release() {
    POOL.release()
}

/// A buffer as `Bytes`, given back to the process's pool when the last view of it is dropped.
pub fn into_bytes(buf: Vec<u8>) -> Bytes {
    if buf.capacity() < POOLED_MIN {
        return Bytes::from(buf);
    }
    Bytes::from_owner(Recycled(buf))
}

struct Recycled(Vec<u8>);

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.0));
    }
}

/// Requests begun since the start (see [`request_begun`]).
static REQUESTS_BEGUN: AtomicU64 = AtomicU64::new(0);

/// Counts a request as begun, for [`TrimService`]; called once per request.
pub fn request_begun() {
    REQUESTS_BEGUN.fetch_add(1, Ordering::Relaxed);
}

/// How often the service looks for an idle moment.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// Trims the heap whenever requests ran since the last look and none runs now.
pub struct TrimService;

/// When to trim: once idle after any request, told by the count of requests begun rather
/// than by sampling the requests in flight, so that a burst that begins and ends between two
/// looks (a fast one takes less than `CHECK_EVERY`) is seen too.
struct IdleAfterWork {
    /// Requests begun at the last trim.
    seen: u64,
}

impl IdleAfterWork {
    /// True when requests began since the last `true` and none is in flight.
    fn look(&mut self, begun: u64, in_flight: i64) -> bool {
        if begun == self.seen || in_flight > 0 {
            return false;
        }
        self.seen = begun;
        true
    }
}

#[async_trait]
impl BackgroundService for TrimService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut idle = IdleAfterWork {
            seen: REQUESTS_BEGUN.load(Ordering::Relaxed),
        };
        loop {
            tokio::select! {
                _ = tokio::time::sleep(CHECK_EVERY) => {}
                _ = shutdown.changed() => return,
            }
            if idle.look(
                REQUESTS_BEGUN.load(Ordering::Relaxed),
                ACTIVE_REQUESTS.get(),
            ) {
                release();
                let released = trim();
                log::debug!("idle: heap trimmed ({released})");
            }
        }
    }
}

/// Free heap that `free` leaves mapped at the top of an arena rather than return at once.
///
/// glibc's default, 128 KiB once the mmap threshold is set, handed the pages a 300 KB request
/// had used back to the OS as it ended, and the next request faulted them in again: page faults
/// and `madvise` were ~5 % of the gateway's CPU at 300 KB (BENCHMARKS.md, "The heap kept
/// between requests"). [`TrimService`] still returns it all once the gateway is idle.
pub const HEAP_KEPT: usize = 16 * 1024 * 1024;

/// Tunes glibc's heap for request bodies: blocks of [`POOLED_MIN`] and more get mappings of
/// their own, which freeing returns to the OS; up to [`HEAP_KEPT`] of freed heap stays mapped
/// for the next request. Call before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune_heap() {
    extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_MMAP_THRESHOLD: i32 = -3;
    // SAFETY: mallopt only changes allocator tuning; the caller runs it before other threads.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, POOLED_MIN as i32);
        mallopt(M_TRIM_THRESHOLD, HEAP_KEPT as i32);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune_heap() {}

/// Returns the heap's free pages to the OS. True when some were released.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim() -> bool {
    extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: malloc_trim only walks glibc's own arenas, under their locks.
    unsafe { malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heap_is_trimmed_once_idle_after_any_work() {
        let mut idle = IdleAfterWork { seen: 0 };
        assert!(!idle.look(0, 0), "nothing ran yet");
        // A burst that began and ended between two looks.
        assert!(idle.look(40, 0));
        assert!(!idle.look(40, 0), "trimmed once, not at every look");
        // Requests in flight: wait for them, however long.
        assert!(!idle.look(41, 1));
        assert!(!idle.look(45, 3));
        assert!(idle.look(45, 0));
    }

    #[test]
    fn large_buffers_are_reused_and_small_ones_left_to_the_heap() {
        let pool = BufferPool::new();
        let small = pool.buffer(1000);
        assert!(small.capacity() >= 1000);
        pool.recycle(small);
        assert!(pool.free().is_empty(), "small buffers are the heap's");

        let mut big = pool.buffer(300 * 1024);
        assert_eq!(big.capacity(), 320 * 1024, "rounded up to the granule");
        big.extend_from_slice(b"secret");
        let address = big.as_ptr();
        pool.recycle(big);
        let again = pool.buffer(200 * 1024);
        assert_eq!(again.as_ptr(), address, "reused");
        assert!(again.is_empty(), "and handed out empty");
        // The smallest that fits is chosen.
        pool.recycle(Vec::with_capacity(4 * 1024 * 1024));
        pool.recycle(again);
        let smallest = pool.buffer(130 * 1024);
        assert_eq!(smallest.as_ptr(), address);

        for _ in 0..POOL_SLOTS + 5 {
            pool.recycle(Vec::with_capacity(256 * 1024));
        }
        assert_eq!(pool.free().len(), POOL_SLOTS, "bounded");
        pool.recycle(Vec::with_capacity(16 * 1024 * 1024));
        assert!(pool.free().iter().all(|b| b.capacity() <= POOLED_MAX));
        pool.release();
        assert!(pool.free().is_empty());
    }

    #[test]
    fn pooled_bytes_stay_alive_while_any_view_does() {
        let mut big = buffer(300 * 1024);
        big.extend_from_slice(b"secret");
        let bytes = into_bytes(big);
        let view = bytes.slice(1..3);
        drop(bytes);
        assert_eq!(&view[..], b"ec");
        drop(view);
        let small = into_bytes(b"tiny".to_vec());
        assert_eq!(&small[..], b"tiny");
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn trimming_gives_freed_heap_pages_back() {
        // In a thread of its own (so in an arena no other test is using): 4 MB of heap blocks
        // freed below a live one cannot be returned by `free` itself, only by a trim.
        let released = std::thread::spawn(|| {
            let blocks: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64 * 1024]).collect();
            let guard = vec![1u8; 64];
            drop(blocks);
            let released = trim();
            drop(guard);
            released
        })
        .join()
        .unwrap_or(false);
        assert!(released);
    }
}
