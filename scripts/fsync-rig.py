#!/usr/bin/env python3
"""Shows that the loop-disk rig of tests/faults.rs cannot tell whether an application lost
writes when the device fails them: the kernel itself loses a write whose fsync succeeded.

The rig: an ext4 image (4 KiB blocks) on a loop device whose backing file is on a small
tmpfs, so that once the tmpfs is full, writes to blocks the image never held fail below the
file system. This program, with no SQLite and no Signet, appends 4 KiB records (after a
32-byte header, so each record ends in the next block, as SQLite's WAL frames do) to a file and
calls fsync after each one; it counts a record as acknowledged once its fsync returned 0. It
fills the tmpfs after 150 records and goes on until an fsync fails. Then it frees the tmpfs,
unmounts (dropping the page cache), runs e2fsck and mounts again, and reads the records back.

On Linux 6.18 here, every run: the first record written after the tmpfs filled up was
acknowledged (its fsync returned 0), yet its second block reads back as zeros (the kernel logs
"failed to convert unwritten extents to written extents -- potential data loss!"); only the
next fsync fails, with ENOSPC. With records aligned to blocks, the failure is reported on time.
docs/RELIABILITY.md ("Faults") says what this means for the tests.

Usage (root, a free loop device): python3 scripts/fsync-rig.py [WORK_DIR]
"""
import os
import subprocess
import sys
import tempfile

RECORD = 4096
# Records start after a 32-byte header, as frames do in SQLite's WAL: each one ends in the
# next block.
HEADER = 32


def sh(*args):
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()


def record(i):
    return (b"%08d" % i) * (RECORD // 8)


def main():
    work = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="fsync-rig-")
    backing, mount = os.path.join(work, "backing"), os.path.join(work, "mnt")
    os.makedirs(backing, exist_ok=True)
    os.makedirs(mount, exist_ok=True)
    image = os.path.join(backing, "ext4.img")
    sh("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", backing)
    device = None
    try:
        sh("truncate", "-s", "256M", image)
        sh("mkfs.ext4", "-q", "-F", "-b", "4096", "-J", "size=4", image)
        device = sh("losetup", "-f", "--show", image)
        sh("mount", device, mount)
        # Write the whole (smallest) journal once, so ext4's own commits still succeed.
        scratch = os.path.join(mount, "scratch")
        for _ in range(1200):
            fd = os.open(scratch, os.O_WRONLY | os.O_CREAT)
            os.write(fd, bytes(4096))
            os.fsync(fd)
            os.close(fd)
            os.remove(scratch)

        path = os.path.join(mount, "log")
        fd = os.open(path, os.O_RDWR | os.O_CREAT)
        acknowledged = []
        failed = None
        for i in range(4000):
            if i == 150:
                subprocess.run(["dd", "if=/dev/zero", f"of={backing}/filler", "bs=64k"],
                               capture_output=True)
            try:
                os.pwrite(fd, record(i), HEADER + i * RECORD)
                os.fsync(fd)
            except OSError as e:
                failed = (i, e)
                break
            acknowledged.append(i)
        os.close(fd)
        print(f"acknowledged {len(acknowledged)} records; record {failed[0]}: {failed[1]}")

        os.remove(os.path.join(backing, "filler"))
        sh("umount", mount)
        subprocess.run(["e2fsck", "-fy", image], capture_output=True)
        sh("mount", device, mount)
        with open(path, "rb") as f:
            data = f.read()
        lost = [
            i
            for i in acknowledged
            if data[HEADER + i * RECORD:HEADER + (i + 1) * RECORD] != record(i)
        ]
        print(f"acknowledged records not on the device: {lost}")
        sh("umount", mount)
        return 1 if lost else 0
    finally:
        subprocess.run(["umount", "-l", mount], capture_output=True)
        if device:
            subprocess.run(["losetup", "-d", device], capture_output=True)
        subprocess.run(["umount", "-l", backing], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
