//! JSON:API as Laboperator's API v2 speaks it: `application/vnd.api+json` documents, resource
//! objects with string ids, `page[number]`/`page[size]` with the reference's `meta`, `sort`,
//! `filter[…]`, `fields[…]`, `include`, and `Errors` objects whose `source.pointer` names the
//! attribute at fault. Only the shape lives here; every rule is the services'.

use std::collections::BTreeSet;

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{json, Map, Value};

use crate::{clock::rfc3339, http::error::error_object, paging::Page, Error};

pub const MEDIA_TYPE: &str = "application/vnd.api+json";
/// Where the API lives; resource links are relative to the server.
pub const BASE: &str = "/api/v2";
pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

/// A JSON:API document with its status.
pub struct Document(pub StatusCode, pub Value);

impl IntoResponse for Document {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.1).expect("BUG: a JSON value serialises");
        let mut res = (self.0, body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
        res
    }
}

/// [`crate::Error`] as the reference's `Errors` document: a field error points at the
/// attribute (`/data/attributes/url`), or at the query parameter it came from.
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self(e.into())
    }
}

pub type ApiResult<T = Document> = std::result::Result<T, ApiError>;

/// Query parameters are named as they were sent; body attributes get a JSON pointer.
const QUERY_FIELDS: &[&str] = &[
    "page", "sort", "filter", "fields", "include", "since", "until",
];

fn source(field: &str) -> Value {
    let top = field.split(['[', '.']).next().unwrap_or(field);
    if QUERY_FIELDS.contains(&top) {
        json!({ "parameter": field })
    } else if field == "reason" {
        // A change's reason comes in the document's `meta`, not among its attributes.
        json!({ "pointer": "/meta/reason" })
    } else {
        // `headers.2.value` → /data/attributes/headers/2/value
        json!({ "pointer": format!("/data/attributes/{}", field.replace('.', "/")) })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = e.status();
        let errors: Vec<Value> = match &e {
            Error::Internal(inner) => {
                tracing::error!(error = ?inner, "internal error");
                vec![error_object(
                    status,
                    e.code(),
                    "Something went wrong on our side.",
                    None,
                )]
            }
            Error::Invalid(fields) => fields
                .iter()
                .map(|f| {
                    let mut o = error_object(status, e.code(), &f.message, None);
                    o["source"] = source(&f.field);
                    o
                })
                .collect(),
            other => vec![error_object(status, e.code(), &other.to_string(), None)],
        };
        let mut res = Document(status, json!({ "errors": errors })).into_response();
        if let Some(v) = e.retry_after_header() {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError(Error::BadRequest {
        code,
        message: message.into(),
    })
}

/// A time as the reference writes it: RFC 3339 in UTC with milliseconds.
pub fn time(ms: i64) -> Value {
    Value::String(rfc3339(ms))
}

pub fn optional_time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, time)
}

/// `{"data": {"id": "2", "type": "user"}}`
pub fn belongs_to(kind: &str, id: i64) -> Value {
    json!({ "data": { "id": id.to_string(), "type": kind } })
}

/// One resource object.
pub struct Resource {
    pub kind: &'static str,
    /// The collection's path segment (`webhook_subscriptions`), for the self link.
    pub collection: &'static str,
    pub id: i64,
    pub attributes: Map<String, Value>,
    pub relationships: Map<String, Value>,
    pub meta: Option<Value>,
}

impl Resource {
    pub fn new(kind: &'static str, collection: &'static str, id: i64, attributes: Value) -> Self {
        let Value::Object(attributes) = attributes else {
            panic!("BUG: attributes are an object")
        };
        Self {
            kind,
            collection,
            id,
            attributes,
            relationships: Map::new(),
            meta: None,
        }
    }

    pub fn related(mut self, name: &str, value: Value) -> Self {
        self.relationships.insert(name.to_owned(), value);
        self
    }

    pub fn with_meta(mut self, meta: Value) -> Self {
        self.meta = Some(meta);
        self
    }

    /// The resource object, its attributes narrowed to `fields` when asked.
    pub fn render(mut self, fields: Option<&BTreeSet<String>>) -> Value {
        if let Some(fields) = fields {
            self.attributes.retain(|k, _| fields.contains(k));
        }
        let mut o = json!({
            "id": self.id.to_string(),
            "type": self.kind,
            "attributes": self.attributes,
            "links": { "self": format!("{BASE}/{}/{}", self.collection, self.id) },
        });
        if !self.relationships.is_empty() {
            o["relationships"] = Value::Object(self.relationships);
        }
        if let Some(meta) = self.meta {
            o["meta"] = meta;
        }
        o
    }
}

/// A single resource's document.
pub fn one(status: StatusCode, resource: Resource, query: &ListQuery) -> Document {
    let fields = query.fields.get(resource.kind);
    Document(status, json!({ "data": resource.render(fields) }))
}

/// A page of resources with the reference's `meta`.
pub fn many<T>(
    page: Page<T>,
    query: &ListQuery,
    kind: &str,
    to_resource: impl Fn(T) -> Resource,
) -> Document {
    let fields = query.fields.get(kind);
    let (number, size, total) = (page.page, page.per_page, page.total);
    let resources: Vec<Resource> = page.items.into_iter().map(to_resource).collect();
    let order: Vec<i64> = resources.iter().map(|r| r.id).collect();
    let data: Vec<Value> = resources.into_iter().map(|r| r.render(fields)).collect();
    Document(
        StatusCode::OK,
        json!({ "data": data, "meta": meta(number, size, total, order) }),
    )
}

pub fn meta(number: u32, size: u32, total: i64, order: Vec<i64>) -> Value {
    let pages = (total + i64::from(size) - 1) / i64::from(size.max(1));
    json!({
        "pageNumber": number,
        "pageSize": size,
        "pagesTotal": pages,
        "recordsTotal": total,
        "recordsSize": order.len(),
        "recordsOrder": order,
    })
}

pub use super::body::{
    attributes_of, bool_attr, data_of, id_attr, optional_attributes, parse_time, string_attr, Body,
};
pub use super::query::{Accepts, ListQuery};
