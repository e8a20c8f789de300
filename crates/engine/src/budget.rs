//! The global memory budget: every data buffer the plugin holds (fragments
//! being filled or uploaded, read-ahead) is paid for here first, so that the
//! plugin's memory stays bounded whatever the number of streams.
//!
//! Fragment buffers are recycled: a buffer whose upload finished goes back
//! to a small pool still paid for, so the next fragment reuses its pages
//! instead of faulting in (and zeroing) tens of fresh MiB. The filesystem
//! stores keep pools of their own (read buffers, direct writers' staging
//! buffers), paid from here too ([`vastost_storage::PoolBudget`]). A pooled
//! buffer never makes anyone wait: whoever finds the budget spent empties
//! every pool first, and while someone waits, finished buffers are freed,
//! not pooled.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::host_memory::{HostMemory, HostMemoryStats, WAIT_MAX};

const UNIT: u64 = 1024;

#[derive(Debug)]
struct Inner {
    sem: Arc<Semaphore>,
    total: u64,
    in_use: AtomicU64,
    peak: AtomicU64,
    waiting: AtomicUsize,
    pool: Mutex<Vec<Buffer>>,
    /// Bytes of the stores' pools (not counted in `in_use`).
    pooled: AtomicU64,
    /// The stores' pools this budget pays for, emptied with its own.
    store_pools: Mutex<Vec<Weak<dyn vastost_storage::Drain>>>,
    /// The media server's budget, shared with its other plugin processes.
    host: Option<HostMemory>,
}

/// Most idle buffers kept for reuse.
const POOL_MAX: usize = 16;

/// A data buffer paid for from the budget; its bytes are returned when it
/// is dropped (or when the pool it was recycled into is emptied).
#[derive(Debug)]
pub(crate) struct Buffer {
    pub vec: Vec<u8>,
    permit: BudgetPermit,
}

impl Buffer {
    /// Splits the buffer from its payment, to hand the bytes to an upload.
    pub(crate) fn into_parts(self) -> (Vec<u8>, BudgetPermit) {
        (self.vec, self.permit)
    }

    /// Joins bytes back with their payment.
    pub(crate) fn from_parts(vec: Vec<u8>, permit: BudgetPermit) -> Self {
        Buffer { vec, permit }
    }
}

/// Figures of the budget, for benchmarks and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BudgetStats {
    /// Configured bytes.
    pub total: u64,
    /// Bytes held now.
    pub in_use: u64,
    /// Most bytes ever held at once.
    pub peak: u64,
    /// Bytes of buffers the filesystem stores keep for reuse, paid from
    /// the budget besides `in_use`.
    pub pooled: u64,
}

/// A byte budget shared by every stream.
#[derive(Debug, Clone)]
pub(crate) struct MemoryBudget(Arc<Inner>);

/// Bytes taken from the budget, given back on drop.
#[derive(Debug)]
pub(crate) struct BudgetPermit {
    _permit: OwnedSemaphorePermit,
    bytes: u64,
    /// Bytes recorded in the host's ledger (0: none).
    host_bytes: u64,
    /// What its bytes count as in the figures.
    held: Held,
    budget: Arc<Inner>,
}

/// What a permit's bytes count as in the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// A buffer of a transfer (`in_use`).
    InUse,
    /// A buffer a store keeps for reuse (`pooled`).
    Pooled,
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        match self.held {
            Held::InUse => self.budget.in_use.fetch_sub(self.bytes, Ordering::Relaxed),
            Held::Pooled => self.budget.pooled.fetch_sub(self.bytes, Ordering::Relaxed),
        };
        if let (Some(host), 1..) = (&self.budget.host, self.host_bytes) {
            host.release(self.host_bytes);
        }
    }
}

impl MemoryBudget {
    /// A budget of `total` bytes for this process, and of `host` bytes for
    /// every plugin process of the media server together.
    pub(crate) fn new(total: u64, host: Option<u64>) -> Self {
        let units = (total / UNIT).min(Semaphore::MAX_PERMITS as u64) as usize;
        MemoryBudget(Arc::new(Inner {
            sem: Arc::new(Semaphore::new(units)),
            total: units as u64 * UNIT,
            in_use: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            pool: Mutex::new(Vec::new()),
            pooled: AtomicU64::new(0),
            store_pools: Mutex::new(Vec::new()),
            host: host.and_then(HostMemory::open),
        }))
    }

    fn units(bytes: u64) -> u32 {
        u32::try_from(bytes.div_ceil(UNIT)).expect("buffers are far below 4TiB")
    }

    fn permit(&self, permit: OwnedSemaphorePermit, bytes: u64, host_bytes: u64) -> BudgetPermit {
        self.permit_as(permit, bytes, host_bytes, Held::InUse)
    }

    fn permit_as(&self, permit: OwnedSemaphorePermit, bytes: u64, host_bytes: u64, held: Held) -> BudgetPermit {
        let bytes = u64::from(Self::units(bytes)) * UNIT;
        match held {
            Held::InUse => {
                let now = self.0.in_use.fetch_add(bytes, Ordering::Relaxed) + bytes;
                self.0.peak.fetch_max(now, Ordering::Relaxed);
            }
            Held::Pooled => {
                self.0.pooled.fetch_add(bytes, Ordering::Relaxed);
            }
        }
        BudgetPermit { _permit: permit, bytes, host_bytes, held, budget: self.0.clone() }
    }

    /// Records `bytes` in the host's ledger if they fit as it stands: how
    /// many were recorded (0 without a host budget), `None` if they do not
    /// fit.
    fn lease_host_now(&self, bytes: u64) -> Option<u64> {
        let Some(host) = &self.0.host else { return Some(0) };
        let bytes = u64::from(Self::units(bytes)) * UNIT;
        host.lease(bytes).then_some(bytes)
    }

    /// [`MemoryBudget::lease_host_now`], after giving what this process
    /// keeps for reuse back to the host if they do not fit at first.
    fn lease_host(&self, bytes: u64) -> Option<u64> {
        self.lease_host_now(bytes).or_else(|| {
            self.drain_pool();
            self.lease_host_now(bytes)
        })
    }

    /// [`MemoryBudget::lease_host`], waiting until they fit: how many were
    /// recorded (0 after waiting [`WAIT_MAX`] in vain).
    async fn lease_host_waiting(&self, bytes: u64) -> u64 {
        if let Some(leased) = self.lease_host(bytes) {
            return leased;
        }
        self.0.waiting.fetch_add(1, Ordering::SeqCst);
        let started = std::time::Instant::now();
        let leased = loop {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            self.drain_pool();
            if let Some(leased) = self.lease_host_now(bytes) {
                break leased;
            }
            if started.elapsed() > WAIT_MAX {
                tracing::warn!(
                    bytes,
                    waited_secs = WAIT_MAX.as_secs(),
                    "host_memory_budget spent for too long; going over it rather than failing the job"
                );
                break 0;
            }
        };
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
        leased
    }

    /// Waits until `bytes` are free (backpressure).
    pub(crate) async fn acquire(&self, bytes: u64) -> BudgetPermit {
        if let Some(p) = self.try_acquire(bytes) {
            return p;
        }
        let local = self.acquire_local(bytes).await;
        let host_bytes = self.lease_host_waiting(bytes).await;
        self.permit(local, bytes, host_bytes)
    }

    /// Waits for `bytes` of this process's own budget.
    async fn acquire_local(&self, bytes: u64) -> OwnedSemaphorePermit {
        if let Ok(p) = self.0.sem.clone().try_acquire_many_owned(Self::units(bytes)) {
            return p;
        }
        // Announce the wait before emptying the pool, so that no buffer
        // finished from now on is parked while we wait.
        self.0.waiting.fetch_add(1, Ordering::SeqCst);
        self.drain_pool();
        let sem = self.0.sem.clone();
        let permit = sem.acquire_many_owned(Self::units(bytes)).await;
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
        permit.expect("the budget semaphore is never closed")
    }

    /// Takes `bytes` only if they are free now (after emptying the pool if
    /// need be); read-ahead uses this so that readers never wait.
    pub(crate) fn try_acquire(&self, bytes: u64) -> Option<BudgetPermit> {
        let units = Self::units(bytes);
        let permit = match self.0.sem.clone().try_acquire_many_owned(units) {
            Ok(p) => p,
            Err(_) => {
                self.drain_pool();
                self.0.sem.clone().try_acquire_many_owned(units).ok()?
            }
        };
        let host_bytes = self.lease_host(bytes)?;
        Some(self.permit(permit, bytes, host_bytes))
    }

    /// An empty buffer of `capacity` bytes: a recycled one, or a new one
    /// once the budget allows (waiting for it: backpressure).
    pub(crate) async fn buffer(&self, capacity: u64) -> Buffer {
        let recycled = {
            let mut pool = self.0.pool.lock().unwrap_or_else(|p| p.into_inner());
            pool.iter().position(|b| b.vec.capacity() as u64 == capacity).map(|i| pool.swap_remove(i))
        };
        match recycled {
            Some(buffer) => buffer,
            None => Buffer { vec: Vec::with_capacity(capacity as usize), permit: self.acquire(capacity).await },
        }
    }

    /// Keeps a buffer for reuse, unless someone waits for budget or the
    /// pool is full.
    pub(crate) fn recycle(&self, mut buf: Buffer) {
        if self.0.waiting.load(Ordering::SeqCst) > 0 {
            return;
        }
        buf.vec.clear();
        let mut pool = self.0.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOL_MAX {
            pool.push(buf);
        }
    }

    /// Empties this budget's pool and the stores' pools it pays for.
    fn drain_pool(&self) {
        let drained = std::mem::take(&mut *self.0.pool.lock().unwrap_or_else(|p| p.into_inner()));
        drop(drained);
        let stores: Vec<_> = {
            let mut pools = self.0.store_pools.lock().unwrap_or_else(|p| p.into_inner());
            pools.retain(|p| p.strong_count() > 0);
            pools.iter().filter_map(Weak::upgrade).collect()
        };
        stores.iter().for_each(|p| p.drain());
    }

    /// Figures of the media server's budget, if one is set and enforced.
    pub(crate) fn host_stats(&self) -> Option<HostMemoryStats> {
        self.0.host.as_ref().map(HostMemory::stats)
    }

    pub(crate) fn stats(&self) -> BudgetStats {
        BudgetStats {
            total: self.0.total,
            in_use: self.0.in_use.load(Ordering::Relaxed),
            peak: self.0.peak.load(Ordering::Relaxed),
            pooled: self.0.pooled.load(Ordering::Relaxed),
        }
    }
}

impl vastost_storage::PoolBudget for MemoryBudget {
    /// Pays for a buffer a store parks if the bytes are free now and nobody
    /// waits for budget (the pools give way, never the other way round).
    fn claim(&self, bytes: u64, pool: Weak<dyn vastost_storage::Drain>) -> Option<vastost_storage::Claim> {
        if self.0.waiting.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let permit = self.0.sem.clone().try_acquire_many_owned(Self::units(bytes)).ok()?;
        // Never drains: a pool is not emptied to park another buffer.
        let host_bytes = self.lease_host_now(bytes)?;
        let mut pools = self.0.store_pools.lock().unwrap_or_else(|p| p.into_inner());
        if !pools.iter().any(|p| Weak::ptr_eq(p, &pool)) {
            pools.push(pool);
        }
        drop(pools);
        Some(vastost_storage::Claim::new(self.permit_as(permit, bytes, host_bytes, Held::Pooled)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_counted_and_returned() {
        let b = MemoryBudget::new(8 << 10, None);
        let p1 = b.try_acquire(4 << 10).unwrap();
        let p2 = b.try_acquire(4000).unwrap();
        assert!(b.try_acquire(1).is_none(), "the budget is spent");
        assert_eq!(b.stats().in_use, 8 << 10);
        drop(p1);
        drop(p2);
        assert_eq!(b.stats(), BudgetStats { total: 8 << 10, in_use: 0, peak: 8 << 10, pooled: 0 });
    }

    #[test]
    fn pooled_buffers_are_reused_and_never_block() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let b = MemoryBudget::new(8 << 10, None);
        let buf = rt.block_on(b.buffer(4 << 10));
        let ptr = buf.vec.as_ptr();
        b.recycle(buf);
        assert_eq!(b.stats().in_use, 4 << 10, "a pooled buffer stays paid for");
        let again = rt.block_on(b.buffer(4 << 10));
        assert_eq!(again.vec.as_ptr(), ptr, "the pooled buffer is reused");
        b.recycle(again);
        // Someone needing the whole budget gets it: the pool is emptied.
        let all = rt.block_on(b.acquire(8 << 10));
        assert_eq!(b.stats().in_use, 8 << 10);
        drop(all);
        assert!(b.try_acquire(8 << 10).is_some());
    }
}
