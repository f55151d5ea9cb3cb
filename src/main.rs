//! The `clusterctl` binary: everything lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    // A bug must still be one readable line, never a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        // A panic message may quote an argument or a connection string:
        // never print one that could hold a password.
        let msg = if clusterctl::config::may_hold_secret(&msg) {
            "(message withheld: it may quote a connection string)".to_string()
        } else {
            msg
        };
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        clusterctl::cli::stderr_line(&format!(
            "error: internal error{at}: {msg} (this is a bug; please report it)"
        ));
    }));
    clusterctl::cli::main()
}
