//! Render pipeline domain (issue to come).
