//! Production-run domain (issue to come).
