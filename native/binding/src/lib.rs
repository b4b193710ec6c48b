//! The N-API face of `opus-core`: type conversion and error mapping only, so every rule lives (and is
//! tested) in the plain Rust crate. Errors reach JavaScript as `Error` with a stable `code` property;
//! a panic is caught at this boundary and becomes an `INTERNAL` error instead of taking Bun down.

mod demux;
mod mux;
mod packet;
mod ring;
mod voice;

use std::panic::{AssertUnwindSafe, catch_unwind};

use napi_derive::napi;
use opus_core::{Error, ErrorCode};

/// Runs `body`, turning a core error or a panic into a JS error with a stable code.
fn guard<T>(body: impl FnOnce() -> opus_core::Result<T>) -> napi::Result<T, ErrorCode> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(napi::Error::new(error.code, error.message)),
        Err(_) => {
            Err(napi::Error::new(ErrorCode::Internal, "the native addon panicked; the call was abandoned"))
        }
    }
}

fn invalid_argument(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidArgument, message)
}

fn js_error(code: ErrorCode, message: impl Into<String>) -> napi::Error<ErrorCode> {
    napi::Error::new(code, message.into())
}

/// JS numbers are exact up to 2^53; sequences and sizes beyond that would silently round.
fn safe_integer(value: f64, what: &str) -> opus_core::Result<u64> {
    const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;
    if value.fract() != 0.0 || !(0.0..=MAX_SAFE_INTEGER).contains(&value) {
        return Err(invalid_argument(format!("{what} must be a non-negative safe integer, got {value}")));
    }
    Ok(value as u64)
}

#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
