//! The page: one HTML file, its script and its style, built into the
//! binary (no CDN, no build step: plain JS). It polls nothing: it fetches
//! the API when the server says something changed (`/api/v1/events`).

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

/// The page, served at `base` (a path ending with `/`): its stylesheet,
/// script, export links and API calls (through `<meta name="base">`) go
/// below it.
pub(crate) fn index_at(base: &str) -> Html<String> {
    let base = base.replace(['"', '<', '>', '&'], "");
    let html = include_str!("page/index.html")
        .replace(
            "<meta charset=\"utf-8\">",
            &format!("<meta charset=\"utf-8\">\n<meta name=\"base\" content=\"{base}\">"),
        )
        .replace("href=\"style.css\"", &format!("href=\"{base}style.css\""))
        .replace("src=\"app.js\"", &format!("src=\"{base}app.js\""))
        .replace("href=\"api/", &format!("href=\"{base}api/"));
    Html(html)
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
