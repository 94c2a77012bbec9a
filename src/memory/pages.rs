//! Pages of the program's own files that only the start touched.
//!
//! A node's start runs code it will not run again for days: argument parsing, creating
//! the data dir, SQLite's schema and migrations, the first handshakes' setup. Those
//! pages of the binary and of the C libraries stay mapped into the process (its
//! `RssFile`) although nothing uses them; and the kernel maps 16 pages around each page
//! that faults in ("fault-around"), so a start touches most of a 3.5 MB text segment.
//! They are clean copies of files in the page cache, so unmapping them loses nothing:
//! [`drop_startup_pages`] tells the kernel (`madvise(MADV_DONTNEED)`) that the process no
//! longer needs them, and whatever code runs next maps its pages again from the page
//! cache, without reading the disk.
//!
//! Only mappings that existed before the first thread ([`StartMappings::read`]) are
//! touched: the executable and the libraries the loader mapped, which stay mapped for
//! the process's life, so the address ranges cannot have been reused by the time the
//! pages are dropped. And only read-only ones without a single anonymous page: a
//! private mapping's page that was ever written (the loader's relocations in RELRO
//! segments) is anonymous, and dropping it would bring back the file's unrelocated
//! bytes. Writable mappings (.data, .bss) are never touched.

/// A file-backed, read-only mapping present at start.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mapping {
    start: usize,
    end: usize,
    path: String,
}

/// The read-only file mappings of the process as the loader left them (read before any
/// thread exists).
#[derive(Debug, Clone, Default)]
pub struct StartMappings(Vec<Mapping>);

impl StartMappings {
    /// Reads `/proc/self/maps` (no page walk: cheap). Empty where there is none.
    pub fn read() -> StartMappings {
        let text = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        StartMappings(parse_maps(&text))
    }
}

/// One line of `/proc/self/maps` (or a mapping's header line in `smaps`): its range,
/// permissions and path (empty for anonymous mappings); `None` for any other line.
fn header(line: &str) -> Option<(Mapping, &str)> {
    let mut parts = line.split_whitespace();
    let (a, b) = parts.next()?.split_once('-')?;
    let perms = parts.next()?;
    if perms.len() != 4 {
        return None;
    }
    let start = usize::from_str_radix(a, 16).ok()?;
    let end = usize::from_str_radix(b, 16).ok()?;
    // offset, device, inode, then the path (absent for anonymous mappings).
    let path = parts.skip(3).collect::<Vec<_>>().join(" ");
    Some((Mapping { start, end, path }, perms))
}

/// A mapping this module may drop pages of: private, read-only, backed by a file.
fn candidate(m: &Mapping, perms: &str) -> bool {
    m.path.starts_with('/') && (perms == "r--p" || perms == "r-xp") && m.end > m.start
}

/// Parses `maps` into its candidate mappings.
fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(header)
        .filter(|(m, perms)| candidate(m, perms))
        .map(|(m, _)| m)
        .collect()
}

/// A mapping of `smaps` with its resident and anonymous KiB.
struct Resident {
    mapping: Mapping,
    candidate: bool,
    rss: u64,
    anon: Option<u64>,
}

/// Parses `smaps` into every mapping with its `Rss` and `Anonymous` fields.
fn parse_smaps(text: &str) -> Vec<Resident> {
    let kib = |v: &str| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok();
    let mut out: Vec<Resident> = Vec::new();
    for line in text.lines() {
        if let Some((mapping, perms)) = header(line) {
            let candidate = candidate(&mapping, perms);
            out.push(Resident {
                mapping,
                candidate,
                rss: 0,
                anon: None,
            });
        } else if let Some(last) = out.last_mut() {
            if let Some(v) = line.strip_prefix("Rss:") {
                last.rss = kib(v).unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("Anonymous:") {
                last.anon = kib(v);
            }
        }
    }
    out
}

/// Drops the resident pages of the start mappings that are still read-only and hold no
/// anonymous page; returns the KiB that were resident in them.
pub fn drop_startup_pages(start: &StartMappings) -> u64 {
    let text = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut dropped = 0;
    for r in parse_smaps(&text) {
        // An unknown anonymous count is treated as "some".
        if !r.candidate || r.anon != Some(0) || r.rss == 0 || !start.0.contains(&r.mapping) {
            continue;
        }
        if super::dont_need(r.mapping.start, r.mapping.end - r.mapping.start) {
            dropped += r.rss;
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0c0000000-55d0c0100000 r--p 00000000 fd:01 42 /usr/bin/purr
Rss:                 400 kB
Anonymous:             0 kB
55d0c0100000-55d0c0400000 r-xp 00100000 fd:01 42 /usr/bin/purr
Rss:                2000 kB
Anonymous:             0 kB
55d0c0400000-55d0c0410000 r--p 00400000 fd:01 42 /usr/bin/purr
Rss:                  64 kB
Anonymous:            64 kB
55d0c0410000-55d0c0412000 rw-p 00410000 fd:01 42 /usr/bin/purr
Rss:                   8 kB
Anonymous:             8 kB
7f0000000000-7f0000021000 rw-p 00000000 00:00 0
Rss:                 132 kB
Anonymous:           132 kB
7f0000100000-7f0000108000 rw-s 00000000 fd:01 77 /data/purr.db-shm
Rss:                  32 kB
Anonymous:             0 kB
";

    /// Only private read-only file mappings with no written (anonymous) page may lose
    /// their pages: not the RELRO segment the loader relocated, not .data, not the heap,
    /// not a shared mapping.
    #[test]
    fn only_clean_read_only_file_mappings_are_candidates() {
        let all = parse_smaps(SMAPS);
        assert_eq!(all.len(), 6);
        let droppable: Vec<_> = all
            .iter()
            .filter(|r| r.candidate && r.anon == Some(0))
            .map(|r| (r.mapping.start, r.rss))
            .collect();
        assert_eq!(droppable, [(0x55d0c0000000, 400), (0x55d0c0100000, 2000)]);
        // The start list (from `maps`) names the same read-only file mappings.
        let maps: String = SMAPS
            .lines()
            .filter(|l| header(l).is_some())
            .map(|l| format!("{l}\n"))
            .collect();
        let start = parse_maps(&maps);
        assert_eq!(start.len(), 3, "{start:?}");
        assert!(start.iter().all(|m| m.path == "/usr/bin/purr"));
    }

    /// On this process: the pages go, and the code in them runs again (from the page
    /// cache) after.
    #[cfg(target_os = "linux")]
    #[test]
    fn dropped_pages_of_this_test_binary_come_back_when_used() {
        let start = StartMappings::read();
        assert!(!start.0.is_empty());
        let dropped = drop_startup_pages(&start);
        assert!(dropped > 0, "nothing was resident to drop");
        // Code and read-only data of the binary still work.
        let text = format!("{:?}", parse_maps("00-10 r--p 0 0:0 0 /x\n"));
        assert!(text.contains("/x"));
    }
}
