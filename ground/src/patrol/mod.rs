//! The QUIC link to patrol tablets and operator clients.
