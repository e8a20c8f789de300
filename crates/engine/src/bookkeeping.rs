//! Where an LSU keeps what the plugin writes for itself, not for an image:
//! events, the reclaim cursor, the LSU record (label) and the commit probe.
//!
//! By default that is the LSU itself, under `.vastost/`. A view that locks
//! every new object for a while (an S3 Object Lock default retention)
//! would lock it too: events could not be deleted, a relabel would leave a
//! locked version each time, and the reclaim cursor would pile up
//! versions. A server with `bookkeeping_bucket` keeps it in that bucket
//! instead, under `<lsu>/.vastost/`, so that a locked-by-default view holds
//! only images. The keys given and returned here are always the LSU's own
//! (`.vastost/events/…`): only the store and a prefix change.

use bytes::Bytes;
use vastost_storage::{ListEntry, ObjectStore};

/// The store and key prefix of an LSU's bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct Bookkeeping {
    store: ObjectStore,
    /// Put before every key: empty in the LSU itself, `<lsu>/` in a
    /// bookkeeping bucket.
    prefix: String,
    /// Whether this is a bucket apart from the LSU's.
    apart: bool,
}

impl Bookkeeping {
    /// Bookkeeping inside the LSU's own store.
    pub(crate) fn in_lsu(store: &ObjectStore) -> Self {
        Bookkeeping { store: store.clone(), prefix: String::new(), apart: false }
    }

    /// Bookkeeping of LSU `lsu` in a bucket of its own (`store`).
    pub(crate) fn apart(store: ObjectStore, lsu: &str) -> Self {
        Bookkeeping { store, prefix: format!("{lsu}/"), apart: true }
    }

    /// Whether it lives apart from the LSU's data.
    pub(crate) fn is_apart(&self) -> bool {
        self.apart
    }

    /// Where it lives, for people.
    pub(crate) fn describe(&self) -> String {
        format!("{}/{}.vastost/", self.store.describe(), self.prefix)
    }

    fn at(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub(crate) async fn get(&self, key: &str) -> vastost_storage::Result<Bytes> {
        self.store.get(&self.at(key)).await
    }

    pub(crate) async fn put(&self, key: &str, data: Bytes) -> vastost_storage::Result<()> {
        self.store.put(&self.at(key), data).await
    }

    pub(crate) async fn put_new(&self, key: &str, data: Bytes) -> vastost_storage::Result<()> {
        self.store.put_new(&self.at(key), data).await
    }

    pub(crate) async fn delete(&self, key: &str) -> vastost_storage::Result<()> {
        self.store.delete(&self.at(key)).await
    }

    pub(crate) async fn delete_many(&self, keys: Vec<String>) -> vastost_storage::Result<()> {
        self.store.delete_many(keys.iter().map(|k| self.at(k)).collect()).await
    }

    /// A page of folder `dir` (names relative to it, as the store lists).
    pub(crate) async fn list_page(
        &self,
        dir: &str,
        after: &str,
        limit: usize,
    ) -> vastost_storage::Result<Vec<ListEntry>> {
        self.store.list_page(&self.at(dir), after, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_apart_carry_the_lsu_and_are_given_back_without_it() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(keys_apart());
    }

    async fn keys_apart() {
        let store = ObjectStore::memory().unwrap();
        let books = Bookkeeping::apart(store.clone(), "pool");
        books.put(".vastost/events/1-a", Bytes::from_static(b"e")).await.unwrap();
        assert_eq!(store.get("pool/.vastost/events/1-a").await.unwrap(), Bytes::from_static(b"e"));
        let names: Vec<String> =
            books.list_page(".vastost/events/", "", 10).await.unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["1-a"]);
        books.delete_many(vec![".vastost/events/1-a".into()]).await.unwrap();
        assert!(store.get("pool/.vastost/events/1-a").await.is_err());
        assert!(Bookkeeping::in_lsu(&store).describe().ends_with("/.vastost/"));
    }
}
