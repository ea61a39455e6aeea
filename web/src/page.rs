//! The page: one HTML file, its script and its style, built into the
//! binary (no CDN, no build step: plain JS). It polls nothing: it fetches
//! the API when the server says something changed (`/api/v1/events`).

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

pub(crate) async fn index() -> Html<&'static str> {
    Html(include_str!("page/index.html"))
}

pub(crate) async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("page/app.js"),
    )
        .into_response()
}

pub(crate) async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("page/style.css"),
    )
        .into_response()
}
