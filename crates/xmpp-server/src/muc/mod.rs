//! MUC service (being written).
