//! One worker's QuickJS runtime, its compiled codecs and the limits around each call.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use rquickjs::context::EvalOptions;
use rquickjs::{Context, Ctx, Function, Object, Runtime, Value};

use super::output::{self, CodecOutput};
use super::{JsCodec, JsInput, JsLimits};
use crate::{DecodeError, Reading};

/// A compiled codec: its own context (globals), kept while its source is unchanged.
struct Loaded {
    fingerprint: u64,
    /// The context, or why the codec does not load (kept, so a broken codec is not
    /// recompiled for every frame).
    ctx: Result<Context, DecodeError>,
}

/// Why a call failed, as seen from inside the runtime.
enum Failure {
    Decode(DecodeError),
    /// The runtime ran out of memory; it is rebuilt before the next call.
    OutOfMemory,
}

pub(super) struct Engine {
    // Field order is drop order: contexts go before their runtime.
    codecs: HashMap<String, Loaded>,
    runtime: Runtime,
    deadline: Rc<Cell<Option<Instant>>>,
    limits: JsLimits,
}

impl Engine {
    pub(super) fn new(limits: JsLimits) -> Result<Self, DecodeError> {
        let runtime = Runtime::new().map_err(|e| DecodeError::Codec(format!("cannot create a JS runtime: {e}")))?;
        runtime.set_memory_limit(limits.memory_bytes);
        runtime.set_max_stack_size(limits.stack_bytes);
        let deadline: Rc<Cell<Option<Instant>>> = Rc::default();
        let d = Rc::clone(&deadline);
        runtime.set_interrupt_handler(Some(Box::new(move || d.get().is_some_and(|t| Instant::now() >= t))));
        Ok(Self { codecs: HashMap::new(), runtime, deadline, limits })
    }

    /// Decodes one frame. Returns whether the runtime must be rebuilt (it ran out of
    /// memory) alongside the result.
    pub(super) fn decode(&mut self, codec: &JsCodec, input: &JsInput) -> (Result<Vec<Reading>, DecodeError>, bool) {
        match self.run(codec, input) {
            Ok(out) => (output::readings(codec, &out, input.recv_time_ms), false),
            Err(Failure::Decode(e)) => (Err(e), false),
            Err(Failure::OutOfMemory) => (Err(DecodeError::CodecMemory(self.limits.memory_bytes)), true),
        }
    }

    fn run(&mut self, codec: &JsCodec, input: &JsInput) -> Result<CodecOutput, Failure> {
        let stale = self.codecs.get(codec.name()).is_none_or(|l| l.fingerprint != codec.fingerprint);
        if stale {
            let loaded = self.load(codec)?;
            self.codecs.insert(codec.name().to_owned(), loaded);
        }
        let ctx = match self.codecs.get(codec.name()).map(|l| &l.ctx) {
            Some(Ok(ctx)) => ctx.clone(),
            Some(Err(e)) => return Err(Failure::Decode(e.clone())),
            None => return Err(Failure::Decode(DecodeError::Codec("codec vanished from the cache".into()))),
        };
        let deadline = Instant::now() + self.limits.time;
        self.deadline.set(Some(deadline));
        let result = ctx.with(|ctx| call(&ctx, input));
        self.deadline.set(None);
        let late = Instant::now() >= deadline;
        result.map_err(|e| self.classify(&e, late))
    }

    fn load(&self, codec: &JsCodec) -> Result<Loaded, Failure> {
        let fingerprint = codec.fingerprint;
        let ctx = match Context::full(&self.runtime) {
            Ok(ctx) => ctx,
            Err(rquickjs::Error::Allocation) => return Err(Failure::OutOfMemory),
            Err(e) => return Err(Failure::Decode(DecodeError::Codec(format!("cannot create a JS context: {e}")))),
        };
        let deadline = Instant::now() + self.limits.time;
        self.deadline.set(Some(deadline));
        let evaluated = ctx.with(|ctx| -> Result<(), Thrown> {
            // Sloppy-mode global script, as TTN and ChirpStack run codecs (vendor codecs
            // often assign undeclared variables).
            let mut options = EvalOptions::default();
            options.strict = false;
            options.global = true;
            options.filename = Some(codec.name().to_owned());
            ctx.eval_with_options::<(), _>(codec.source().as_bytes().to_vec(), options).map_err(|e| thrown(&ctx, e))?;
            let f: Value = ctx.globals().get("decodeUplink").map_err(|e| thrown(&ctx, e))?;
            if f.is_function() {
                Ok(())
            } else {
                Err(Thrown::Message("the codec defines no decodeUplink function".into()))
            }
        });
        self.deadline.set(None);
        let late = Instant::now() >= deadline;
        match evaluated {
            Ok(()) => Ok(Loaded { fingerprint, ctx: Ok(ctx) }),
            Err(e) => match self.classify(&e, late) {
                Failure::OutOfMemory => Err(Failure::OutOfMemory),
                Failure::Decode(d) => {
                    let d = match d {
                        DecodeError::Codec(m) => DecodeError::Codec(format!("codec does not load: {m}")),
                        other => other,
                    };
                    Ok(Loaded { fingerprint, ctx: Err(d) })
                }
            },
        }
    }

    /// `late`: the call ended past its deadline, so QuickJS interrupted it.
    fn classify(&self, e: &Thrown, late: bool) -> Failure {
        match e {
            _ if late => Failure::Decode(DecodeError::CodecTimeout(self.limits.time)),
            Thrown::OutOfMemory => Failure::OutOfMemory,
            Thrown::Nothing(_) if self.near_memory_limit() => Failure::OutOfMemory,
            Thrown::Nothing(what) => Failure::Decode(DecodeError::Codec(format!("threw {what}"))),
            Thrown::Message(m) if m.contains("out of memory") => Failure::OutOfMemory,
            Thrown::Message(m) if m.contains("interrupted") => {
                Failure::Decode(DecodeError::CodecTimeout(self.limits.time))
            }
            Thrown::Message(m) => Failure::Decode(DecodeError::Codec(m.clone())),
        }
    }
}

impl Engine {
    /// Whether the runtime has allocated nearly all it may (within 64 KiB).
    fn near_memory_limit(&self) -> bool {
        let used = usize::try_from(self.runtime.memory_usage().malloc_size).unwrap_or(0);
        used.saturating_add(64 << 10) >= self.limits.memory_bytes
    }
}

/// An error out of the runtime, reduced to what we report.
enum Thrown {
    OutOfMemory,
    /// The exception is `null` or `undefined`.
    Nothing(&'static str),
    Message(String),
}

fn thrown(ctx: &Ctx<'_>, e: rquickjs::Error) -> Thrown {
    match e {
        rquickjs::Error::Allocation => Thrown::OutOfMemory,
        rquickjs::Error::Exception => {
            let v = ctx.catch();
            if let Some(ex) = v.as_exception() {
                Thrown::Message(ex.message().unwrap_or_else(|| "exception without a message".into()))
            } else if v.is_null() || v.is_undefined() {
                // `throw null`, or QuickJS out of memory so far it could not even build
                // the exception: the engine tells them apart by the memory in use.
                Thrown::Nothing(if v.is_null() { "null" } else { "undefined" })
            } else {
                let text = ctx.json_stringify(v).ok().flatten().and_then(|s| s.to_string().ok());
                Thrown::Message(format!("threw {}", text.unwrap_or_else(|| "a value".into())))
            }
        }
        other => Thrown::Message(other.to_string()),
    }
}

/// Calls `decodeUplink` (then `normalizeUplink`, if defined and decoding succeeded) and
/// brings the results out as JSON.
fn call(ctx: &Ctx<'_>, input: &JsInput) -> Result<CodecOutput, Thrown> {
    let js = |e| thrown(ctx, e);
    let globals = ctx.globals();
    let decode: Function = globals.get("decodeUplink").map_err(js)?;
    let arg = Object::new(ctx.clone()).map_err(js)?;
    arg.set("bytes", input.bytes.clone()).map_err(js)?;
    arg.set("fPort", input.f_port).map_err(js)?;
    let date: rquickjs::function::Constructor = globals.get("Date").map_err(js)?;
    // Milliseconds fit f64 exactly for any date a radio can send.
    #[allow(clippy::cast_precision_loss)]
    let recv: Value = date.construct((input.recv_time_ms as f64,)).map_err(js)?;
    arg.set("recvTime", recv).map_err(js)?;
    let decoded: Value = decode.call((arg,)).map_err(js)?;
    let decoded_json = stringify(ctx, decoded.clone())?;
    let normalize: Value = globals.get("normalizeUplink").map_err(js)?;
    let mut normalized_json = None;
    if normalize.is_function() && output::decoded_ok(&decoded_json) {
        if let Some(f) = normalize.as_function() {
            let data: Value = match decoded.as_object() {
                Some(o) => o.get("data").map_err(js)?,
                None => Value::new_undefined(ctx.clone()),
            };
            let arg = Object::new(ctx.clone()).map_err(js)?;
            arg.set("data", data).map_err(js)?;
            let normalized: Value = f.call((arg,)).map_err(js)?;
            normalized_json = Some(stringify(ctx, normalized)?);
        }
    }
    Ok(CodecOutput { decoded: decoded_json, normalized: normalized_json })
}

fn stringify<'js>(ctx: &Ctx<'js>, v: Value<'js>) -> Result<serde_json::Value, Thrown> {
    let text = match ctx.json_stringify(v).map_err(|e| thrown(ctx, e))? {
        Some(s) => s.to_string().map_err(|e| thrown(ctx, e))?,
        None => return Ok(serde_json::Value::Null),
    };
    serde_json::from_str(&text).map_err(|e| Thrown::Message(format!("codec output is not JSON: {e}")))
}
