//! A bounded pool of database connections that serves callers in the order
//! they came: a connection given back goes straight to the caller that has
//! waited longest, so a newcomer never takes it first and no caller waits
//! behind many that came later (what makes a pool's slowest requests slow
//! when many readers share a few connections).

use crate::metastore::{MetaError, MetaResult};
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// A connection the pool can tell is closed (a closed one is not reused).
pub(crate) trait Pooled: Send {
    fn is_closed(&self) -> bool;
}

/// What a waiting caller is handed: a connection, or the place of one that
/// closed or failed to open, to open a new one in.
enum Handoff<C> {
    Conn(C),
    Place,
}

struct Waiter<C> {
    id: u64,
    to: SyncSender<Handoff<C>>,
}

/// The idle connections, how many places are taken (connections open or
/// being opened), and the callers waiting, first come first.
struct State<C> {
    idle: Vec<C>,
    taken: usize,
    waiting: VecDeque<Waiter<C>>,
    next_waiter: u64,
}

/// A pool of at most `size` connections.
pub(crate) struct Pool<C> {
    size: usize,
    wait: Duration,
    state: Mutex<State<C>>,
}

impl<C: Pooled> Pool<C> {
    /// A pool of at most `size` (at least one) connections, whose callers
    /// wait at most `wait` for one.
    pub(crate) fn new(size: usize, wait: Duration) -> Self {
        Pool {
            size: size.max(1),
            wait,
            state: Mutex::new(State {
                idle: Vec::new(),
                taken: 0,
                waiting: VecDeque::new(),
                next_waiter: 0,
            }),
        }
    }

    /// How many connections it opens at most.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    fn lock(&self) -> MutexGuard<'_, State<C>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection: an idle one, a new one (`connect`) while places are
    /// free, else the next one given back to this caller in its turn.
    /// [`MetaError::Unavailable`] after waiting the pool's longest wait.
    pub(crate) fn take(&self, connect: impl FnOnce() -> MetaResult<C>) -> MetaResult<C> {
        let mut st = self.lock();
        // Idle connections are there only while nobody waits: given back,
        // they go to waiters first.
        while let Some(c) = st.idle.pop() {
            if !c.is_closed() {
                return Ok(c);
            }
            st.taken -= 1;
        }
        let handoff = if st.taken < self.size {
            st.taken += 1;
            drop(st);
            Handoff::Place
        } else {
            let (to, from) = sync_channel(1);
            let id = st.next_waiter;
            st.next_waiter += 1;
            st.waiting.push_back(Waiter { id, to });
            drop(st);
            self.wait_turn(id, &from)?
        };
        match handoff {
            Handoff::Conn(c) => Ok(c),
            Handoff::Place => connect().inspect_err(|_| self.pass_on(Handoff::Place)),
        }
    }

    /// Waits for this caller's turn.
    fn wait_turn(&self, id: u64, from: &Receiver<Handoff<C>>) -> MetaResult<Handoff<C>> {
        if let Ok(h) = from.recv_timeout(self.wait) {
            return Ok(h);
        }
        let mut st = self.lock();
        st.waiting.retain(|w| w.id != id);
        drop(st);
        // Handed one as the wait ended (under the lock, so it is there now).
        from.try_recv().map_err(|_| {
            MetaError::Unavailable(format!(
                "no database connection came free in {}s (a pool of {})",
                self.wait.as_secs(),
                self.size
            ))
        })
    }

    /// Gives a connection back; a closed one leaves its place to the next
    /// caller.
    pub(crate) fn give_back(&self, c: C) {
        if c.is_closed() {
            drop(c);
            self.pass_on(Handoff::Place);
        } else {
            self.pass_on(Handoff::Conn(c));
        }
    }

    /// Hands a connection or a place to the longest waiting caller; with
    /// none waiting, the connection goes idle and the place is freed.
    fn pass_on(&self, mut h: Handoff<C>) {
        let mut st = self.lock();
        while let Some(w) = st.waiting.pop_front() {
            match w.to.try_send(h) {
                Ok(()) => return,
                Err(TrySendError::Full(back) | TrySendError::Disconnected(back)) => h = back,
            }
        }
        match h {
            Handoff::Conn(c) => st.idle.push(c),
            Handoff::Place => st.taken -= 1,
        }
    }

    /// Takes the idle connections out (to close them).
    pub(crate) fn drain_idle(&self) -> Vec<C> {
        let mut st = self.lock();
        let idle = std::mem::take(&mut st.idle);
        st.taken -= idle.len();
        idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// A connection that can be closed from outside.
    struct Fake {
        n: usize,
        closed: Arc<AtomicBool>,
    }

    impl Pooled for Fake {
        fn is_closed(&self) -> bool {
            self.closed.load(Ordering::SeqCst)
        }
    }

    fn fake(opened: &AtomicUsize) -> impl FnOnce() -> MetaResult<Fake> + '_ {
        move || {
            Ok(Fake {
                n: opened.fetch_add(1, Ordering::SeqCst),
                closed: Arc::default(),
            })
        }
    }

    fn waiters(pool: &Pool<Fake>) -> usize {
        pool.lock().waiting.len()
    }

    #[test]
    fn callers_are_served_in_the_order_they_came() {
        let pool = Pool::<Fake>::new(1, Duration::from_secs(10));
        let opened = AtomicUsize::new(0);
        let held = pool.take(fake(&opened)).unwrap();
        let order = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for i in 0..6 {
                let (pool, order, opened) = (&pool, &order, &opened);
                s.spawn(move || {
                    let c = pool.take(fake(opened)).unwrap();
                    order.lock().unwrap().push(i);
                    pool.give_back(c);
                });
                // Each queues before the next starts.
                while waiters(pool) < i + 1 {
                    std::thread::yield_now();
                }
            }
            // A newcomer while six wait: it queues behind them, never
            // taking the connection given back first.
            let late = s.spawn(|| {
                let c = pool.take(fake(&opened)).unwrap();
                order.lock().unwrap().push(99);
                pool.give_back(c);
            });
            while waiters(&pool) < 7 {
                std::thread::yield_now();
            }
            pool.give_back(held);
            late.join().unwrap();
        });
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4, 5, 99]);
        assert_eq!(
            opened.load(Ordering::SeqCst),
            1,
            "one connection served all"
        );
    }

    #[test]
    fn at_most_size_connections_open_and_closed_ones_free_their_place() {
        let pool = Pool::<Fake>::new(2, Duration::from_secs(10));
        let opened = AtomicUsize::new(0);
        let a = pool.take(fake(&opened)).unwrap();
        let b = pool.take(fake(&opened)).unwrap();
        assert_eq!((a.n, b.n), (0, 1));
        std::thread::scope(|s| {
            let third = s.spawn(|| pool.take(fake(&opened)).unwrap().n);
            while waiters(&pool) < 1 {
                std::thread::yield_now();
            }
            assert_eq!(opened.load(Ordering::SeqCst), 2, "the third waits");
            // A closed connection given back: the waiter opens a new one.
            a.closed.store(true, Ordering::SeqCst);
            pool.give_back(a);
            assert_eq!(third.join().unwrap(), 2);
        });
        // An idle connection that closed meanwhile is not handed out.
        b.closed.store(true, Ordering::SeqCst);
        pool.give_back(b);
        let c = pool.take(fake(&opened)).unwrap();
        assert_eq!(c.n, 3);
        assert_eq!(pool.lock().taken, 2, "the third's connection and this one");
    }

    #[test]
    fn a_failed_connect_passes_its_place_on_and_waits_end() {
        let pool = Pool::<Fake>::new(1, Duration::from_millis(100));
        let opened = AtomicUsize::new(0);
        let e = pool
            .take(|| Err(MetaError::Unavailable("refused".into())))
            .err()
            .expect("the connect's error");
        assert!(matches!(e, MetaError::Unavailable(_)), "{e}");
        let held = pool.take(fake(&opened)).expect("the place came free");
        let e = pool
            .take(fake(&opened))
            .err()
            .expect("no connection came free");
        assert!(e.to_string().contains("a pool of 1"), "{e}");
        assert_eq!(waiters(&pool), 0, "a caller that gave up left the queue");
        pool.give_back(held);
        assert_eq!(pool.drain_idle().len(), 1);
        assert_eq!(pool.lock().taken, 0);
    }
}
