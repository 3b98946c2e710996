//! A request body must arrive whole within the body-read timeout, counted
//! from its head: a client that sends a head and then drips its body (a slow
//! POST) cannot hold a request slot for longer than that. The timer is only
//! armed when the body is first read, so requests without one cost nothing.

use axum::body::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error(transparent)]
    Read(#[from] hyper::Error),
    #[error("the request body did not arrive within {0:?} of its head (the daemon's --body-read-timeout)")]
    TooSlow(Duration),
}

pin_project_lite::pin_project! {
    /// A request body with a deadline.
    pub struct TimedBody {
        #[pin]
        body: Incoming,
        #[pin]
        deadline: Sleep,
        limit: Duration,
    }
}

impl TimedBody {
    /// `body`, due within `limit` from now.
    pub fn new(body: Incoming, limit: Duration) -> Self {
        TimedBody { body, deadline: tokio::time::sleep(limit), limit }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.body.poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(BodyError::from)));
        }
        match this.deadline.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyError::TooSlow(*this.limit)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
