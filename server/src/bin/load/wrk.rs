//! Reading wrk's report, and the server's peak memory.

/// The numbers we need from wrk's report.
pub struct WrkReport {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub p99_ms: f64,
}

impl WrkReport {
    pub fn parse(report: &str) -> Self {
        let mut r = WrkReport {
            requests: 0,
            errors: 0,
            seconds: 1.0,
            p99_ms: f64::NAN,
        };
        for line in report.lines().map(str::trim) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                // "12345 requests in 20.00s, 2.00MB read"
                [n, "requests", "in", t, ..] => {
                    r.requests = n.parse().unwrap_or(0);
                    r.seconds = duration_ms(t.trim_end_matches(',')) / 1000.0;
                }
                ["99%", t] => r.p99_ms = duration_ms(t),
                ["Non-2xx", "or", "3xx", "responses:", n] => r.errors += n.parse().unwrap_or(0),
                ["Socket", "errors:", rest @ ..] => {
                    // "connect 0, read 0, write 0, timeout 3"
                    r.errors += rest
                        .iter()
                        .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                        .sum::<u64>();
                }
                _ => {}
            }
        }
        if r.requests == 0 {
            eprintln!("wrk said:\n{report}");
        }
        r
    }

    /// Several wrk runs at once (one per instance) as one: requests and errors added, the
    /// longest duration, the worst p99.
    pub fn combine(reports: &[WrkReport]) -> Self {
        WrkReport {
            requests: reports.iter().map(|r| r.requests).sum(),
            errors: reports.iter().map(|r| r.errors).sum(),
            seconds: reports
                .iter()
                .map(|r| r.seconds)
                .fold(f64::MIN_POSITIVE, f64::max),
            p99_ms: reports.iter().map(|r| r.p99_ms).fold(f64::NAN, f64::max),
        }
    }
}

/// "850.00us", "12.05ms", "1.20s", "2.00m" in milliseconds.
fn duration_ms(t: &str) -> f64 {
    let (number, unit) = t.split_at(t.find(|c: char| c.is_alphabetic()).unwrap_or(t.len()));
    let n: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

pub fn peak_rss_mib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:").map_or(0, |kb| kb / 1024)
}

/// A figure of a process's `/proc/PID/status` (`VmHWM:`, `VmRSS:`), in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub fn reads_wrk_reports() {
        let report = "Running 20s test @ http://127.0.0.1:3000\n  2 threads and 8 connections\n\
            \x20 Latency Distribution\n     50%  640.00us\n     75%    1.02ms\n     90%    2.10ms\n     99%   12.05ms\n\
            \x20 240000 requests in 20.00s, 30.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n\
            \x20 Non-2xx or 3xx responses: 4\nRequests/sec:  12000.00\n";
        let r = WrkReport::parse(report);
        assert_eq!((r.requests, r.errors), (240_000, 7));
        assert_eq!(r.seconds, 20.0);
        assert_eq!(r.p99_ms, 12.05);
        assert_eq!(duration_ms("850.00us"), 0.85);
        assert_eq!(duration_ms("1.20s"), 1200.0);
    }
}
