//! The open connections, at most `--max-connections` of them, so that clients who open sockets
//! and leave them idle or half-open cannot exhaust the process's file descriptors.
//!
//! Each connection holds a slot from accepting to closing. When a connection is accepted and all
//! slots are taken, the oldest idle connection (no request in progress: a kept-alive one waiting
//! for its next request, or one that has not finished sending its first request's headers) is
//! told to close, and the new one waits for its slot; the connections behind it wait in the
//! kernel's listen queue meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The connections' slots and what each connection is doing.
pub(super) struct Connections {
    slots: Arc<Semaphore>,
    max: usize,
    open: Mutex<Open>,
}

/// The open connections by id.
#[derive(Default)]
struct Open {
    next: u64,
    by_id: HashMap<u64, State>,
}

/// One open connection.
struct State {
    /// Requests in progress on it.
    busy: usize,
    /// When it last became idle (or was accepted).
    idle_since: Instant,
    /// Told to close once idle.
    evict: Arc<Notify>,
    evicted: bool,
}

impl Connections {
    pub(super) fn new(max: usize) -> Connections {
        Connections {
            slots: Arc::new(Semaphore::new(max.max(1))),
            max: max.max(1),
            open: Mutex::new(Open::default()),
        }
    }

    /// Connections open now.
    pub(super) fn count(&self) -> usize {
        self.max.saturating_sub(self.slots.available_permits())
    }

    fn open(&self) -> MutexGuard<'_, Open> {
        // A panic while holding the lock leaves the map whole (every update is one statement).
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for the next connection: at once below the limit; else after telling the oldest
    /// idle connection to close, once a connection has closed.
    pub(super) async fn slot(self: &Arc<Self>) -> Slot {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return self.register(permit);
        }
        loop {
            self.evict_oldest_idle();
            // A connection that was busy may have gone idle meanwhile: look again now and then.
            let wait = Arc::clone(&self.slots).acquire_owned();
            match tokio::time::timeout(Duration::from_millis(100), wait).await {
                Ok(Ok(permit)) => return self.register(permit),
                // The semaphore is never closed.
                Ok(Err(_)) => std::future::pending::<()>().await,
                Err(_) => {}
            }
        }
    }

    /// Resolves once every connection has closed.
    pub(super) async fn all_closed(&self) {
        // Holding every slot at once: no connection is open. The semaphore is never closed.
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        let _ = self.slots.acquire_many(all).await;
    }

    fn register(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Slot {
        let evict = Arc::new(Notify::new());
        let mut open = self.open();
        let id = open.next;
        open.next += 1;
        open.by_id.insert(
            id,
            State {
                busy: 0,
                idle_since: Instant::now(),
                evict: Arc::clone(&evict),
                evicted: false,
            },
        );
        Slot {
            id,
            evict,
            connections: Arc::clone(self),
            _permit: permit,
        }
    }

    /// Tells the oldest idle connection to close, unless one told before is still closing.
    fn evict_oldest_idle(&self) {
        let mut open = self.open();
        if open.by_id.values().any(|s| s.evicted) {
            return;
        }
        let oldest = open
            .by_id
            .values_mut()
            .filter(|s| s.busy == 0 && !s.evicted)
            .min_by_key(|s| s.idle_since);
        if let Some(state) = oldest {
            state.evicted = true;
            // `notify_one` keeps the notice for a connection task not yet waiting for it.
            state.evict.notify_one();
            tracing::debug!("--max-connections reached: closing the oldest idle connection");
        }
    }
}

/// A connection's slot, given back when it is dropped (the connection has closed).
pub(super) struct Slot {
    id: u64,
    evict: Arc<Notify>,
    connections: Arc<Connections>,
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    /// Resolves when the connection should close to make room for a new one.
    pub(super) async fn evicted(&self) {
        self.evict.notified().await;
    }

    /// Marks a request in progress on this connection until the guard is dropped.
    pub(super) fn busy(&self) -> Busy {
        if let Some(state) = self.connections.open().by_id.get_mut(&self.id) {
            state.busy += 1;
        }
        Busy {
            id: self.id,
            connections: Arc::clone(&self.connections),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.open().by_id.remove(&self.id);
    }
}

/// A request in progress on a connection.
pub(super) struct Busy {
    id: u64,
    connections: Arc<Connections>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(state) = self.connections.open().by_id.get_mut(&self.id) {
            state.busy = state.busy.saturating_sub(1);
            if state.busy == 0 {
                state.idle_since = Instant::now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_house_closes_its_oldest_idle_connection() {
        let connections = Arc::new(Connections::new(3));
        let oldest = connections.slot().await;
        let busy = connections.slot().await;
        let _working = busy.busy();
        let newer = connections.slot().await;
        assert_eq!(connections.count(), 3);
        // The fourth waits; the oldest idle one (not the busy one, older or not) is told to close.
        let fourth = tokio::spawn({
            let connections = Arc::clone(&connections);
            async move { connections.slot().await }
        });
        tokio::time::timeout(Duration::from_secs(1), oldest.evicted())
            .await
            .expect("the oldest idle connection was not told to close");
        assert!(!fourth.is_finished());
        drop(oldest);
        let fourth = tokio::time::timeout(Duration::from_secs(1), fourth)
            .await
            .expect("no slot after a connection closed")
            .unwrap();
        assert_eq!(connections.count(), 3);
        // With every connection busy, none is told to close: the next waits for one to end.
        let _also = newer.busy();
        let _too = fourth.busy();
        let fifth = tokio::spawn({
            let connections = Arc::clone(&connections);
            async move { connections.slot().await }
        });
        for slot in [&busy, &newer, &fourth] {
            let told = tokio::time::timeout(Duration::from_millis(50), slot.evicted()).await;
            assert!(told.is_err(), "a busy connection was told to close");
        }
        drop(_too);
        drop(fourth);
        tokio::time::timeout(Duration::from_secs(1), fifth)
            .await
            .expect("no slot after a busy connection closed")
            .unwrap();
    }
}
