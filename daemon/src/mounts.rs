//! Which file system a path lies on, read from the kernel's table of mounts: a notifications
//! log on a network file system can be written by daemons on several machines at once, which
//! the file lock of one machine does not see.

use std::path::{Path, PathBuf};

/// File systems that several machines mount at once (by their type in `/proc/self/mountinfo`).
const SHARED: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ceph",
    "glusterfs",
    "fuse.glusterfs",
    "fuse.sshfs",
    "fuse.s3fs",
    "fuse.cephfs",
    "9p",
    "afs",
    "lustre",
    "gfs2",
    "ocfs2",
    "beegfs",
    "gpfs",
];

/// The type of the network file system `path` would be written on (`nfs4`), or `None` for
/// a machine's own disk, and when the table of mounts cannot be read.
pub fn shared_file_system(path: &Path) -> Option<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let kind = file_system_in(&table, &existing_ancestor(path)?)?;
    SHARED.contains(&kind.as_str()).then_some(kind)
}

/// The nearest part of `path` that exists, with its links resolved: the file need not exist
/// yet, but its directory tells where it will be.
fn existing_ancestor(path: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(path).ok()?;
    absolute
        .ancestors()
        .find_map(|p| std::fs::canonicalize(p).ok())
}

/// The type of the file system of the deepest mount point that holds `path`, in a
/// `mountinfo` table (`36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw`).
fn file_system_in(table: &str, path: &Path) -> Option<String> {
    table
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let point = unescape(fields.get(4)?);
            let dash = fields.iter().position(|f| *f == "-")?;
            let kind = fields.get(dash + 1)?;
            path.starts_with(&point)
                .then(|| (point.components().count(), kind.to_string()))
        })
        // The last of equally deep mounts is the one on top.
        .fold(
            None,
            |deepest: Option<(usize, String)>, (depth, kind)| match deepest {
                Some((known, _)) if known > depth => deepest,
                _ => Some((depth, kind)),
            },
        )
        .map(|(_, kind)| kind)
}

/// A mount point as the table writes it: space, tab, newline and backslash as octal escapes.
fn unescape(field: &str) -> PathBuf {
    let mut out = Vec::with_capacity(field.len());
    let bytes = field.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                let value = digits.iter().fold(0u32, |n, d| n * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:40 / /srv/gedeeld rw,relatime shared:9 - nfs4 files.regio.example:/waakvlam rw,vers=4.2
31 30 8:2 / /srv/gedeeld/lokaal rw,relatime shared:10 - xfs /dev/sdb1 rw
32 22 0:41 / /mnt/met\\040spatie rw - cifs //nas/deel rw
";

    #[test]
    fn the_deepest_mount_that_holds_the_path_decides() {
        let kind = |p: &str| file_system_in(TABLE, Path::new(p));
        assert_eq!(
            kind("/var/lib/waakvlam/meldingen.jsonl").as_deref(),
            Some("ext4")
        );
        assert_eq!(
            kind("/srv/gedeeld/meldingen.jsonl").as_deref(),
            Some("nfs4")
        );
        assert_eq!(
            kind("/srv/gedeeld/lokaal/meldingen.jsonl").as_deref(),
            Some("xfs")
        );
        assert_eq!(
            kind("/srv/gedeeldx/meldingen.jsonl").as_deref(),
            Some("ext4")
        );
        assert_eq!(kind("/mnt/met spatie/m.jsonl").as_deref(), Some("cifs"));
    }

    #[test]
    fn this_machines_own_directory_is_not_shared() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            shared_file_system(&dir.path().join("nog/niet/er.jsonl")),
            None
        );
    }
}
