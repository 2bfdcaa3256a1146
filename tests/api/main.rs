//! Black-box tests over HTTP against the local server, on both store backends, grouped by the
//! specification they check (the README's coverage table lists them).

mod account;
mod admin;
mod authorization;
mod cimd;
mod discovery;
mod expiry;
mod mcp;
mod registration;
mod smoke;
mod status;
mod token;
