//! The deadline machinery of one connection: [`Activity`] (its phase and current deadline),
//! the busy guard its service holds while a request is served, and the wrappers that cut a
//! request body or a response the client stopped moving ([`StallBody`], [`Guarded`]).

use super::*;

/// Where a connection is in its life, and so which deadline applies.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for the rest of a request head, since this instant (accept, or the first
    /// byte of the request).
    Head(Instant),
    /// This many requests are being served (hyper serves one at a time; the count only
    /// covers a response body still being written when the next request begins).
    Busy(usize),
    /// Between requests since this instant.
    Idle(Instant),
}

/// The phase of one connection, shared by its I/O, its service and its watchdog.
#[derive(Debug)]
pub(super) struct Activity {
    phase: Mutex<Phase>,
    pub(super) changed: Notify,
}

impl Activity {
    pub(super) fn new() -> Activity {
        Activity {
            phase: Mutex::new(Phase::Head(Instant::now())),
            changed: Notify::new(),
        }
    }

    fn update(&self, f: impl FnOnce(Phase) -> Phase) {
        if let Ok(mut phase) = self.phase.lock() {
            *phase = f(*phase);
        }
        self.changed.notify_one();
    }

    /// Bytes arrived: an idle connection has begun its next request head.
    fn on_read(&self) {
        let idle = matches!(self.phase.lock().map(|p| *p), Ok(Phase::Idle(_)));
        if idle {
            self.update(|p| match p {
                Phase::Idle(_) => Phase::Head(Instant::now()),
                other => other,
            });
        }
    }

    /// A request head is complete; the connection is busy until the guard is dropped (when
    /// the response body has been written, or the request abandoned).
    pub(super) fn begin_request(self: &Arc<Self>) -> BusyGuard {
        self.update(|p| match p {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Head(_) | Phase::Idle(_) => Phase::Busy(1),
        });
        BusyGuard(Arc::clone(self))
    }

    /// When the connection is to be closed if nothing changes.
    pub(super) fn deadline(&self, limits: &Limits) -> Option<Instant> {
        match self.phase.lock().map(|p| *p) {
            Ok(Phase::Head(since)) => Some(since + limits.header_timeout),
            Ok(Phase::Idle(since)) => Some(since + limits.keepalive_timeout),
            Ok(Phase::Busy(_)) => None,
            // A poisoned lock cannot happen (no code panics while holding it); closing is the
            // safe answer if it does.
            Err(_) => Some(Instant::now()),
        }
    }
}

/// Marks a connection busy while a request is served.
#[derive(Debug)]
pub(super) struct BusyGuard(Arc<Activity>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.update(|p| match p {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }
}

/// A response body that keeps its connection busy until it has been written.
pub(super) struct Tracked {
    pub(super) inner: Body,
    pub(super) _busy: BusyGuard,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that fails when no data arrives for `idle` while the handler waits for
/// it (a client that sends a head and then a trickle, or nothing).
pub(super) struct StallBody {
    pub(super) inner: Incoming,
    pub(super) idle: Duration,
    pub(super) timer: Option<Pin<Box<Sleep>>>,
    pub(super) stalled: Arc<std::sync::atomic::AtomicBool>,
}

impl HttpBody for StallBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.timer = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let idle = this.idle;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if timer.as_mut().poll(cx).is_ready() {
                    this.stalled.store(true, Ordering::Relaxed);
                    return Poll::Ready(Some(Err(format!(
                        "the request body stalled for {idle:?}"
                    )
                    .into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The connection's socket (or TLS stream): reads mark the start of a request head, and a
/// write the client does not take within `idle` fails.
pub(super) struct Guarded<S> {
    pub(super) inner: S,
    pub(super) activity: Arc<Activity>,
    pub(super) idle: Duration,
    pub(super) write_stall: Option<Pin<Box<Sleep>>>,
}

impl<S> Guarded<S> {
    /// A write or flush is pending: fails once it has been pending for `idle`.
    fn stalled<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let idle = self.idle;
        let timer = self
            .write_stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the response",
            )));
        }
        Poll::Pending
    }

    fn progressed<T>(&mut self, result: io::Result<T>) -> Poll<io::Result<T>> {
        self.write_stall = None;
        Poll::Ready(result)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(result) => self.progressed(result),
            Poll::Pending => self.stalled(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => self.progressed(result),
            Poll::Pending => self.stalled(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(result) => self.progressed(result),
            Poll::Pending => self.stalled(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
