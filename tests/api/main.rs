//! Black-box tests over HTTP against the local server, on both store backends.

mod status;
