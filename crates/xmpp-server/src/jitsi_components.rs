//! Jitsi components (being written).
