//! The global memory budget: every data buffer the plugin holds (fragments
//! being filled or uploaded, read-ahead) is paid for here first, so that the
//! plugin's memory stays bounded whatever the number of streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const UNIT: u64 = 1024;

#[derive(Debug)]
struct Inner {
    sem: Arc<Semaphore>,
    total: u64,
    in_use: AtomicU64,
    peak: AtomicU64,
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
}

/// A byte budget shared by every stream.
#[derive(Debug, Clone)]
pub(crate) struct MemoryBudget(Arc<Inner>);

/// Bytes taken from the budget, given back on drop.
#[derive(Debug)]
pub(crate) struct BudgetPermit {
    _permit: OwnedSemaphorePermit,
    bytes: u64,
    budget: Arc<Inner>,
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        self.budget.in_use.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl MemoryBudget {
    pub(crate) fn new(total: u64) -> Self {
        let units = (total / UNIT).min(Semaphore::MAX_PERMITS as u64) as usize;
        MemoryBudget(Arc::new(Inner {
            sem: Arc::new(Semaphore::new(units)),
            total: units as u64 * UNIT,
            in_use: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        }))
    }

    fn units(bytes: u64) -> u32 {
        u32::try_from(bytes.div_ceil(UNIT)).expect("buffers are far below 4TiB")
    }

    fn permit(&self, permit: OwnedSemaphorePermit, bytes: u64) -> BudgetPermit {
        let bytes = u64::from(Self::units(bytes)) * UNIT;
        let now = self.0.in_use.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.0.peak.fetch_max(now, Ordering::Relaxed);
        BudgetPermit { _permit: permit, bytes, budget: self.0.clone() }
    }

    /// Waits until `bytes` are free (backpressure). Never call from a
    /// runtime worker.
    pub(crate) fn acquire(&self, rt: &tokio::runtime::Handle, bytes: u64) -> BudgetPermit {
        let sem = self.0.sem.clone();
        let permit =
            rt.block_on(sem.acquire_many_owned(Self::units(bytes))).expect("the budget semaphore is never closed");
        self.permit(permit, bytes)
    }

    /// Takes `bytes` only if they are free now; read-ahead uses this so
    /// that readers never wait on each other.
    pub(crate) fn try_acquire(&self, bytes: u64) -> Option<BudgetPermit> {
        let permit = self.0.sem.clone().try_acquire_many_owned(Self::units(bytes)).ok()?;
        Some(self.permit(permit, bytes))
    }

    pub(crate) fn stats(&self) -> BudgetStats {
        BudgetStats {
            total: self.0.total,
            in_use: self.0.in_use.load(Ordering::Relaxed),
            peak: self.0.peak.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_counted_and_returned() {
        let b = MemoryBudget::new(8 << 10);
        let p1 = b.try_acquire(4 << 10).unwrap();
        let p2 = b.try_acquire(4000).unwrap();
        assert!(b.try_acquire(1).is_none(), "the budget is spent");
        assert_eq!(b.stats().in_use, 8 << 10);
        drop(p1);
        drop(p2);
        assert_eq!(b.stats(), BudgetStats { total: 8 << 10, in_use: 0, peak: 8 << 10 });
    }
}
