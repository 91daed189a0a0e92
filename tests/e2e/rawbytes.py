#!/usr/bin/python3
"""Feeds the explorer bytes that tmux filters out (invalid UTF-8) through a
pty of its own, and checks that the editor refuses them and the explorer
still quits with 0.  usage: rawbytes.py SORTLENS MODEL"""
import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time

exe, model = sys.argv[1], sys.argv[2]
# an upper bound on each wait (an instrumented explorer is slower)
WAIT = float(os.environ.get("SORTLENS_E2E_WAIT", "30"))
pid, fd = pty.fork()
if pid == 0:
    env = dict(os.environ, TERM="xterm-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8")
    env.pop("NO_COLOR", None)
    os.execve(exe, [exe, "--model", model, "--list", "42 17 26 3 49 0 26 11 8 30"], env)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
seen = b""


def wait_for(text, limit=WAIT):
    global seen
    end = time.time() + limit
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
            if text in seen:
                return True
    print("never saw %r; last output: %r" % (text, seen[-400:]))
    return False


ok = wait_for(b"sorted")
os.write(fd, b"e\x15")                       # edit, Ctrl-U
ok = ok and wait_for(b"Enter apply")
seen = b""
os.write(fd, b"\xff")                        # never valid in UTF-8
ok = ok and wait_for(b"invalid UTF-8 is not allowed")
os.write(fd, b"\x15")                        # Ctrl-U clears; let that frame be drawn
time.sleep(0.3)
seen = b""
os.write(fd, b"\xc3(")                       # a sequence broken off, then '('
ok = ok and wait_for(b"'(' is not allowed")
os.write(fd, b"\x15")                        # Ctrl-U clears; let that frame be drawn
time.sleep(0.3)
seen = b""
os.write(fd, b"\xc3\xa9")                    # valid, but not a digit
ok = ok and wait_for(b"U+00E9 is not allowed")
os.write(fd, b"\x1b")                        # bare Esc leaves the editor
time.sleep(0.2)
os.write(fd, b"q")
end = time.time() + WAIT
status = None
while time.time() < end:
    try:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            os.read(fd, 65536)
    except OSError:
        pass
    wpid, st = os.waitpid(pid, os.WNOHANG)
    if wpid == pid:
        status = os.waitstatus_to_exitcode(st)
        break
if status != 0:
    print("exit status %r, expected 0" % status)
    ok = False
sys.exit(0 if ok else 1)
