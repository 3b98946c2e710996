//! Admitting a request: the cap on requests in flight (past it, 503 with
//! `Retry-After`; `/healthz` is always answered), a deadline on its body,
//! and a guard that holds the request's slot and keeps its connection busy
//! until the answer's last byte is out, or its client has gone.

use super::body_deadline::TimedBody;
use super::connection::Activity;
use super::error::ApiError;
use super::health::HEALTHZ;
use super::state::AppState;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::response::IntoResponse;
use futures_util::future::Either;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::service::{TowerToHyperService, TowerToHyperServiceFuture};
use std::convert::Infallible;
use std::future::{self, Future, Ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::sync::OwnedSemaphorePermit;

/// The service hyper calls for each request on one connection.
pub struct Admission {
    app: TowerToHyperService<Router>,
    state: Arc<AppState>,
    activity: Arc<Activity>,
}

impl Admission {
    pub fn new(app: TowerToHyperService<Router>, state: Arc<AppState>, activity: Arc<Activity>) -> Self {
        Admission { app, state, activity }
    }

    /// A slot under the in-flight cap; `/healthz` needs none.
    fn slot(&self, request: &Request<Incoming>) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
        if request.uri().path() == HEALTHZ {
            return Ok(None);
        }
        match self.state.slots().in_flight.clone().try_acquire_owned() {
            Ok(slot) => Ok(Some(slot)),
            Err(_) => {
                self.state.metrics.cap_refusal("in_flight");
                Err(ApiError::Overloaded(format!(
                    "the daemon is answering its limit of {} requests at once; retry shortly",
                    self.state.capacity().max_in_flight
                )))
            }
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for Admission {
    type Response = Response<Guarded>;
    type Error = Infallible;
    type Future = Either<Admitted, Ready<Result<Response<Guarded>, Infallible>>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.activity.begin();
        let busy = Busy(self.activity.clone());
        match self.slot(&request) {
            Ok(slot) => {
                let limit = self.state.capacity().body_read_timeout;
                let request = request.map(|body| TimedBody::new(body, limit));
                let answer = hyper::service::Service::call(&self.app, request);
                Either::Left(Admitted { answer, guard: Some(Guard { _busy: busy, _slot: slot }) })
            }
            Err(refused) => {
                let guard = Guard { _busy: busy, _slot: None };
                Either::Right(future::ready(Ok(refused.into_response().map(|body| Guarded { body, _guard: guard }))))
            }
        }
    }
}

/// Keeps a connection busy (no header or idle wait runs) while it lives.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// What a request holds until its answer is finished.
pub struct Guard {
    _busy: Busy,
    _slot: Option<OwnedSemaphorePermit>,
}

pin_project_lite::pin_project! {
    /// A request being answered by the router, its guard waiting to be
    /// handed to the answer's body.
    pub struct Admitted {
        #[pin]
        answer: TowerToHyperServiceFuture<Router, Request<TimedBody>>,
        guard: Option<Guard>,
    }
}

impl Future for Admitted {
    type Output = Result<Response<Guarded>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.answer.poll(cx));
        let guard = this.guard.take().expect("an answer is polled once it is ready");
        Poll::Ready(Ok(response.map(|body| Guarded { body, _guard: guard })))
    }
}

/// An answer's body, holding its request's [`Guard`] until hyper drops it
/// (after the last frame, or when the client goes away).
pub struct Guarded {
    body: Body,
    _guard: Guard,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
