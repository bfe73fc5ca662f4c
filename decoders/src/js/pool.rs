//! The pool: worker threads, each owning one QuickJS runtime, fed from one queue.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::engine::Engine;
use super::{JsCodec, JsInput, JsLimits};
use crate::{DecodeError, Reading};

/// Receives the result of one frame, on the worker's thread.
pub type Reply = Box<dyn FnOnce(Result<Vec<Reading>, DecodeError>) + Send>;

struct Job {
    codec: Arc<JsCodec>,
    input: JsInput,
    reply: Reply,
}

/// A pool of sandboxed JS runtimes on dedicated threads. Dropping it lets the workers
/// finish the queued frames, then joins them.
pub struct JsPool {
    tx: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
    limits: JsLimits,
}

impl JsPool {
    /// Starts `limits.threads` workers (at least one).
    pub fn start(limits: JsLimits) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::new();
        for i in 0..limits.threads.max(1) {
            let rx = Arc::clone(&rx);
            let handle = std::thread::Builder::new().name(format!("roc42-js-{i}")).spawn(move || work(&rx, limits))?;
            workers.push(handle);
        }
        Ok(Self { tx: Some(tx), workers, limits })
    }

    pub fn limits(&self) -> JsLimits {
        self.limits
    }

    /// Queues one frame; `reply` gets the result on a worker thread. The queue is not
    /// bounded here: callers bound the frames they have in flight.
    pub fn submit(&self, codec: Arc<JsCodec>, input: JsInput, reply: Reply) {
        let job = Job { codec, input, reply };
        let unsent = match &self.tx {
            Some(tx) => tx.send(job).err().map(|e| e.0),
            None => Some(job),
        };
        if let Some(job) = unsent {
            (job.reply)(Err(DecodeError::Codec("the JS runtime pool has stopped".into())));
        }
    }

    /// Decodes one frame and waits for the result (command line, tests, benchmarks).
    pub fn decode_blocking(&self, codec: Arc<JsCodec>, input: JsInput) -> Result<Vec<Reading>, DecodeError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(
            codec,
            input,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv().unwrap_or_else(|_| Err(DecodeError::Codec("a JS worker stopped without answering".into())))
    }
}

impl Drop for JsPool {
    fn drop(&mut self) {
        self.tx = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn work(rx: &Mutex<Receiver<Job>>, limits: JsLimits) {
    let mut runner = JsRunner::new(limits);
    loop {
        let job = {
            let Ok(rx) = rx.lock() else { return };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let result = runner.decode(&job.codec, &job.input);
        (job.reply)(result);
    }
}

/// One sandboxed runtime on the current thread (not `Send`): what each pool worker runs,
/// usable alone where a pool is not wanted (benchmarks, one-off checks).
pub struct JsRunner {
    engine: Option<Engine>,
    limits: JsLimits,
}

impl JsRunner {
    /// The runtime is created on first use.
    pub fn new(limits: JsLimits) -> Self {
        Self { engine: None, limits }
    }

    /// Decodes one frame with `codec` (compiled on first use, and again if its source
    /// changed).
    pub fn decode(&mut self, codec: &JsCodec, input: &JsInput) -> Result<Vec<Reading>, DecodeError> {
        let mut engine = match self.engine.take() {
            Some(e) => e,
            None => Engine::new(self.limits)?,
        };
        let (result, rebuild) = engine.decode(codec, input);
        // A runtime that ran out of memory is dropped here, with every codec compiled in
        // it, and rebuilt for the next frame.
        if !rebuild {
            self.engine = Some(engine);
        }
        result
    }
}
