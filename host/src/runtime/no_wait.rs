//! WASI calls that would make the host wait, replaced by ones that never do.
//!
//! wasmtime-wasi's synchronous bindings run their blocking calls (a
//! `println!`'s `blocking-write-and-flush`, dropping a stream, `poll`) by
//! entering a Tokio runtime. Plugins are called from inside the engine's
//! runtime, where that panics; and a plugin that sleeps would hold a host
//! thread outside the reach of the CPU deadline, which only counts guest code.
//! So, on top of the standard bindings:
//! - writes to the only streams a plugin has (its stdout and stderr, which go
//!   nowhere) complete at once, as do reads of its empty stdin;
//! - dropping a stream just frees it;
//! - waiting (`poll`, `pollable.block`, `pollable.ready`) traps with
//!   [`WaitRefused`]: a plugin translates data, it has nothing to wait for;
//! - creating a UDP socket is refused at once, as creating a TCP socket
//!   already is. Every other blocking call needs a descriptor or a socket,
//!   which a plugin cannot get (no preopened directories, no sockets).

use super::sandbox::Sandbox;
use wasmtime::component::{Linker, LinkerInstance, Resource, ResourceType};
use wasmtime::{Result, StoreContextMut};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::bindings::sync::io::streams::StreamError as WitStreamError;
use wasmtime_wasi::p2::bindings::sync::sockets::network::{ErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, StreamError, UdpSocket};

/// The `wasi:io` version the sandbox's bindings are registered under (any
/// 0.2.x import resolves to it).
const WASI_IO: &str = "0.2.12";
/// The same for `wasi:sockets`.
const WASI_SOCKETS: &str = "0.2.12";

/// Most bytes one blocking write may carry; the contract's own limit for a
/// stream write.
const MAX_BLOCKING_WRITE: usize = 4096;

/// Raised when a plugin tries to wait (sleep, poll); found again with
/// `downcast_ref` to give the call a precise error.
#[derive(Debug, thiserror::Error)]
#[error("the plugin tried to wait ({call}); plugins may not sleep or poll")]
pub(crate) struct WaitRefused {
    pub call: &'static str,
}

/// Replace every waiting `wasi:io` function, and UDP socket creation, in
/// `linker` (which already holds the standard synchronous bindings).
pub(crate) fn install(linker: &mut Linker<Sandbox>) -> Result<()> {
    linker.allow_shadowing(true);
    streams(&mut linker.instance(&format!("wasi:io/streams@{WASI_IO}"))?)?;
    poll(&mut linker.instance(&format!("wasi:io/poll@{WASI_IO}"))?)?;
    udp(&mut linker.instance(&format!("wasi:sockets/udp-create-socket@{WASI_SOCKETS}"))?)?;
    linker.allow_shadowing(false);
    Ok(())
}

type Outcome = Result<(Result<(), WitStreamError>,)>;

/// Map a host stream error to what the guest sees (or a trap).
fn outcome(store: &mut StoreContextMut<'_, Sandbox>, result: Result<(), StreamError>) -> Outcome {
    match result {
        Ok(()) => Ok((Ok(()),)),
        Err(StreamError::Closed) => Ok((Err(WitStreamError::Closed),)),
        Err(StreamError::LastOperationFailed(e)) => {
            let error = store.data_mut().ctx().table.push(e)?;
            Ok((Err(WitStreamError::LastOperationFailed(error)),))
        }
        Err(StreamError::Trap(e)) => Err(e),
    }
}

/// Write and flush without waiting: the stream must take the bytes now.
fn write_now(store: &mut StoreContextMut<'_, Sandbox>, stream: &Resource<DynOutputStream>, bytes: &[u8]) -> Outcome {
    if bytes.len() > MAX_BLOCKING_WRITE {
        return Err(wasmtime::format_err!("a blocking write of {} bytes (at most {MAX_BLOCKING_WRITE})", bytes.len()));
    }
    let stream = store.data_mut().ctx().table.get_mut(stream)?;
    let result = (|| {
        if !bytes.is_empty() {
            if stream.check_write()? < bytes.len() {
                // Only a full stream could refuse; the sandbox's never are.
                return Err(StreamError::Trap(WaitRefused { call: "a write to a full stream" }.into()));
            }
            stream.write(bytes::Bytes::copy_from_slice(bytes))?;
        }
        stream.flush()
    })();
    outcome(store, result)
}

fn streams(i: &mut LinkerInstance<'_, Sandbox>) -> Result<()> {
    i.resource("output-stream", ResourceType::host::<DynOutputStream>(), |mut store, rep| {
        store.data_mut().ctx().table.delete(Resource::<DynOutputStream>::new_own(rep))?;
        Ok(())
    })?;
    i.resource("input-stream", ResourceType::host::<DynInputStream>(), |mut store, rep| {
        store.data_mut().ctx().table.delete(Resource::<DynInputStream>::new_own(rep))?;
        Ok(())
    })?;
    i.func_wrap(
        "[method]output-stream.blocking-write-and-flush",
        |mut store, (stream, bytes): (Resource<DynOutputStream>, Vec<u8>)| write_now(&mut store, &stream, &bytes),
    )?;
    i.func_wrap(
        "[method]output-stream.blocking-write-zeroes-and-flush",
        |mut store, (stream, len): (Resource<DynOutputStream>, u64)| {
            let zeroes = vec![0; usize::try_from(len).unwrap_or(usize::MAX).min(MAX_BLOCKING_WRITE + 1)];
            write_now(&mut store, &stream, &zeroes)
        },
    )?;
    i.func_wrap("[method]output-stream.blocking-flush", |mut store, (stream,): (Resource<DynOutputStream>,)| {
        write_now(&mut store, &stream, &[])
    })?;
    i.func_wrap(
        "[method]output-stream.blocking-splice",
        |_, _: (Resource<DynOutputStream>, Resource<DynInputStream>, u64)| -> Result<(Result<u64, WitStreamError>,)> {
            Err(WaitRefused { call: "output-stream.blocking-splice" }.into())
        },
    )?;
    i.func_wrap(
        "[method]input-stream.blocking-read",
        |mut store, (stream, len): (Resource<DynInputStream>, u64)| -> Result<(Result<Vec<u8>, WitStreamError>,)> {
            let size = usize::try_from(len).unwrap_or(usize::MAX).min(MAX_BLOCKING_WRITE);
            let read = store.data_mut().ctx().table.get_mut(&stream)?.read(size);
            match read {
                Ok(bytes) => Ok((Ok(bytes.to_vec()),)),
                Err(e) => outcome(&mut store, Err(e)).map(|(r,)| (r.map(|()| Vec::new()),)),
            }
        },
    )?;
    i.func_wrap(
        "[method]input-stream.blocking-skip",
        |mut store, (stream, len): (Resource<DynInputStream>, u64)| -> Result<(Result<u64, WitStreamError>,)> {
            let size = usize::try_from(len).unwrap_or(usize::MAX);
            let skipped = store.data_mut().ctx().table.get_mut(&stream)?.skip(size);
            match skipped {
                Ok(n) => Ok((Ok(n as u64),)),
                Err(e) => outcome(&mut store, Err(e)).map(|(r,)| (r.map(|()| 0),)),
            }
        },
    )?;
    Ok(())
}

fn poll(i: &mut LinkerInstance<'_, Sandbox>) -> Result<()> {
    i.func_wrap("poll", |_, _: (Vec<Resource<wasmtime_wasi::p2::DynPollable>>,)| -> Result<(Vec<u32>,)> {
        Err(WaitRefused { call: "wasi:io/poll.poll" }.into())
    })?;
    i.func_wrap("[method]pollable.block", |_, _: (Resource<wasmtime_wasi::p2::DynPollable>,)| -> Result<()> {
        Err(WaitRefused { call: "pollable.block, e.g. a sleep" }.into())
    })?;
    i.func_wrap("[method]pollable.ready", |_, _: (Resource<wasmtime_wasi::p2::DynPollable>,)| -> Result<(bool,)> {
        Err(WaitRefused { call: "pollable.ready" }.into())
    })?;
    Ok(())
}

fn udp(i: &mut LinkerInstance<'_, Sandbox>) -> Result<()> {
    i.func_wrap(
        "create-udp-socket",
        |_, _: (IpAddressFamily,)| -> Result<(Result<Resource<UdpSocket>, ErrorCode>,)> {
            Ok((Err(ErrorCode::AccessDenied),))
        },
    )?;
    Ok(())
}
