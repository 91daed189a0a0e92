#!/usr/bin/python3
"""Runs the explorer on a pty that is not its controlling terminal (a new
session, no TIOCSCTTY), then closes the pty's master: no SIGHUP comes, and
every read of the terminal fails at once.  The explorer must leave with
status 1 and say why, not spin at 100% CPU (issue 19.12).
usage: termgone.py SORTLENS MODEL"""
import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time

exe, model = sys.argv[1], sys.argv[2]
WAIT = float(os.environ.get("SORTLENS_E2E_WAIT", "30"))
master, slave = os.openpty()
fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
env = dict(os.environ, TERM="xterm-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8")
env.pop("NO_COLOR", None)
err_path = "termgone.stderr.%d" % os.getpid()
with open(err_path, "wb") as err:
    # start_new_session: setsid() in the child, so the pty never becomes its
    # controlling terminal and closing the master sends no SIGHUP
    child = subprocess.Popen([exe, "--model", model, "--list", "42 17 26 3 49 0 26 11 8 30"],
                             stdin=slave, stdout=slave, stderr=err, env=env, start_new_session=True)
os.close(slave)
seen, ok, end = b"", False, time.time() + WAIT
while time.time() < end and not ok:
    r, _, _ = select.select([master], [], [], 0.05)
    if r:
        try:
            seen += os.read(master, 65536)
        except OSError:
            break
        ok = b"sorted" in seen
if not ok:
    child.kill()
    print("the explorer never drew its first screen; last output: %r" % seen[-300:])
    sys.exit(1)
os.close(master)   # the terminal vanishes
t0 = time.time()
try:
    status = child.wait(timeout=WAIT)
except subprocess.TimeoutExpired:
    cpu = "?"
    try:
        with open("/proc/%d/stat" % child.pid) as f:
            fields = f.read().split(")")[-1].split()
            cpu = "%.1f s" % ((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    except OSError:
        pass
    child.kill()
    child.wait()
    print("the explorer kept running %.0f s after its terminal went away (CPU %s)" % (WAIT, cpu))
    os.unlink(err_path)
    sys.exit(1)
with open(err_path, "rb") as f:
    message = f.read()
os.unlink(err_path)
print("left %.2f s after the terminal went away, status %d: %r" % (time.time() - t0, status, message.strip()))
if status != 1 or b"the terminal went away" not in message:
    print("expected status 1 and 'the terminal went away'")
    sys.exit(1)
sys.exit(0)
