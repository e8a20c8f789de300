//! Buffers a store keeps for reuse (a fresh buffer of a few MiB costs a
//! page fault per 4 KiB), each paid from the memory budget of whoever
//! opened the store: a parked buffer is memory the plugin holds, so it
//! holds a claim on the budget ([`PoolBudget`]) for as long as it is
//! parked, and gives it back when the budget asks ([`Drain`]). A pool with
//! no budget keeps nothing.

use std::sync::{Arc, Mutex, OnceLock, Weak};

/// What pays for the buffers a pool parks: the engine's memory budget.
pub trait PoolBudget: Send + Sync + std::fmt::Debug {
    /// A claim on `bytes` for a buffer `pool` is about to park, if they are
    /// free now (never waits). The budget may ask `pool` to drain, which
    /// drops its buffers and their claims.
    fn claim(&self, bytes: u64, pool: Weak<dyn Drain>) -> Option<Claim>;
}

/// A pool the budget can empty when someone waits for memory.
pub trait Drain: Send + Sync {
    /// Drops every parked buffer (and its claim).
    fn drain(&self);
}

/// A claim on the budget; released when dropped.
pub struct Claim(#[allow(dead_code)] Box<dyn Send + Sync>);

impl Claim {
    /// A claim that holds `held` (a permit of the budget) until dropped.
    pub fn new(held: impl Send + Sync + 'static) -> Self {
        Claim(Box::new(held))
    }
}

/// The buffer under `bytes`, emptied, when nobody else holds it (the
/// storage is done with it): what a pool can keep, or a lender get back.
pub(crate) fn emptied(bytes: bytes::Bytes) -> Option<Vec<u8>> {
    let mut owned = bytes.try_into_mut().ok()?;
    owned.clear();
    Some(owned.into())
}

/// Parked buffers of one kind, each with its claim.
pub(crate) struct Pool<T> {
    budget: OnceLock<Arc<dyn PoolBudget>>,
    max: usize,
    parked: Mutex<Vec<(T, Claim)>>,
    me: Weak<Pool<T>>,
}

impl<T> std::fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parked = self.parked.lock().map_or(0, |p| p.len());
        f.debug_struct("Pool").field("max", &self.max).field("parked", &parked).finish()
    }
}

impl<T: Send + 'static> Pool<T> {
    /// An empty pool of at most `max` buffers, paying for none until
    /// [`Pool::pay_from`] gives it a budget.
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new_cyclic(|me| Pool { budget: OnceLock::new(), max, parked: Mutex::new(Vec::new()), me: me.clone() })
    }

    /// Pays for parked buffers from `budget` (the first one given stays).
    pub(crate) fn pay_from(&self, budget: Arc<dyn PoolBudget>) {
        let _ = self.budget.set(budget);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(T, Claim)>> {
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A parked buffer that `fits`, the smallest by `size` among them;
    /// its claim is released (whoever uses it pays for it).
    pub(crate) fn take(&self, fits: impl Fn(&T) -> bool, size: impl Fn(&T) -> usize) -> Option<T> {
        let mut parked = self.lock();
        let at = parked.iter().enumerate().filter(|(_, (b, _))| fits(b)).min_by_key(|(_, (b, _))| size(b))?.0;
        Some(parked.swap_remove(at).0)
    }

    /// Parks `buffer` of `bytes` if there is room and the budget pays for
    /// it now; otherwise it is dropped.
    pub(crate) fn park(&self, buffer: T, bytes: u64) {
        let Some(budget) = self.budget.get() else { return };
        if self.lock().len() >= self.max {
            return;
        }
        let me: Weak<dyn Drain> = self.me.clone();
        if let Some(claim) = budget.claim(bytes, me) {
            let mut parked = self.lock();
            if parked.len() < self.max {
                parked.push((buffer, claim));
            }
        }
    }

    /// Buffers parked now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

impl<T: Send> Drain for Pool<T> {
    fn drain(&self) {
        let drained = std::mem::take(&mut *self.parked.lock().unwrap_or_else(|p| p.into_inner()));
        drop(drained);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, Weak};

    use crate::pool::{Claim, Drain, Pool, PoolBudget};

    /// A budget of `limit` bytes (unbounded by default) that counts what
    /// its claims hold and can be told to drain the pools it paid for.
    #[derive(Debug, Default)]
    pub(crate) struct Counted {
        held: Arc<AtomicU64>,
        limit: Option<u64>,
        pools: Mutex<Vec<Weak<dyn Drain>>>,
    }

    /// Gives its bytes back to the budget when dropped.
    struct Held(Arc<AtomicU64>, u64);

    impl Drop for Held {
        fn drop(&mut self) {
            self.0.fetch_sub(self.1, Ordering::SeqCst);
        }
    }

    impl Counted {
        pub(crate) fn held(&self) -> u64 {
            self.held.load(Ordering::SeqCst)
        }

        fn drain_all(&self) {
            let pools: Vec<_> = self.pools.lock().unwrap().iter().filter_map(Weak::upgrade).collect();
            pools.iter().for_each(|p| p.drain());
        }
    }

    impl PoolBudget for Counted {
        fn claim(&self, bytes: u64, pool: Weak<dyn Drain>) -> Option<Claim> {
            if self.limit.is_some_and(|l| self.held() + bytes > l) {
                return None;
            }
            self.held.fetch_add(bytes, Ordering::SeqCst);
            self.pools.lock().unwrap().push(pool);
            Some(Claim::new(Held(self.held.clone(), bytes)))
        }
    }

    #[test]
    fn parked_buffers_are_paid_for_and_given_back_when_the_budget_drains() {
        let pool: Arc<Pool<Vec<u8>>> = Pool::new(4);
        pool.park(vec![0; 10], 10);
        assert_eq!(pool.len(), 0, "no budget: nothing is kept");
        let budget = Arc::new(Counted { limit: Some(25), ..Counted::default() });
        pool.pay_from(budget.clone());
        pool.park(Vec::with_capacity(10), 10);
        pool.park(Vec::with_capacity(12), 12);
        pool.park(Vec::with_capacity(8), 8);
        assert_eq!((pool.len(), budget.held()), (2, 22), "the third does not fit the budget: dropped");
        let taken = pool.take(|b| b.capacity() >= 11, Vec::capacity).expect("the larger one fits");
        assert_eq!((taken.capacity(), pool.len(), budget.held()), (12, 1, 10), "whoever takes it pays for it");
        budget.drain_all();
        assert_eq!((pool.len(), budget.held()), (0, 0), "drained: every claim given back");
    }
}
