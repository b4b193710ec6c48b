//! `ChunkRing`: the bounded ring of live chunks, plus `chunkRingPush`, a hand-written N-API callback
//! for the hot push path. napi-rs's generated glue (receiver borrow tracking, class identity checks)
//! costs more than the push itself, and pushes come millions of times a second.

use std::cell::RefCell;
use std::ffi::{CString, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::null_mut;
use std::rc::Rc;

use napi::bindgen_prelude::{Env, Float64Array, JsValue, Object, Uint8Array, Unknown};
use napi::sys;
use napi_derive::napi;
use opus_core::{Error, ErrorCode, ring};

use crate::{guard, invalid_argument, safe_integer};

/// Shared by the class and its push handle, so either may be collected first. Only the JS thread
/// touches it, and no call re-enters another while borrowing.
type SharedRing = Rc<RefCell<ring::ChunkRing>>;

/// Marks externals made by `pushHandle()`, so `chunkRingPush` never trusts a foreign external.
const PUSH_HANDLE_TAG: sys::napi_type_tag =
    sys::napi_type_tag { lower: 0x6169_7277_6176_6572, upper: 0x7269_6e67_7075_7368 };

/// Fields per entry in [`RingEntries::entries`]: sequence, timestamp, start, end.
const ENTRY_FIELDS: usize = 4;

/// Entries packed into one array of numbers and one copy of their bytes, so reading a hundred entries
/// costs a few N-API values rather than several per entry. Entry `i`'s bytes are
/// `data[start, end)`.
#[napi(object)]
pub struct RingEntries {
    pub count: u32,
    pub entries: Float64Array,
    pub data: Uint8Array,
}

fn pack_entries<'r>(entries: impl ExactSizeIterator<Item = ring::Entry<'r>>) -> RingEntries {
    let count = entries.len();
    let mut packed = Vec::with_capacity(count * ENTRY_FIELDS);
    let mut data = Vec::new();
    for entry in entries {
        let start = data.len();
        data.extend_from_slice(entry.data);
        packed.extend_from_slice(&[entry.sequence as f64, entry.timestamp, start as f64, data.len() as f64]);
    }
    RingEntries { count: count as u32, entries: packed.into(), data: data.into() }
}

/// Bounded ring of live chunks: push evicts the oldest; readAfter serves SSE resume.
#[napi]
pub struct ChunkRing {
    inner: SharedRing,
}

#[napi]
impl ChunkRing {
    /// Holds at most `capacity` chunks and `maxBytes` bytes; the first chunk gets `firstSequence`
    /// (default 1).
    #[napi(constructor)]
    pub fn new(capacity: u32, max_bytes: f64, first_sequence: Option<f64>) -> napi::Result<Self, ErrorCode> {
        guard(|| {
            let max_bytes = safe_integer(max_bytes, "maxBytes")?;
            let max_bytes =
                usize::try_from(max_bytes).map_err(|_| invalid_argument("maxBytes is too large"))?;
            let first_sequence = safe_integer(first_sequence.unwrap_or(1.0), "firstSequence")?;
            let ring = ring::ChunkRing::new(capacity as usize, max_bytes, first_sequence)?;
            Ok(Self { inner: Rc::new(RefCell::new(ring)) })
        })
    }

    /// A handle to pass to `chunkRingPush`; it keeps the ring's storage alive on its own.
    #[napi]
    pub fn push_handle<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>, ErrorCode> {
        let shared = Rc::into_raw(Rc::clone(&self.inner)) as *mut c_void;
        let mut handle = null_mut();
        let created = unsafe {
            sys::napi_create_external(env.raw(), shared, Some(release_push_handle), null_mut(), &mut handle)
        };
        if created != sys::Status::napi_ok {
            unsafe { release_push_handle(env.raw(), shared, null_mut()) };
            return Err(crate::js_error(ErrorCode::Internal, "could not create the push handle"));
        }
        if unsafe { sys::napi_type_tag_object(env.raw(), handle, &PUSH_HANDLE_TAG) } != sys::Status::napi_ok {
            return Err(crate::js_error(ErrorCode::Internal, "could not tag the push handle"));
        }
        Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), handle) })
    }

    /// Entries newer than `sequence`, oldest first, at most `limit` of them.
    #[napi]
    pub fn read_after(&self, sequence: f64, limit: Option<u32>) -> napi::Result<RingEntries, ErrorCode> {
        let limit = limit.map_or(usize::MAX, |n| n as usize);
        // A negative sequence means "from the start"; it is not an error.
        if sequence < 0.0 {
            return Ok(pack_entries(self.inner.borrow().latest(usize::MAX).take(limit)));
        }
        let sequence = guard(|| safe_integer(sequence, "sequence"))?;
        Ok(pack_entries(self.inner.borrow().read_after(sequence).take(limit)))
    }

    /// The newest `count` entries, oldest first.
    #[napi]
    pub fn latest(&self, count: u32) -> RingEntries {
        pack_entries(self.inner.borrow().latest(count as usize))
    }

    #[napi(getter)]
    pub fn length(&self) -> u32 {
        self.inner.borrow().len() as u32
    }

    #[napi(getter)]
    pub fn total_bytes(&self) -> f64 {
        self.inner.borrow().total_bytes() as f64
    }

    #[napi(getter)]
    pub fn capacity(&self) -> u32 {
        self.inner.borrow().capacity() as u32
    }

    #[napi(getter)]
    pub fn max_bytes(&self) -> f64 {
        self.inner.borrow().byte_budget() as f64
    }

    #[napi(getter)]
    pub fn oldest_sequence(&self) -> Option<f64> {
        self.inner.borrow().oldest_sequence().map(|s| s as f64)
    }

    #[napi(getter)]
    pub fn newest_sequence(&self) -> Option<f64> {
        self.inner.borrow().newest_sequence().map(|s| s as f64)
    }

    #[napi(getter)]
    pub fn next_sequence(&self) -> f64 {
        self.inner.borrow().next_sequence() as f64
    }
}

unsafe extern "C" fn release_push_handle(_env: sys::napi_env, shared: *mut c_void, _hint: *mut c_void) {
    drop(unsafe { Rc::from_raw(shared as *const RefCell<ring::ChunkRing>) });
}

/// Adds `chunkRingPush(handle, data, timestamp): number` to the module's exports.
#[napi(module_exports)]
pub fn register_chunk_ring_push(exports: Object, env: Env) -> napi::Result<()> {
    let name = c"chunkRingPush";
    let mut function = null_mut();
    let status = unsafe {
        sys::napi_create_function(
            env.raw(),
            name.as_ptr(),
            name.count_bytes() as isize,
            Some(chunk_ring_push),
            null_mut(),
            &mut function,
        )
    };
    napi::check_status!(status, "could not create chunkRingPush")?;
    let status = unsafe { sys::napi_set_named_property(env.raw(), exports.raw(), name.as_ptr(), function) };
    napi::check_status!(status, "could not export chunkRingPush")
}

/// `chunkRingPush(handle, data, timestamp)`: copies `data` into the ring and returns its sequence.
unsafe extern "C" fn chunk_ring_push(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let outcome = catch_unwind(AssertUnwindSafe(|| unsafe { push_from_js(env, info) }));
    let error = match outcome {
        Ok(Ok(sequence)) => return sequence,
        Ok(Err(error)) => error,
        Err(_) => Error::new(ErrorCode::Internal, "the native addon panicked; the call was abandoned"),
    };
    let code = CString::new(error.code.as_str()).unwrap_or_default();
    let message = CString::new(error.message.replace('\0', " ")).unwrap_or_default();
    unsafe { sys::napi_throw_error(env, code.as_ptr(), message.as_ptr()) };
    null_mut()
}

fn napi_ok(status: sys::napi_status, what: &str) -> opus_core::Result<()> {
    if status == sys::Status::napi_ok { Ok(()) } else { Err(invalid_argument(what.to_string())) }
}

unsafe fn push_from_js(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> opus_core::Result<sys::napi_value> {
    let mut argc = 3;
    let mut argv = [null_mut(); 3];
    let status =
        unsafe { sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), null_mut(), null_mut()) };
    napi_ok(status, "chunkRingPush could not read its arguments")?;
    let [handle, data, timestamp] = argv;

    let mut is_push_handle = false;
    let status =
        unsafe { sys::napi_check_object_type_tag(env, handle, &PUSH_HANDLE_TAG, &mut is_push_handle) };
    napi_ok(status, "the first argument must be a ChunkRing push handle")?;
    if !is_push_handle {
        return Err(invalid_argument("the first argument must be a ChunkRing push handle"));
    }
    let mut shared = null_mut();
    napi_ok(unsafe { sys::napi_get_value_external(env, handle, &mut shared) }, "bad push handle")?;

    let mut kind = 0;
    let mut length = 0;
    let mut bytes = null_mut();
    let mut buffer = null_mut();
    let mut offset = 0;
    let status = unsafe {
        sys::napi_get_typedarray_info(env, data, &mut kind, &mut length, &mut bytes, &mut buffer, &mut offset)
    };
    if status != sys::Status::napi_ok || kind != sys::TypedarrayType::uint8_array {
        return Err(invalid_argument("data must be a Uint8Array"));
    }
    // `bytes` already points at the view's first element; an empty view may carry a null pointer.
    let data =
        if length == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(bytes as *const u8, length) } };

    let mut timestamp_value = 0.0;
    napi_ok(
        unsafe { sys::napi_get_value_double(env, timestamp, &mut timestamp_value) },
        "timestamp must be a number",
    )?;

    let ring = unsafe { &*(shared as *const RefCell<ring::ChunkRing>) };
    let sequence = ring
        .try_borrow_mut()
        .map_err(|_| Error::new(ErrorCode::InvalidState, "the ring is in use by another call"))?
        .push(data, timestamp_value)?;
    let mut result = null_mut();
    let status = unsafe { sys::napi_create_double(env, sequence as f64, &mut result) };
    if status != sys::Status::napi_ok {
        return Err(Error::new(ErrorCode::Internal, "could not return the sequence"));
    }
    Ok(result)
}
