//! HTTP API (issue to come).
