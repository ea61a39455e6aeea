//! Dumps on a signal, as Java and Go dump their threads on `SIGQUIT`:
//! with `ASYNC_INSPECT_DUMP_SIGNAL=SIGUSR1` (or `USR1`, `SIGUSR2`,
//! `SIGQUIT`, a number), `kill -USR1 PID` writes the full report, futures
//! decoded, to stderr, or appends it to the file `ASYNC_INSPECT_DUMP_TO`
//! names. Also when every worker of the program is blocked: the signal
//! handler only writes a byte to a pipe; a plain thread (`async-inspect-dump`),
//! asleep on that pipe until then, takes the snapshot and writes.

use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The pipe's write end, for the signal handler (-1 before it exists).
static PIPE: AtomicI32 = AtomicI32::new(-1);

/// The signal `ASYNC_INSPECT_DUMP_SIGNAL` names, or why it names none.
fn parse_signal(text: &str) -> Result<libc::c_int, String> {
    let name = text.trim().to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    match name {
        "USR1" => Ok(libc::SIGUSR1),
        "USR2" => Ok(libc::SIGUSR2),
        "QUIT" => Ok(libc::SIGQUIT),
        "HUP" => Ok(libc::SIGHUP),
        number => match number.parse::<libc::c_int>() {
            Ok(n) if (1..=64).contains(&n) && n != libc::SIGKILL && n != libc::SIGSTOP => Ok(n),
            _ => Err(format!(
                "ASYNC_INSPECT_DUMP_SIGNAL={text:?} is not a signal async-inspect can take \
                 (SIGUSR1, SIGUSR2, SIGQUIT, SIGHUP or a number)"
            )),
        },
    }
}

/// Installs the handler if the environment asks for one; says on stderr,
/// once, why not when it cannot.
pub(crate) fn start_if_asked() {
    let Ok(text) = std::env::var("ASYNC_INSPECT_DUMP_SIGNAL") else {
        return;
    };
    if let Err(why) = parse_signal(&text).and_then(install) {
        eprintln!("async-inspect: no dumps on a signal: {why}");
    }
}

fn install(signal: libc::c_int) -> Result<(), String> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is an array of two descriptors for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(format!("no pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 just returned these two open descriptors; each is
    // owned once (the write end by the handler's static, for ever).
    let read = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    PIPE.store(fds[1], Ordering::Relaxed);
    let read_end = std::fs::File::from(read);
    std::thread::Builder::new()
        .name("async-inspect-dump".into())
        .spawn(move || serve(read_end))
        .map_err(|e| format!("no thread: {e}"))?;
    // SAFETY: a zeroed sigaction with a handler that only calls write(2)
    // (async-signal-safe) and an empty mask is valid to install.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
            return Err(format!("sigaction: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// The signal handler: one byte down the pipe (a full pipe means a dump
/// is already asked for).
extern "C" fn on_signal(_: libc::c_int) {
    let fd = PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; `fd` is the pipe's open
        // write end, and one byte from a static buffer is written.
        let _ = unsafe { libc::write(fd, b"!".as_ptr().cast(), 1) };
    }
}

/// Sleeps on the pipe; writes a report for each wake.
fn serve(pipe: std::fs::File) {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let mut byte = [0_u8; 64];
    loop {
        // Block until a byte comes (the descriptor is non-blocking for the
        // handler's side; poll(2) waits here).
        let mut wait = libc::pollfd {
            fd: pipe.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no timeout.
        let ready = unsafe { libc::poll(&mut wait, 1, -1) };
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        // Several signals close together make one dump.
        while matches!((&pipe).read(&mut byte), Ok(n) if n > 0) {}
        write_dump();
    }
}

fn write_dump() {
    let snapshot = crate::state_machines::snapshot();
    let text = format!("async-inspect: dump on signal\n{snapshot}\n");
    match std::env::var_os("ASYNC_INSPECT_DUMP_TO").filter(|p| !p.is_empty()) {
        Some(path) => {
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut file| file.write_all(text.as_bytes()));
            if let Err(e) = written {
                eprintln!(
                    "async-inspect: cannot write the dump to {}: {e}",
                    std::path::Path::new(&path).display()
                );
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
            }
        }
        None => {
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_signal;

    #[test]
    fn signals_are_named_as_kill_names_them() {
        assert_eq!(parse_signal("SIGUSR1"), Ok(libc::SIGUSR1));
        assert_eq!(parse_signal("usr2"), Ok(libc::SIGUSR2));
        assert_eq!(parse_signal("3"), Ok(3));
        assert!(parse_signal("SIGKILL").is_err());
        assert!(parse_signal("9").is_err());
        assert!(
            parse_signal("often")
                .unwrap_err()
                .contains("ASYNC_INSPECT_DUMP_SIGNAL")
        );
    }
}
