//! A zone's traffic rules in one value: Always Use HTTPS, HSTS, redirect rules, bulk redirect
//! lists, request and response transforms, and custom error rules, each behind one call the
//! proxy makes at its stage.
//!
//! It owns the order within each stage (Always Use HTTPS, then redirect rules in order, then
//! bulk lists in order — like Cloudflare's single redirects before bulk redirects) and the
//! top-404 question "is there a redirect for this URL?". It does not own the stages' places in
//! the pipeline (the proxy) nor parsing (`edgeward-config`).

use crate::bulk::BulkRedirects;
use crate::custom_error::{self, CustomError, CustomErrorRule, ErrorFacts};
use crate::hsts::Hsts;
use crate::redirect::{https_redirect, Redirect, RedirectRule};
use crate::transform::{self, Applied, RequestTransform, ResponseTransform};
use crate::value::Vars;
use crate::{HeaderSource, Request};
use http::{HeaderMap, HeaderValue};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// Every traffic rule of one zone (all empty / off by default).
#[derive(Clone, Debug, Default)]
pub struct TrafficRules {
    /// `always_use_https`: plain-HTTP requests get a 301 to HTTPS.
    pub always_use_https: bool,
    /// `[zones.hsts]`.
    pub hsts: Option<Hsts>,
    /// `[[zones.redirects]]`, in order.
    pub redirects: Vec<RedirectRule>,
    /// `[[zones.redirect_lists]]`, in order (shared: a reload builds new ones, clones are cheap).
    pub redirect_lists: Vec<Arc<BulkRedirects>>,
    /// `[[zones.request_transforms]]`, in order.
    pub request_transforms: Vec<RequestTransform>,
    /// `[[zones.response_transforms]]`, in order.
    pub response_transforms: Vec<ResponseTransform>,
    /// `[[zones.custom_errors]]`, in order.
    pub custom_errors: Vec<CustomErrorRule>,
}

impl TrafficRules {
    /// Whether nothing is configured (the proxy may skip every call).
    pub fn is_empty(&self) -> bool {
        !self.always_use_https
            && self.hsts.is_none()
            && self.redirects.is_empty()
            && self.redirect_lists.is_empty()
            && self.request_transforms.is_empty()
            && self.response_transforms.is_empty()
            && self.custom_errors.is_empty()
    }

    /// The redirect for this request, if any: Always Use HTTPS (to `https_port`, omitted when
    /// 443), then redirect rules, then bulk lists. Request stage, before protections. Does not
    /// allocate unless a redirect is returned.
    pub fn redirect(&self, req: &Request<'_>, vars: &Vars<'_>, https_port: u16) -> Option<Redirect> {
        if self.always_use_https {
            if let Some(r) = https_redirect(req, https_port) {
                return Some(r);
            }
        }
        if let Some(r) = self.redirects.iter().find_map(|rule| rule.redirect(req, vars)) {
            return Some(r);
        }
        self.redirect_lists.iter().find_map(|list| list.redirect(req))
    }

    /// Whether a `GET https://host/path` would be redirected by a redirect rule or a bulk list
    /// (for the admin's top-404 report). Rules are evaluated against a request with only
    /// host, path, method and TLS set.
    pub fn has_redirect(&self, host: &str, path: &str) -> bool {
        if self.redirect_lists.iter().any(|l| l.lookup(host, path).is_some()) {
            return true;
        }
        let headers: &[(&str, &str)] = &[];
        let headers: &dyn HeaderSource = &headers;
        let mut req = Request::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), headers);
        req.host = host;
        req.path = path;
        req.tls = true;
        self.redirects.iter().any(|r| r.expr.eval(&req))
    }

    /// Applies request transforms (headers towards the origin; a path/query rewrite lands in
    /// `path_and_query`). Request stage, after redirects.
    pub fn apply_request(
        &self,
        req: &Request<'_>,
        vars: &Vars<'_>,
        headers: &mut HeaderMap,
        path_and_query: &mut Option<String>,
    ) -> Applied {
        transform::apply_request(&self.request_transforms, req, vars, headers, path_and_query)
    }

    /// Applies response transforms to the headers going to the client. Response stage.
    pub fn apply_response(
        &self,
        req: &Request<'_>,
        vars: &Vars<'_>,
        status: u16,
        headers: &mut HeaderMap,
    ) -> Applied {
        transform::apply_response(&self.response_transforms, req, vars, status, headers)
    }

    /// The custom error replacing this error response, if a rule matches. Response stage, for
    /// statuses ≥ 400 only, before rendering.
    pub fn custom_error(
        &self,
        req: &Request<'_>,
        vars: &Vars<'_>,
        facts: &ErrorFacts<'_>,
    ) -> Option<CustomError> {
        custom_error::select(&self.custom_errors, req, vars, facts)
    }

    /// The `Strict-Transport-Security` value to add to a response sent over TLS (`tls`), if the
    /// zone has HSTS; never for plain HTTP (RFC 6797 §7.2).
    pub fn hsts(&self, tls: bool) -> Option<&HeaderValue> {
        self.hsts.as_ref().filter(|_| tls).map(Hsts::header_value)
    }
}
