// SPDX-License-Identifier: MPL-2.0
//! The newest frame, shared between the pipeline (which publishes each
//! frame) and the HTTP clients (each of which takes only the newest one, so
//! that a slow client skips frames instead of queueing them), and the count
//! of clients being served.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

struct Latest {
    /// Frames seen so far; a client remembers the last one it sent.
    seq: u64,
    frame: Option<Arc<[u8]>>,
    closed: bool,
}

pub struct Hub {
    latest: Mutex<Latest>,
    changed: Condvar,
    /// Requests being served (each has a thread; a stream is one for as
    /// long as it plays).
    pub clients: AtomicUsize,
    pub max_clients: usize,
    /// Frames written to stream clients, and frames they skipped.
    pub frames_served: AtomicU64,
    pub frames_skipped: AtomicU64,
}

/// What `Hub::next_after` found.
pub enum Next {
    /// The frame number and the frame.
    Frame(u64, Arc<[u8]>),
    TimedOut,
    /// The viewer is stopping.
    Closed,
}

impl Hub {
    pub fn new(max_clients: usize) -> Self {
        Hub {
            latest: Mutex::new(Latest {
                seq: 0,
                frame: None,
                closed: false,
            }),
            changed: Condvar::new(),
            clients: AtomicUsize::new(0),
            max_clients,
            frames_served: AtomicU64::new(0),
            frames_skipped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Latest> {
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn publish(&self, frame: Arc<[u8]>) {
        let mut latest = self.lock();
        latest.seq += 1;
        latest.frame = Some(frame);
        drop(latest);
        self.changed.notify_all();
    }

    /// Tells every stream that the viewer is stopping.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// The newest frame after frame number `after`, waiting up to `limit`.
    pub fn next_after(&self, after: u64, limit: Duration) -> Next {
        let deadline = Instant::now() + limit;
        let mut latest = self.lock();
        loop {
            if latest.closed {
                return Next::Closed;
            }
            if latest.seq > after
                && let Some(frame) = &latest.frame
            {
                return Next::Frame(latest.seq, frame.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return Next::TimedOut;
            }
            latest = self
                .changed
                .wait_timeout(latest, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// A slot for one more client, or `None` when all are taken.
    pub fn take_slot(self: &Arc<Self>) -> Option<ClientSlot> {
        if self.clients.fetch_add(1, Ordering::SeqCst) >= self.max_clients {
            self.clients.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(ClientSlot(self.clone()))
    }
}

/// Counts one client while it is served.
pub struct ClientSlot(Arc<Hub>);

impl ClientSlot {
    pub fn hub(&self) -> &Hub {
        &self.0
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::SeqCst);
    }
}
