//! Polling a server's events as NetBackup does, one at a time, at a cost
//! that does not grow with the number of events kept: the poller lists a
//! page of events past the newest one it handed out (one request per LSU
//! for up to 1,000 events) and hands them out from memory. Events are
//! named after the clock of the media server that wrote them, so one with
//! a clock behind may write an event that sorts before what was already
//! handed out: when nothing is ahead, the poller looks back over the last
//! [`REWIND`](crate::events::REWIND) before its newest event for any it
//! has not handed out yet.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use crate::error::Result;
use crate::events::{self, PAGE, StoredEvent};
use crate::server::Server;

/// One poller's place in a server's events (an OST event channel).
#[derive(Debug)]
pub struct EventPoller {
    server: Arc<Server>,
    /// Events handed out, as (LSU, name); those older than the look-back
    /// window are dropped, as no listing reaches them again.
    given: HashSet<(String, String)>,
    /// The name of the newest event handed out ("" before the first).
    newest: String,
    /// Events listed past `newest` and not handed out yet, oldest first.
    ahead: VecDeque<(String, String)>,
}

impl EventPoller {
    /// A poller of `server`'s events, from the oldest kept.
    pub fn new(server: Arc<Server>) -> Self {
        EventPoller { server, given: HashSet::new(), newest: String::new(), ahead: VecDeque::new() }
    }

    /// The oldest event not handed out yet, `None` when there is none now.
    pub fn next_event(&mut self) -> Result<Option<StoredEvent>> {
        loop {
            while let Some((lsu, name)) = self.ahead.pop_front() {
                if let Some(e) = self.take(&lsu, &name)? {
                    self.newest = self.newest.clone().max(name);
                    return Ok(Some(e));
                }
            }
            if !self.list_ahead()? {
                return self.late();
            }
        }
    }

    /// Lists the next page of events past `newest` of every LSU, merged in
    /// order; `false` when there are none.
    fn list_ahead(&mut self) -> Result<bool> {
        let mut all = Vec::new();
        // Past the end of the shortest full page, another LSU's next page
        // may hold earlier events: those wait for the next listing.
        let mut bound: Option<String> = None;
        for lsu in self.server.known_lsus()? {
            let page = lsu.ctx.block_on(events::names_after(&lsu.ctx, &self.newest, PAGE))?;
            if page.len() == PAGE {
                let last = page.last().cloned().unwrap_or_default();
                bound = Some(bound.map_or(last.clone(), |b| b.min(last)));
            }
            all.extend(page.into_iter().map(|n| (lsu.name().to_string(), n)));
        }
        if let Some(bound) = &bound {
            all.retain(|(_, n)| n <= bound);
        }
        all.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        self.ahead = all.into();
        Ok(!self.ahead.is_empty())
    }

    /// An event written late (by a media server whose clock is behind)
    /// within the look-back window before `newest`, not handed out yet.
    fn late(&mut self) -> Result<Option<StoredEvent>> {
        let Some(from) = events::rewind(&self.newest) else { return Ok(None) };
        self.given.retain(|(_, n)| *n > from);
        let mut found = Vec::new();
        for lsu in self.server.known_lsus()? {
            let mut after = from.clone();
            loop {
                let page = lsu.ctx.block_on(events::names_after(&lsu.ctx, &after, PAGE))?;
                let last_page = page.len() < PAGE || page.last().is_some_and(|n| *n >= self.newest);
                for name in page.iter().filter(|n| **n <= self.newest) {
                    let id = (lsu.name().to_string(), name.clone());
                    if !self.given.contains(&id) {
                        found.push(id);
                    }
                }
                match page.last() {
                    Some(last) if !last_page => after = last.clone(),
                    _ => break,
                }
            }
        }
        found.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        for (lsu, name) in found {
            if let Some(e) = self.take(&lsu, &name)? {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    /// Reads event `name` of `lsu` unless it was handed out already, and
    /// marks it handed out; `None` when it is gone or unreadable.
    fn take(&mut self, lsu: &str, name: &str) -> Result<Option<StoredEvent>> {
        let id = (lsu.to_string(), name.to_string());
        if self.given.contains(&id) {
            return Ok(None);
        }
        let ctx = self.server.lsu(lsu)?.ctx;
        let event = ctx.block_on(events::read(&ctx, &format!("{}{name}", crate::layout::EVENTS)))?;
        if event.is_some() {
            self.given.insert(id);
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, EventKind, REWIND};

    /// Stores an event at `nanos` in LSU `lsu` of `server`, as a media
    /// server with that clock would.
    fn post_at(server: &Server, lsu: &str, nanos: u128, tag: u32) -> String {
        let name = format!("{nanos:020}-{tag:08x}");
        let event = Event {
            kind: EventKind::ImageCreated,
            lsu: lsu.to_string(),
            basename: format!("image{tag}"),
            date: "1".into(),
            size: 0,
            time: (nanos / 1_000_000_000) as u64,
            source: None,
        };
        let ctx = server.lsu(lsu).unwrap().ctx;
        let key = format!("{}{name}", crate::layout::EVENTS);
        ctx.block_on(ctx.books.put(&key, serde_json::to_vec(&event).unwrap().into())).unwrap();
        name
    }

    #[test]
    fn every_event_once_in_order_over_pages_and_lsus_and_late_ones_within_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[plugin]\nmemory_budget = \"16MiB\"\n[server.\"VastData:a\"]\ndata_path = \"nfs\"\ndirectory = \"{}\"\nlsus = [\"p\", \"q\"]\nfragment_size = \"1MiB\"\n",
            dir.path().display()
        );
        let engine = crate::Engine::new(crate::Config::from_toml(&text).unwrap()).unwrap();
        let server = Arc::new(engine.open_server("VastData:a", None).unwrap());
        let base: u128 = 1_900_000_000 * 1_000_000_000;
        // 2,500 events, more than two pages, spread unevenly over two LSUs.
        let mut expected: Vec<String> = (0..2500u32)
            .map(|i| post_at(&server, if i % 3 == 0 { "q" } else { "p" }, base + u128::from(i) * 1000, i))
            .collect();
        expected.sort();
        let mut poller = EventPoller::new(server.clone());
        let mut got = Vec::new();
        while let Some(e) = poller.next_event().unwrap() {
            got.push(e.key.rsplit('/').next().unwrap().to_string());
        }
        assert_eq!(got, expected, "every event once, oldest first");
        // A media server whose clock is a minute behind writes one now: it
        // sorts before what was handed out, and is handed out all the same.
        let newest = base + 2499 * 1000;
        let late = post_at(&server, "q", newest - 60_000_000_000, 9001);
        // One further back than the window is not looked for.
        post_at(&server, "p", newest - REWIND.as_nanos() - 1, 9002);
        let e = poller.next_event().unwrap().expect("the late event");
        assert!(e.key.ends_with(&late), "{}", e.key);
        assert!(poller.next_event().unwrap().is_none());
        // A new event after all that comes next.
        let fresh = post_at(&server, "p", newest + 1, 9003);
        assert!(poller.next_event().unwrap().unwrap().key.ends_with(&fresh));
        assert!(poller.next_event().unwrap().is_none());
    }
}
