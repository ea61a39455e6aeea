//! Calls between processes, followed from the task that waits to the task
//! that serves: each call carries a W3C `traceparent` header, the calling
//! task shows `Waiting for: POST http://inventory/reserve (another
//! process …)`, the serving task `serves POST /reserve for another
//! process`, and `async-inspect attach --pid A --pid B --dump` joins the
//! two into one chain (and finds a deadlock that crosses processes).
//!
//! With tower (the `http` feature): [`http::ServeLayer`] on the server's
//! router, [`http::CallLayer`] on a tower HTTP client. With any other
//! client, [`Outbound`] by hand:
//!
//! ```no_run
//! # async fn send(_: &str, _: &str) {}
//! # async fn checkout() {
//! let call = async_inspect::remote::Outbound::new("POST http://inventory/reserve");
//! let header = call.traceparent(); // send it as the `traceparent` header
//! call.wait(send("http://inventory/reserve", &header)).await;
//! # }
//! ```

pub use async_inspect_core::model::snapshot::across;
pub use async_inspect_core::model::span::RemoteRequest;
pub use async_inspect_core::remote::{Outbound, RemoteWait, Served, incoming, serve};

/// Tower layers for HTTP servers and clients (the `http` feature).
///
/// ```
/// use async_inspect::remote::http::ServeLayer;
///
/// let app: axum::Router = axum::Router::new()
///     .route("/reserve", axum::routing::post(|| async { "reserved" }))
///     .layer(ServeLayer::new());
/// # let _ = app;
/// ```
#[cfg(feature = "http")]
pub mod http {
    use std::panic::Location;
    use std::task::{Context, Poll};

    use async_inspect_core::remote::{Outbound, RemoteWait, Served, serve};

    /// The header a call's trace context travels in.
    pub const TRACEPARENT: &str = "traceparent";

    /// Serves each request as the request another process sent: a task
    /// named `METHOD /path` (or the task that polls it), with the caller's
    /// trace and span from its `traceparent` header.
    #[derive(Clone, Copy, Debug)]
    pub struct ServeLayer {
        location: &'static Location<'static>,
    }

    impl ServeLayer {
        /// The layer; its requests' tasks are located where it is made.
        #[track_caller]
        pub fn new() -> Self {
            Self {
                location: Location::caller(),
            }
        }
    }

    impl Default for ServeLayer {
        #[track_caller]
        fn default() -> Self {
            Self::new()
        }
    }

    impl<S> tower_layer::Layer<S> for ServeLayer {
        type Service = ServeService<S>;

        fn layer(&self, inner: S) -> ServeService<S> {
            ServeService {
                inner,
                location: self.location,
            }
        }
    }

    /// The service [`ServeLayer`] makes.
    #[derive(Clone, Debug)]
    pub struct ServeService<S> {
        inner: S,
        location: &'static Location<'static>,
    }

    impl<S, B> tower_service::Service<::http::Request<B>> for ServeService<S>
    where
        S: tower_service::Service<::http::Request<B>>,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = Served<S::Future>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, request: ::http::Request<B>) -> Self::Future {
            let name = format!("{} {}", request.method(), request.uri().path());
            let header = request
                .headers()
                .get(TRACEPARENT)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let future = self.inner.call(request);
            serve(name, header.as_deref(), future).located(self.location)
        }
    }

    /// Makes each request a call the calling task waits for, with its
    /// `traceparent` header: the one already set (by OpenTelemetry's
    /// propagator, say), else a new one in the calling task's trace.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct CallLayer;

    impl<S> tower_layer::Layer<S> for CallLayer {
        type Service = CallService<S>;

        fn layer(&self, inner: S) -> CallService<S> {
            CallService { inner }
        }
    }

    /// The service [`CallLayer`] makes.
    #[derive(Clone, Debug)]
    pub struct CallService<S> {
        inner: S,
    }

    impl<S, B> tower_service::Service<::http::Request<B>> for CallService<S>
    where
        S: tower_service::Service<::http::Request<B>>,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = RemoteWait<S::Future>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, mut request: ::http::Request<B>) -> Self::Future {
            let asked = format!("{} {}", request.method(), request.uri());
            let set = request
                .headers()
                .get(TRACEPARENT)
                .and_then(|value| value.to_str().ok())
                .and_then(|header| Outbound::with_traceparent(asked.clone(), header));
            let call = set.unwrap_or_else(|| {
                let call = Outbound::new(asked);
                if let Ok(value) = ::http::HeaderValue::from_str(&call.traceparent()) {
                    request.headers_mut().insert(TRACEPARENT, value);
                }
                call
            });
            call.wait(self.inner.call(request))
        }
    }
}
