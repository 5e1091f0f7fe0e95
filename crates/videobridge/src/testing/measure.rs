//! Measurements of this process from /proc (Linux): CPU time per thread,
//! resident memory, the load average; and latency percentiles.

use std::path::Path;

/// CPU time (user + system) of every thread whose name starts with
/// `prefix`, in seconds, by thread name. From `schedstat` (nanoseconds)
/// where the kernel has it, else `stat` (clock ticks of 1/100 s).
pub fn thread_cpu_seconds(prefix: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let dir = task.path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        let name = comm.trim().to_string();
        if !name.starts_with(prefix) {
            continue;
        }
        if let Some(cpu) = schedstat_seconds(&dir).or_else(|| stat_seconds(&dir)) {
            out.push((name, cpu));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn schedstat_seconds(dir: &Path) -> Option<f64> {
    let s = std::fs::read_to_string(dir.join("schedstat")).ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

fn stat_seconds(dir: &Path) -> Option<f64> {
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    // Fields after the parenthesised command name: utime, stime are the
    // 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The sum of [`thread_cpu_seconds`].
pub fn total_cpu_seconds(prefix: &str) -> f64 {
    thread_cpu_seconds(prefix).iter().map(|(_, s)| s).sum()
}

/// Resident set size of this process, in bytes.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The 1-minute load average.
pub fn load_average() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// The `p`th percentile (0..=100) of `sorted` (nearest rank).
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.0), Some(7));
    }

    #[test]
    fn this_thread_is_measured() {
        std::thread::Builder::new()
            .name("measure-probe".into())
            .spawn(|| {
                let t = std::time::Instant::now();
                while t.elapsed().as_millis() < 30 {}
                let cpu = thread_cpu_seconds("measure-probe");
                assert_eq!(cpu.len(), 1);
                assert!(cpu[0].1 > 0.0);
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(rss_bytes().unwrap() > 0);
        assert!(load_average().is_some());
    }
}
