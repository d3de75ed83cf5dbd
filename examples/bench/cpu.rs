// SPDX-License-Identifier: MPL-2.0
//! How much CPU other work took while a case ran: the machine's busy time
//! (/proc/stat) less this process's and its waited-for children's
//! (/proc/self/stat: utime, stime, cutime, cstime). On a shared machine
//! this says whether a measurement ran alone; the load average before a
//! case does not (it still counts the previous case).

use std::time::Instant;

/// Clock ticks a second of /proc/stat and /proc/self/stat (USER_HZ).
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

/// Busy ticks of all CPUs: every field of the `cpu` line but idle and iowait.
fn machine_busy() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().next() else {
        return 0;
    };
    let v: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest is in user)
    v.iter().take(8).sum::<u64>() - v.get(3).unwrap_or(&0) - v.get(4).unwrap_or(&0)
}

/// utime + stime + cutime + cstime of this process.
fn ours() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which ends with the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace()
        .skip(11) // state is field 3; utime is field 14
        .take(4)
        .map(|f| f.parse::<i64>().unwrap_or(0).max(0) as u64)
        .sum()
}

/// A point to measure others' CPU from.
pub struct Mark {
    machine: u64,
    ours: u64,
    at: Instant,
}

impl Mark {
    pub fn now() -> Self {
        Mark {
            machine: machine_busy(),
            ours: ours(),
            at: Instant::now(),
        }
    }

    /// Cores that other processes kept busy on average since the mark
    /// (call after the case's children were waited for).
    pub fn others(&self) -> f64 {
        let machine = machine_busy().saturating_sub(self.machine);
        let ours = ours().saturating_sub(self.ours);
        let secs = self.at.elapsed().as_secs_f64().max(1e-3);
        machine.saturating_sub(ours) as f64 / ticks_per_second() / secs
    }
}
