//! Decoding a program's futures from outside it: its debuginfo from
//! `/proc/PID/exe`, its memory read through the kernel
//! (`process_vm_readv`), so the program never holds debuginfo for a
//! client. Where the kernel will not let this user read another process
//! (Yama's `ptrace_scope` 1, Ubuntu's default, allows it only for the
//! program's ancestors: `async-inspect run` is one, `attach` is not), the
//! bytes come from the program's agent instead, over a connection of
//! their own. `ASYNC_INSPECT_READ_MEMORY=agent` asks for that path always.
//! Each snapshot the CLI receives gets its idle tasks' state machines
//! before any view shows it.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use async_inspect_debuginfo::{Budget, LoadBias, Memory, ProcessMemory, Program, Unreadable};
use async_inspect_model::Snapshot;
use async_inspect_model::wire::{
    MAX_READ, MAX_READS, PROTOCOL, Reply, Request, read_frame, write_frame,
};

/// How long one read through the agent may take.
const PATIENCE: Duration = Duration::from_secs(5);

/// The debuginfo and memory of one process, opened at its first snapshot
/// with a future to decode.
#[derive(Debug)]
pub struct Decoder {
    pid: u32,
    socket: PathBuf,
    opened: OnceLock<Result<Opened, String>>,
}

struct Opened {
    program: Program,
    bias: LoadBias,
    memory: Box<dyn Memory + Send + Sync>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("program", &self.program)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// The decoder of process `pid`, whose agent listens on `socket`
    /// (nothing is opened yet).
    pub fn of(pid: u32, socket: &Path) -> Self {
        Self {
            pid,
            socket: socket.to_path_buf(),
            opened: OnceLock::new(),
        }
    }

    /// Fills in the state machines of `snapshot`'s idle tasks, or says in
    /// it why they cannot be decoded.
    pub fn decode(&self, snapshot: &mut Snapshot) {
        let Some(probe) = snapshot.tasks().iter().find_map(|t| t.future) else {
            return;
        };
        let opened = self.opened.get_or_init(|| self.open(probe.guard[0]));
        match opened {
            Ok(opened) => opened.program.decode_snapshot(
                snapshot,
                &*opened.memory,
                opened.bias,
                &Budget::default(),
            ),
            Err(why) => snapshot.set_state_machines_note(Some(why.clone())),
        }
    }

    /// The program, its bias, and a way to read its memory: the kernel's
    /// if it lets this user read a word at `probe`, else the agent's.
    fn open(&self, probe: u64) -> Result<Opened, String> {
        let pid = self.pid;
        let program = Program::open(format!("/proc/{pid}/exe")).map_err(|e| e.to_string())?;
        let bias = program.bias_for_pid(pid).map_err(|e| e.to_string())?;
        let kernel = ProcessMemory::of(pid);
        let forced = std::env::var("ASYNC_INSPECT_READ_MEMORY").is_ok_and(|v| v == "agent");
        let memory: Box<dyn Memory + Send + Sync> =
            if !forced && kernel.read(probe, &mut [0; 8]).is_ok() {
                Box::new(kernel)
            } else {
                Box::new(AgentMemory::connect(&self.socket).map_err(|e| {
                format!(
                    "cannot read process {pid}'s memory (the kernel refused, and its agent: {e})"
                )
            })?)
            };
        Ok(Opened {
            program,
            bias,
            memory,
        })
    }
}

/// The program's memory as its agent reads it for us.
#[derive(Debug)]
struct AgentMemory {
    stream: Mutex<UnixStream>,
}

impl AgentMemory {
    fn connect(socket: &Path) -> Result<Self, String> {
        let mut stream = UnixStream::connect(socket).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(PATIENCE))
            .and_then(|()| stream.set_write_timeout(Some(PATIENCE)))
            .map_err(|e| e.to_string())?;
        let hello = Request::Hello {
            protocol: PROTOCOL,
            client: format!("async-inspect {} (memory)", env!("CARGO_PKG_VERSION")),
        };
        write_frame(&mut stream, &hello).map_err(|e| e.to_string())?;
        match read_frame::<_, Reply>(&mut stream).map_err(|e| e.to_string())? {
            Reply::Welcome(_) => Ok(Self {
                stream: Mutex::new(stream),
            }),
            Reply::Refused { reason } => Err(reason),
            other => Err(format!("it answered the handshake with {other:?}")),
        }
    }
}

impl AgentMemory {
    /// Sends `request` and reads the reply, on the connection's lock.
    fn ask(&self, request: &Request) -> Option<Reply> {
        let mut stream = self.stream.lock().unwrap_or_else(|e| e.into_inner());
        write_frame(&mut *stream, request).ok()?;
        read_frame::<_, Reply>(&mut *stream).ok()
    }
}

impl Memory for AgentMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Unreadable> {
        let len = buf.len();
        let unreadable = || Unreadable { addr, len };
        for (i, chunk) in buf.chunks_mut(MAX_READ as usize).enumerate() {
            let address = addr + (i * MAX_READ as usize) as u64;
            let request = Request::ReadMemory {
                address,
                len: chunk.len() as u32,
            };
            match self.ask(&request) {
                Some(Reply::Memory { bytes }) if bytes.len() == chunk.len() => {
                    chunk.copy_from_slice(&bytes);
                }
                _ => return Err(unreadable()),
            }
        }
        Ok(())
    }

    /// As many reads as fit in one [`Request::ReadMemoryMany`] go in one
    /// round trip; a read too big for one goes alone. A batch the agent
    /// does not answer as asked is read again one by one.
    fn read_each(&self, reads: &mut [(u64, &mut [u8])]) -> Vec<Result<(), Unreadable>> {
        let mut results = Vec::with_capacity(reads.len());
        while results.len() < reads.len() {
            let rest = &mut reads[results.len()..];
            let mut total = 0usize;
            let count = rest
                .iter()
                .take(MAX_READS)
                .take_while(|(_, buf)| {
                    total += buf.len();
                    total <= MAX_READ as usize
                })
                .count();
            if count == 0 {
                let (addr, buf) = &mut rest[0];
                results.push(self.read(*addr, buf));
                continue;
            }
            let batch = &mut rest[..count];
            let request = Request::ReadMemoryMany {
                reads: batch
                    .iter()
                    .map(|(addr, buf)| (*addr, buf.len() as u32))
                    .collect(),
            };
            match self.ask(&request) {
                Some(Reply::MemoryMany { reads: answers }) if answers.len() == count => {
                    for ((addr, buf), answer) in batch.iter_mut().zip(answers) {
                        results.push(match answer {
                            Some(bytes) if bytes.len() == buf.len() => {
                                buf.copy_from_slice(&bytes);
                                Ok(())
                            }
                            _ => Err(Unreadable {
                                addr: *addr,
                                len: buf.len(),
                            }),
                        });
                    }
                }
                _ => results.extend(batch.iter_mut().map(|(addr, buf)| self.read(*addr, buf))),
            }
        }
        results
    }
}
