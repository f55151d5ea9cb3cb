//! Who this process is, beyond its host name and PID (PID namespace and
//! start time), and whether another process provably died on this host.
//! One judgement for the two places that need it: the lease (a dead
//! holder is taken over at once) and the session cluster's temporary
//! replica (a killed run's leftover is dropped). Also this machine's boot
//! clock, which dates an audit intent written here (`model::BootClock`).
//! Linux /proc; elsewhere nothing is ever judged dead.

// Reads /proc on purpose (clippy.toml bans file access in the decision core).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use crate::model::BootClock;

/// The OS user running this process, for audit rows: `USER`, else
/// `LOGNAME`, else the name /etc/passwd gives this process's uid (a CronJob
/// or a container often sets neither variable), else `uid N`; `unknown`
/// only where not even the uid can be read.
pub fn os_user() -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if let Some(user) = var("USER").or_else(|| var("LOGNAME")) {
        return user;
    }
    let Some(uid) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| uid_of_status(&s))
    else {
        return "unknown".into();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| name_of_uid(&p, uid))
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// The real uid in /proc/PID/status's `Uid:` line.
fn uid_of_status(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
}

/// The user name /etc/passwd gives `uid`.
fn name_of_uid(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let entry_uid: u32 = f.nth(1)?.parse().ok()?;
        (entry_uid == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// What identifies a process beyond its host name and PID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub host: String,
    pub pid: u32,
    /// Inode of /proc/PID/ns/pid: two containers with the same host name
    /// have different ones.
    pub pid_ns: Option<u64>,
    /// Field 22 of /proc/PID/stat (clock ticks since boot): a reused PID
    /// has another.
    pub start: Option<u64>,
}

impl Identity {
    /// This process.
    pub fn current() -> Identity {
        let host = hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "unknown-host".into());
        let pid = std::process::id();
        Identity {
            host,
            pid,
            pid_ns: own_pid_namespace(),
            start: proc_stat(pid).map(|s| s.start),
        }
    }

    /// Why this process provably died on this host, or `None` when it may
    /// be alive (another host, another PID namespace, no identity beyond
    /// the PID, /proc unusable). A zombie counts as dead; a PID now held by
    /// a process started at another time is not this process.
    pub fn dead_here(&self) -> Option<&'static str> {
        let them = self;
        let me = Identity::current();
        if them.host != me.host || them.pid_ns.is_none() || them.pid_ns != me.pid_ns {
            return None;
        }
        // /proc must be this namespace's, or its PIDs mean nothing to us.
        if proc_stat(me.pid).map(|s| s.pid) != Some(me.pid) {
            return None;
        }
        if them.pid == me.pid && them.start == me.start {
            return None;
        }
        match proc_stat(them.pid) {
            // Not in /proc, yet there: /proc hides other users' processes
            // (hidepid=invisible, systemd's ProtectProc=invisible), and
            // the live holder's lease was taken as a dead one's.
            None if exists(them.pid) => None,
            None => Some("that process no longer exists"),
            Some(s) if matches!(s.state, 'Z' | 'X' | 'x') => Some("that process is a zombie"),
            Some(s) if them.start.is_some_and(|t| t != s.start) => {
                Some("its PID now belongs to another process")
            }
            Some(_) => None,
        }
    }
}

/// Whether a process of that PID exists, whoever owns it (`kill(pid, 0)`:
/// only "no such process" says no; "not permitted" means another user's).
fn exists(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(e) if e == rustix::io::Errno::SRCH
    )
}

fn own_pid_namespace() -> Option<u64> {
    let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let text = link.to_string_lossy();
    text.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

struct ProcStat {
    pid: u32,
    state: char,
    start: u64,
}

/// Reads /proc/PID/stat; `None` when there is no such process here.
fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything.
    let (head, rest) = text.rsplit_once(')')?;
    let own_pid = head.split_whitespace().next()?.parse().ok()?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        pid: own_pid,
        state: fields.first()?.chars().next()?,
        // Field 3 is fields[0], so field 22 is fields[19].
        start: fields.get(19)?.parse().ok()?,
    })
}

/// This machine's boot clock now ([`BootClock`]): the kernel's boot id
/// (`/proc/sys/kernel/random/boot_id`) and `CLOCK_BOOTTIME`, read from the
/// kernel itself (a container's `/proc/uptime` may be its own: lxcfs
/// gives each container the time since it started, so a new CronJob pod
/// would date every intent as just written). `None` off Linux.
#[cfg(target_os = "linux")]
pub fn boot_clock() -> Option<BootClock> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    BootClock::of(&id, t.tv_sec as f64 + t.tv_nsec as f64 / 1e9)
}

#[cfg(not(target_os = "linux"))]
pub fn boot_clock() -> Option<BootClock> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_clock_is_read_and_runs_forward() {
        let a = boot_clock().expect("Linux has a boot id and CLOCK_BOOTTIME");
        std::thread::sleep(std::time::Duration::from_millis(30));
        let b = boot_clock().expect("read again");
        let d = b.since(&a).expect("the same boot");
        assert!((0.029..10.0).contains(&d), "{d}");
        let other = BootClock {
            id: "another boot".into(),
            uptime_s: a.uptime_s,
        };
        assert_eq!(b.since(&other), None);
        assert_eq!(
            BootClock::of("8f3c\n", 12.5),
            Some(BootClock {
                id: "8f3c".into(),
                uptime_s: 12.5
            })
        );
        for (id, up) in [
            ("", 1.0),
            (" \n", 1.0),
            ("x", f64::NAN),
            ("x", -1.0),
            ("x", f64::INFINITY),
        ] {
            assert_eq!(BootClock::of(id, up), None, "{id:?} {up:?}");
        }
        assert_eq!(a.shifted(2.0).since(&a), Some(2.0));
    }

    #[test]
    fn a_process_exists_whoever_owns_it() {
        assert!(exists(std::process::id()));
        // PID 1 is there in every namespace, ours or not (as another
        // user's, kill(1, 0) is not permitted: it exists all the same).
        assert!(exists(1));
        assert!(!exists(u32::MAX), "no such PID");
        assert!(!exists(0x3fff_fff0), "above any pid_max");
    }

    #[test]
    fn the_user_is_found_by_uid_when_no_variable_names_it() {
        let status = "Name:\tclusterctl\nUmask:\t0022\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\n";
        assert_eq!(uid_of_status(status), Some(1000));
        assert_eq!(uid_of_status("Name:\tx\n"), None);
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      # a comment\n\
                      broken\n\
                      ops:x:1000:1000::/home/ops:/bin/sh\n";
        assert_eq!(name_of_uid(passwd, 1000).as_deref(), Some("ops"));
        assert_eq!(name_of_uid(passwd, 0).as_deref(), Some("root"));
        assert_eq!(name_of_uid(passwd, 1000680000), None);
    }
}
